"""Facts from the seed paper (Goldsworthy & Matam): Table I's counts and Table II's results.

Used by the demo-data generator, the Kaggle subset tool and the reports; never by training
(the Trainer reads counts from the pipeline's own artifacts).
"""
from schema.features import PAPER_GROUPS

# Table I: training images per species, most common first.
TABLE_I_TRAIN_COUNTS = {
    "Sora": 248,
    "House Finch": 207,
    "Wood Duck": 179,
    "Northern Parula": 164,
    "Shoebill": 148,
    "Glossy Ibis": 148,
    "Common Poorwill": 136,
    "Peacock": 132,
    "Ostrich": 106,
    "Palila": 103,
    "Snowy Owl": 89,
    "Puffin": 70,
    "Black Skimmer": 29,
    "Javan Magpie": 15,
    "Carmine Bee-Eater": 11,
    "Razorbill": 8,
    "Quetzal": 6,
    "Crow": 6,
    "Robin": 4,
    "Araripe Manakin": 2,
}
PAPER_SPECIES = tuple(TABLE_I_TRAIN_COUNTS)
PAPER_TEST_IMAGES = 677  # 20-60 a species

# Table II columns: (label, loss, alpha, gamma); accuracy in %, F1 macro (the paper's formula).
TABLE_II_COLUMNS = (
    ("CE", "cross_entropy", None, None),
    ("a.25 g1", "sigmoid_focal", 0.25, 1.0),
    ("a.25 g2", "sigmoid_focal", 0.25, 2.0),
    ("a.25 g5", "sigmoid_focal", 0.25, 5.0),
    ("a.5 g.5", "sigmoid_focal", 0.5, 0.5),
    ("a.5 g1", "sigmoid_focal", 0.5, 1.0),
)
# Rows: the paper's species groups (bottom_2, bottom_5, bottom_10, top_5, top_10), F1, total.
TABLE_II_ROWS = PAPER_GROUPS + ("f1", "accuracy")
TABLE_II = dict(zip(TABLE_II_ROWS, (
    (13.46, 34.48, 23.18, 42.03, 50.00, 50.93),
    (42.39, 51.13, 56.63, 54.02, 20.00, 58.04),
    (62.70, 63.65, 68.03, 68.80, 10.00, 73.48),
    (95.14, 88.70, 91.24, 92.28, 0.00, 92.85),
    (95.41, 92.56, 95.25, 93.12, 0.00, 93.48),
    (0.78, 0.80, 0.83, 0.82, 0.00, 0.84),
    (81.68, 80.50, 84.19, 82.87, 3.40, 84.64),
)))
