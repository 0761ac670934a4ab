"""ImageExampleGen: labelled image files -> tf.Examples, every rejected file accounted for.

  component.py      the TFX component and its IngestReport artifact
  executor.py       the Beam pipeline (thin): list, check, write, reconcile
  listing.py        finds the files of a dataset (folder per species, or the Kaggle CSV index)
  image_check.py    reads and checks one file: written as is, re-encoded, or rejected and why
  ingest_report.py  the report's files (summary.json, rejected.csv, ...), written and read
"""
