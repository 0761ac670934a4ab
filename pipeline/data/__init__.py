"""Datasets: the paper's facts (paper.py), the synthetic demo data (demo_data.py) and the paper's
subset of Kaggle's bird dataset (paper_subset.py)."""
