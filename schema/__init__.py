"""The data contract (`schema.features`, `schema.images`) and the curated schema (`schema.pbtxt`).

Plain Python, no TensorFlow: the CLI, the reports and the serving client import it cheaply.
"""
