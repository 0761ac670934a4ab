"""The curated schema (schema.pbtxt) written from the contract and a list of species, and read
back: `rarespecies schema` writes one for the user's own species, a run checks its species
against it before ingestion, and the repository's own schema.pbtxt is this module's output for
the paper's 20 species. Text only (tensorflow_metadata's proto parses it), no TensorFlow."""
import textwrap
from typing import Iterable, List, Sequence

from schema import features
from schema.paths import filesystem

HEADER = """\
# Curated schema for {what}.
# Loaded by ImportSchemaGen; ExampleValidator checks every split against it, and a run stops
# before training on any difference.
{origin}# Review before you rely on it:
#   - the "species" domain: every species the model may learn, spelled exactly as its folder (or
#     CSV label). A species in the data but not here stops the run; one here but not in the data
#     is allowed (the vocabulary comes from the train split);
#   - nothing else needs editing: the features and the frequency groups are the pipeline's.
"""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def schema_text(species: Sequence[str], what: str, origin: str = "") -> str:
    """The schema.pbtxt text for `species` (in the given order). `what` and `origin` go into the
    comment header (what the schema is for; how it was made)."""
    if not species:
        raise ValueError("a schema needs at least one species")
    max_groups = len(features.BOTTOM_K) + len(features.TOP_K) + 1  # a species' groups at most
    origin = "".join(f"# {line}\n" for line in textwrap.wrap(origin, 94))
    lines = [HEADER.format(what=what, origin=origin).rstrip()]
    lines += [
        "feature {", f'  name: "{features.IMAGE_KEY}"', "  type: BYTES",
        "  # The encoded file as read from disk (JPEG, PNG, GIF, BMP).", "  image_domain { }",
        "  presence { min_fraction: 1.0 min_count: 1 }", "  shape { dim { size: 1 } }", "}",
        "feature {", f'  name: "{features.LABEL_KEY}"', "  type: BYTES",
        f'  domain: "{features.LABEL_KEY}"', "  presence { min_fraction: 1.0 min_count: 1 }",
        "  shape { dim { size: 1 } }", "}",
        "feature {", f'  name: "{features.FREQUENCY_GROUP_KEY}"', "  type: BYTES",
        f'  domain: "{features.FREQUENCY_GROUP_KEY}"',
        "  # Every group the species belongs to (they overlap); computed from the train split.",
        "  presence { min_fraction: 1.0 min_count: 1 }",
        f"  value_count {{ min: 1 max: {max_groups} }}", "}",
        "feature {", f'  name: "{features.FILENAME_KEY}"', "  type: BYTES",
        "  presence { min_fraction: 1.0 min_count: 1 }", "  shape { dim { size: 1 } }", "}",
        "string_domain {", f'  name: "{features.LABEL_KEY}"',
        *[f"  value: {_quote(name)}" for name in species], "}",
        "string_domain {", f'  name: "{features.FREQUENCY_GROUP_KEY}"',
        *[f'  value: "{group}"' for group in features.GROUPS], "}",
    ]
    return "\n".join(lines) + "\n"


def read_species(schema_path: str) -> List[str]:
    """The species domain of a schema file (a ValueError names what is wrong with it)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    schema = schema_pb2.Schema()
    with filesystem(schema_path).open(schema_path, "r") as handle:
        try:
            text_format.Parse(handle.read(), schema)
        except text_format.ParseError as err:
            raise ValueError(f"schema file {schema_path!r} is not a valid schema: {err}") from None
    for domain in schema.string_domain:
        if domain.name == features.LABEL_KEY:
            return list(domain.value)
    raise ValueError(f"schema file {schema_path!r} has no {features.LABEL_KEY!r} domain")


def unknown_species(species: Iterable[str], known: Iterable[str]) -> List[str]:
    """The species of the data that the schema does not list, sorted."""
    return sorted(set(species) - set(known))
