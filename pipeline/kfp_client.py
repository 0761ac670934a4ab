"""Submitting a compiled package (kubeflow_runner.py) to Kubeflow Pipelines with KFP's own
client (kfp 1.8.22's Client.create_run_from_pipeline_package)."""
import dataclasses
import io
import logging
import os
import re
import socket
import tarfile
import tempfile
import urllib.parse
import zipfile
from typing import Dict, List, Optional

from schema.paths import is_remote

# The package kinds kfp 1.8.22's Client takes (a .json PipelineJob is for Vertex AI).
CLIENT_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".yaml", ".yml")


class PackageError(ValueError):
    """The package or its parameters cannot be submitted (a user error: exit status 2)."""


class SubmitError(RuntimeError):
    """Kubeflow Pipelines could not be reached or refused the run; the message is one line."""


@dataclasses.dataclass
class SubmittedRun:
    name: str
    run_id: str
    url: str


def load_package(path: str) -> dict:
    """The pipeline in a package, read as kfp 1.8.22's Client reads it."""
    if path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "r:gz") as tar:
            names = [m.name for m in tar if m.isfile() and m.name.endswith(".yaml")]
            data = tar.extractfile(_package_member(names, path)).read()
    elif path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".yaml")]
            data = archive.read(_package_member(names, path))
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    import yaml
    return yaml.safe_load(io.BytesIO(data))


def _package_member(names: List[str], path: str) -> str:
    if "pipeline.yaml" in names:
        return "pipeline.yaml"
    if len(names) != 1:
        raise ValueError(f"{path}: expected one pipeline .yaml inside, found {names}")
    return names[0]


def is_v2_spec(pipeline: dict) -> bool:
    return isinstance(pipeline, dict) and "pipelineInfo" in pipeline and "root" in pipeline


def package_parameters(pipeline: dict) -> Dict[str, object]:
    """Pipeline parameters and their defaults, for both package kinds."""
    if is_v2_spec(pipeline):
        parameters = pipeline["root"].get("inputDefinitions", {}).get("parameters", {})
        return {name: p.get("defaultValue") for name, p in parameters.items()}
    arguments = pipeline.get("spec", {}).get("arguments", {}).get("parameters", [])
    return {p["name"]: p.get("value") for p in arguments}


def parse_params(items: Optional[List[str]]) -> Dict[str, str]:
    """NAME=VALUE strings -> {name: value}; PackageError on any other shape."""
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise PackageError(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    return params


def check_reachable(host: str, timeout: float) -> None:
    """Raises OSError when nothing answers at host's address (fast, with a timeout: the
    Kubeflow client itself would wait without limit on an address that drops packets)."""
    url = urllib.parse.urlsplit(host)
    port = url.port or (443 if url.scheme == "https" else 80)
    socket.create_connection((url.hostname, port), timeout=timeout).close()


def _one_line(err: BaseException) -> str:
    """`Type: first line`, for the error a connection attempt ends in (urllib3 wraps it)."""
    reason = getattr(err, "reason", None)
    if isinstance(reason, BaseException):
        err = reason
    lines = re.sub(r"<[^>]*>:\s*", "", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def submit(host: str, package: str, params: Dict[str, str], run_name: str,
           experiment: Optional[str] = None, namespace: Optional[str] = None,
           timeout: float = 10.0, verbose: bool = False) -> SubmittedRun:
    """Starts a run of `package` with `params`. PackageError when the package or a parameter
    is wrong (checked before any connection), SubmitError when the host cannot be reached or
    refuses the run."""
    host = (host if is_remote(host) else f"http://{host}").rstrip("/")
    try:
        if not os.path.isfile(package):
            raise PackageError(f"no package at {package} (make one with `rarespecies compile`)")
        if not package.endswith(CLIENT_SUFFIXES):
            raise PackageError(f"{package}: Kubeflow Pipelines takes "
                               f"{', '.join(CLIENT_SUFFIXES)} packages (compile to .yaml; a "
                               f".json PipelineJob is for Vertex AI)")
        pipeline = load_package(package)
        known = package_parameters(pipeline)
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise PackageError(f"unknown --param {', '.join(unknown)}; this package takes "
                               f"{', '.join(sorted(known)) or 'none'}")
    except (OSError, tarfile.TarError, zipfile.BadZipFile, ValueError) as err:
        raise err if isinstance(err, PackageError) else PackageError(str(err)) from err

    arguments = params
    tmp = None
    if is_v2_spec(pipeline) and params:
        # kfp 1.8's Client sends parameters the v1 way, which a KFP 2.x backend ignores for a v2
        # pipeline: put them into the spec as its defaults instead.
        for name, value in params.items():
            pipeline["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
        import yaml
        tmp = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        with tmp:
            yaml.safe_dump(pipeline, tmp, sort_keys=True)
        package, arguments = tmp.name, {}
    quiet = logging.NullHandler()
    if not verbose:  # kfp logs tracebacks on retries; our error line says it all
        logging.getLogger().addHandler(quiet)
    try:
        check_reachable(host, timeout)
        import kfp
        namespace_arg = {"namespace": namespace} if namespace else {}
        client = kfp.Client(host=host, **namespace_arg)
        result = client.create_run_from_pipeline_package(
            package, arguments=arguments, run_name=run_name, experiment_name=experiment,
            **namespace_arg)
    except Exception as err:  # unreachable host, refused auth, rejected package: one line
        raise SubmitError(f"cannot submit to Kubeflow Pipelines at {host}: "
                          f"{_one_line(err)}") from err
    finally:
        logging.getLogger().removeHandler(quiet)
        if tmp is not None:
            os.unlink(tmp.name)
    return SubmittedRun(result.run_info.name, result.run_id,
                        f"{host}/#/runs/details/{result.run_id}")
