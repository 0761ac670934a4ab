"""schema/curated.py: a schema written for any species list parses as a TFDV schema and reads
back the same species."""
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from schema import curated, features


def test_written_schema_parses_and_reads_back_odd_names(tmp_path):
    species = ['Black-capped "Chickadee"', "Pájaro Ñandú", "back\\slash", "Crow"]
    text = curated.schema_text(species, "a test", "Made by a test.")
    schema = schema_pb2.Schema()
    text_format.Parse(text, schema)
    domains = {d.name: list(d.value) for d in schema.string_domain}
    assert domains[features.LABEL_KEY] == species
    assert domains[features.FREQUENCY_GROUP_KEY] == list(features.GROUPS)
    path = tmp_path / "s.pbtxt"
    path.write_text(text, encoding="utf-8")
    assert curated.read_species(str(path)) == species
    assert text.startswith("# Curated schema for a test.\n")


def test_no_species_is_an_error():
    with pytest.raises(ValueError, match="at least one species"):
        curated.schema_text([], "nothing")


def test_read_species_names_a_broken_or_incomplete_schema(tmp_path):
    broken = tmp_path / "broken.pbtxt"
    broken.write_text("feature { name: ")
    with pytest.raises(ValueError, match="is not a valid schema"):
        curated.read_species(str(broken))
    no_domain = tmp_path / "no_domain.pbtxt"
    no_domain.write_text('feature { name: "image" type: BYTES }\n')
    with pytest.raises(ValueError, match="has no 'species' domain"):
        curated.read_species(str(no_domain))


def test_unknown_species_sorted():
    assert curated.unknown_species({"b", "a", "c"}, ["c"]) == ["a", "b"]
