"""A dataset and its schema: write a curated schema from a dataset's species (`rarespecies
schema`, `--schema infer`), and check a dataset's species against a schema before ingestion, so
that a run on other species stops in seconds with the command that fixes it, not after
ingestion, statistics and validation."""
import os
import shlex
from typing import Dict, List, Optional, Set

from schema import curated
from schema.errors import UserError
from schema.features import TRAIN
from schema.paths import shown

INFER = "infer"  # --schema infer: write the dataset's schema next to the run's outputs, use it


class SpeciesNotInSchema(UserError):
    pass


def species_by_split(data_root: str, csv_index: Optional[str] = None) -> Dict[str, Set[str]]:
    """{split: species with at least one listed file}, from the file listing (reads no image)."""
    from components.image_example_gen import listing
    found: Dict[str, Set[str]] = {}
    for image_file in listing.list_dataset(data_root, csv_index or None):
        found.setdefault(image_file.split, set()).add(image_file.species)
    return found


def dataset_schema_text(data_root: str, csv_index: Optional[str] = None) -> str:
    """The curated schema of the species in the dataset's train split."""
    species = sorted(species_by_split(data_root, csv_index).get(TRAIN, set()))
    source = f"{data_root} ({'CSV index ' + csv_index if csv_index else 'train/ folders'})"
    return curated.schema_text(species, f"the {len(species)} species of {source}",
                               "Made by `rarespecies schema` from the species that have train "
                               "images.")


def write_dataset_schema(data_root: str, output: str, csv_index: Optional[str] = None) -> int:
    """Writes the dataset's schema to `output`; returns the number of species."""
    text = dataset_schema_text(data_root, csv_index)
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    return len(curated.read_species(output))


def inferred_schema_path(output_dir: str, pipeline_name: str) -> str:
    return os.path.join(output_dir, "schemas", pipeline_name, "schema.pbtxt")


def check_species(data_root: str, schema_path: str, csv_index: Optional[str] = None) -> None:
    """SpeciesNotInSchema, listing them and the command that writes a schema for the data,
    when the dataset has species that the schema does not list."""
    by_split = species_by_split(data_root, csv_index)
    in_data = set().union(*by_split.values()) if by_split else set()
    unknown = curated.unknown_species(in_data, curated.read_species(schema_path))
    if not unknown:
        return
    train = by_split.get(TRAIN, set())
    no_train = [s for s in unknown if s not in train]
    suggested = os.path.basename(os.path.normpath(data_root)) + "_schema.pbtxt"
    root, schema_shown = shown(data_root), shown(schema_path)
    command = ["rarespecies", "schema", "--data-root", root]
    if csv_index:
        command += ["--csv-index", csv_index]
    command += ["--output", suggested]
    lines: List[str] = [
        f"{len(unknown)} species of {root} are not in the schema {schema_shown}: "
        + ", ".join(unknown) + ".",
        "Write a schema for this dataset, review it, and pass it to the run:",
        f"  {shlex.join(command)}",
        f"  rarespecies run --data-root {shlex.quote(root)} --schema "
        f"{shlex.quote(suggested)} ...",
        "(or run once with --schema infer, which writes that schema next to the run's outputs)",
    ]
    if no_train:
        lines.append(f"Note: {', '.join(no_train)} have no train images, so no schema makes them "
                     "learnable: add train images or remove them from the other splits.")
    raise SpeciesNotInSchema("\n".join(lines))
