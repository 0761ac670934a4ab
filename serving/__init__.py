"""Serving for the pushed rarespecies model over the TF Serving REST protocol.

- `server`: a Starlette app (run by uvicorn) that serves a TF Serving model base path
  (`<base>/<version>/saved_model.pb`), hot-swapping newer versions as they are pushed.
- `client`: a small REST client that works against this server and the real TF Serving.
- `models`: loading versions from a model base path; `rest`: request parsing and response
  formatting; `batching`: the batching queue.
The `rarespecies serve` and `predict` commands are in pipeline/cli/serving.py.

`rest` and `batching` do not import TensorFlow, so the client and CLI stay quick to start.
"""
