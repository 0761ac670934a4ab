"""pipeline/dataset_schema.py: a schema written from a dataset's train species, and a dataset
checked against a schema before ingestion (user errors, with the command that fixes them)."""
import pytest

from pipeline import dataset_schema
from schema import curated
from schema.errors import UserError
from schema.features import SCHEMA_PATH
from schema.paths import shown
from tests.support.ingest import JPEG, write, write_csv


def make_dataset(root, train, test):
    for split, species in (("train", train), ("test", test)):
        for name in species:
            write(root, f"{split}/{name}/a.jpg", JPEG)
    return str(root)


def test_schema_of_a_dataset_lists_its_train_species(tmp_path):
    root = make_dataset(tmp_path / "data", ["Okapi", "Aye-aye", "Dhole"], ["Okapi", "Dhole"])
    output = tmp_path / "out" / "okapi.pbtxt"
    assert dataset_schema.write_dataset_schema(root, str(output)) == 3
    assert curated.read_species(str(output)) == ["Aye-aye", "Dhole", "Okapi"]
    assert "3 species of" in output.read_text()


def test_schema_of_a_csv_index(tmp_path):
    write(tmp_path, "img/1.jpg", JPEG)
    write(tmp_path, "img/2.jpg", JPEG)
    write_csv(str(tmp_path / "index.csv"), [(0, "img/1.jpg", "KAKAPO", "train", "x"),
                                            (1, "img/2.jpg", "TAKAHE", "test", "y")])
    output = tmp_path / "s.pbtxt"
    assert dataset_schema.write_dataset_schema(str(tmp_path), str(output), "index.csv") == 1
    assert curated.read_species(str(output)) == ["KAKAPO"]


def test_species_outside_the_schema_are_a_user_error_with_the_command(tmp_path):
    root = make_dataset(tmp_path / "kiwis", ["Kiwi", "Robin"], ["Kiwi", "Robin", "Weka"])
    with pytest.raises(dataset_schema.SpeciesNotInSchema) as info:
        dataset_schema.check_species(root, SCHEMA_PATH)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert message.startswith(f"2 species of {root} are not in the schema {shown(SCHEMA_PATH)}: "
                              "Kiwi, Weka.")
    assert f"rarespecies schema --data-root {root} --output kiwis_schema.pbtxt" in message
    assert "--schema kiwis_schema.pbtxt" in message and "--schema infer" in message
    assert "Weka have no train images" in message


def test_a_dataset_within_the_schema_passes(tmp_path):
    root = make_dataset(tmp_path / "data", ["Robin", "Crow"], ["Robin"])
    dataset_schema.check_species(root, SCHEMA_PATH)  # both are paper species


def test_inferred_schema_goes_next_to_the_run_outputs():
    assert dataset_schema.inferred_schema_path("/o", "p") == "/o/schemas/p/schema.pbtxt"
