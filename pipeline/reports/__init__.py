"""Reports of runs and sweeps, each module one job:

  mlmd.py           what a run produced, from ML Metadata (newest LIVE artifacts, lineage)
  metrics_table.py  the Evaluator's output as plain numbers per slice (TFMA's own loader)
  rows.py           the rows every report shows, their units and formatting
  gather.py         ReportData: everything a run's report needs, gathered in one place
  tables.py         Markdown, CSV and terminal tables
  figures.py        the PNG figures
  model_card.py     the model card
  report.py         writes a run's report (all of the above) into its folder
  table2.py         the sweep's Table II over seeds, beside the paper's figures
"""
