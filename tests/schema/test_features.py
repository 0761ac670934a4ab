"""schema/features.py: frequency groups from train counts, and the curated schema agreeing with
the contract."""
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline.data.paper import PAPER_SPECIES, TABLE_I_TRAIN_COUNTS
from schema import curated, features
from schema.features import frequency_groups


def members(groups, name):
    return {species for species, gs in groups.items() if name in gs}


def test_frequency_groups_on_table_i():
    groups = frequency_groups(TABLE_I_TRAIN_COUNTS)
    assert set(groups) == set(TABLE_I_TRAIN_COUNTS)
    assert members(groups, "bottom_2") == {"Araripe Manakin", "Robin"}
    # Crow and Quetzal tie at 6: both are in bottom_5 either way, with Razorbill (8).
    assert members(groups, "bottom_5") == {"Araripe Manakin", "Robin", "Crow", "Quetzal",
                                           "Razorbill"}
    assert members(groups, "bottom_10") == {
        "Araripe Manakin", "Robin", "Crow", "Quetzal", "Razorbill", "Carmine Bee-Eater",
        "Javan Magpie", "Black Skimmer", "Puffin", "Snowy Owl"}
    # Shoebill and Glossy Ibis tie at 148; ascending rank with ties by name puts Glossy Ibis
    # first (lower rank), so Shoebill is in the top 5 and Glossy Ibis is not.
    assert members(groups, "top_5") == {"Sora", "House Finch", "Wood Duck", "Northern Parula",
                                        "Shoebill"}
    assert members(groups, "top_10") == {
        "Sora", "House Finch", "Wood Duck", "Northern Parula", "Shoebill", "Glossy Ibis",
        "Common Poorwill", "Peacock", "Ostrich", "Palila"}
    assert members(groups, "many") == {s for s, n in TABLE_I_TRAIN_COUNTS.items() if n > 100}
    assert members(groups, "medium") == {"Snowy Owl", "Puffin", "Black Skimmer"}
    assert members(groups, "few") == {"Javan Magpie", "Carmine Bee-Eater", "Razorbill",
                                      "Quetzal", "Crow", "Robin", "Araripe Manakin"}
    # Exactly one long-tail group each; the paper's groups overlap.
    for species, gs in groups.items():
        assert sum(g in ("many", "medium", "few") for g in gs) == 1, species
    assert groups["Araripe Manakin"] == ["bottom_2", "bottom_5", "bottom_10", "few"]
    assert groups["Sora"] == ["top_5", "top_10", "many"]
    assert groups["Glossy Ibis"] == ["top_10", "many"]


def test_frequency_groups_tie_broken_by_name_not_insertion_order():
    forward = frequency_groups({"Zebra": 5, "Aardvark": 5, "Yak": 1})
    backward = frequency_groups({"Aardvark": 5, "Yak": 1, "Zebra": 5})
    assert forward == backward
    # Ranked ascending: Yak (1), Aardvark (5), Zebra (5).
    assert members(forward, "bottom_2") == {"Yak", "Aardvark"}


@pytest.mark.parametrize("count, group", [(101, "many"), (100, "medium"), (20, "medium"),
                                          (19, "few"), (1, "few")])
def test_long_tail_boundaries(count, group):
    groups = frequency_groups({"A": count, "B": 50})
    assert [g for g in groups["A"] if g in ("many", "medium", "few")] == [group]


def test_frequency_groups_with_fewer_species_than_k():
    groups = frequency_groups({"A": 1, "B": 2, "C": 3})
    assert groups["A"] == ["bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "few"]
    assert groups["C"] == ["bottom_5", "bottom_10", "top_5", "top_10", "few"]
    assert frequency_groups({}) == {}


def test_the_repository_schema_is_the_writers_output_for_the_papers_species():
    what = "the paper's 20 species (the demo data and the Kaggle subset)"
    origin = ("Written by schema/curated.py for the paper's species list. For your own species, "
              "run `rarespecies schema --data-root YOUR_DATA --output my_schema.pbtxt` and pass "
              "--schema my_schema.pbtxt (README, \"Your own species\").")
    with open(features.SCHEMA_PATH) as handle:
        assert handle.read() == curated.schema_text(PAPER_SPECIES, what, origin)


def test_curated_schema_matches_the_contract():
    schema = schema_pb2.Schema()
    with open(features.SCHEMA_PATH) as handle:
        text_format.Parse(handle.read(), schema)
    assert [f.name for f in schema.feature] == list(features.RAW_FEATURES)
    domains = {d.name: list(d.value) for d in schema.string_domain}
    assert domains[features.FREQUENCY_GROUP_KEY] == list(features.GROUPS)
    assert domains[features.LABEL_KEY] == list(TABLE_I_TRAIN_COUNTS)
