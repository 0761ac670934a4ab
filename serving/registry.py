"""Which versions of a model are served, as TF Serving decides it: the newest version (the
default `latest` policy), or the versions a models.config lists (`--model_config_file`, TF
Serving's text ModelServerConfig) with their labels (stable, canary, ...). Each version has a
state (LOADING, AVAILABLE, END with the error that stopped it) for the status endpoint. The
config file is re-read as it changes, so a label moves without a restart.

`refresh()` runs in a worker thread; readers see the old or the new version map, never a
half-built one."""
import dataclasses
import logging
import os
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from serving.models import LoadedModel, version_folders
from serving.rest import RequestError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The one model entry this server serves."""
    name: str
    base_path: str
    versions: Tuple[int, ...] = ()       # empty: the newest version only
    labels: Tuple[Tuple[str, int], ...] = ()


def read_model_config(path: str, base_dir: str = "") -> ModelConfig:
    """The single model of a ModelServerConfig text file; a relative base_path is taken from
    `base_dir` (the file's folder by default). ValueError names what is wrong."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    config = model_server_config_pb2.ModelServerConfig()
    with open(path, encoding="utf-8") as handle:
        try:
            text_format.Parse(handle.read(), config)
        except text_format.ParseError as err:
            raise ValueError(f"{path}: not a ModelServerConfig: {err}") from None
    models = list(config.model_config_list.config)
    if len(models) != 1:
        raise ValueError(f"{path}: this server serves one model; the file lists {len(models)}")
    model = models[0]
    policy = model.model_version_policy.WhichOneof("policy_choice")
    if policy not in (None, "specific", "latest"):
        raise ValueError(f"{path}: version policy {policy!r} is not supported (specific, "
                         "latest)")
    if policy == "latest" and model.model_version_policy.latest.num_versions > 1:
        raise ValueError(f"{path}: latest {{ num_versions > 1 }} is not supported; list the "
                         "versions under specific")
    versions = tuple(sorted(model.model_version_policy.specific.versions)) \
        if policy == "specific" else ()
    labels = tuple(sorted(model.version_labels.items()))
    for label, version in labels:
        if versions and version not in versions:
            raise ValueError(f"{path}: label {label!r} names version {version}, which the "
                             "specific policy does not list")
    base = model.base_path
    if not os.path.isabs(base):
        base = os.path.join(base_dir or os.path.dirname(os.path.abspath(path)), base)
    return ModelConfig(model.name, base, versions, labels)


class ModelRegistry:
    def __init__(self, config: ModelConfig, config_file: Optional[str] = None):
        self.config = config
        self.config_file = config_file
        self._config_mtime = os.stat(config_file).st_mtime_ns if config_file else None
        self._models: Dict[int, LoadedModel] = {}  # replaced as a whole, never mutated
        self._states: Dict[int, Tuple[str, str]] = {}  # version -> (state, error message)
        self._failed: Dict[int, tuple] = {}  # version -> fingerprint when loading failed
        self._lock = threading.Lock()  # one refresh at a time

    @property
    def base_path(self) -> Path:
        return Path(self.config.base_path)

    @property
    def loaded_versions(self) -> List[int]:
        return sorted(self._models)

    def get(self, version: Optional[int] = None, label: Optional[str] = None) -> LoadedModel:
        """The model for a request; RequestError as TF Serving words it."""
        models, name = self._models, self.config.name
        if label is not None:
            labels = dict(self.config.labels)
            if label not in labels:
                raise RequestError(f"Unrecognized servable version label: {label}")
            version = labels[label]
        if version is None:
            if not models:
                raise RequestError(f"Could not find any versions of model {name}", 404)
            return models[max(models)]
        if version not in models:
            raise RequestError(f"Servable not found for request: Specific({name}, {version})",
                               404)
        return models[version]

    def status(self, version: Optional[int] = None) -> list:
        """model_version_status entries, newest first, as TF Serving's GetModelStatus."""
        states = dict(self._states)
        if version is not None:
            if version not in states:
                raise RequestError(f"Could not find version {version} of model "
                                   f"{self.config.name}", 404)
            states = {version: states[version]}
        if not states:
            raise RequestError(f"Could not find any versions of model {self.config.name}", 404)
        return [{"version": str(v), "state": state,
                 "status": {"error_code": "OK" if state != "END" or not error else "UNKNOWN",
                            "error_message": error}}
                for v, (state, error) in sorted(states.items(), reverse=True)]

    def _wanted(self, on_disk: Dict[int, str]) -> List[int]:
        if self.config.versions:
            return [v for v in self.config.versions if v in on_disk]
        return [max(on_disk)] if on_disk else []

    def _reread_config(self) -> None:
        if not self.config_file:
            return
        try:
            mtime = os.stat(self.config_file).st_mtime_ns
            if mtime == self._config_mtime:
                return
            self.config = read_model_config(self.config_file)
            self._config_mtime = mtime
            log.info("re-read %s: versions %s, labels %s", self.config_file,
                     list(self.config.versions) or "latest", dict(self.config.labels))
        except (OSError, ValueError) as err:  # keep serving with the config we have
            log.warning("could not re-read %s: %s", self.config_file, err)

    def refresh(self) -> bool:
        """Loads (and warms up) the wanted versions not loaded yet, unloads the others. Returns
        True when the served set changed. A version that fails is retried once its files
        change; if every version folder disappears, the loaded ones keep serving."""
        with self._lock:
            self._reread_config()
            on_disk = version_folders(self.base_path)
            wanted = self._wanted(on_disk)
            if not wanted:
                return False
            models = dict(self._models)
            changed = False
            for version in wanted:
                if version in models:
                    continue
                path = self.base_path / on_disk[version]
                fingerprint = _fingerprint(path)
                if self._failed.get(version) == fingerprint:
                    continue
                self._states[version] = ("LOADING", "")
                try:
                    model = LoadedModel(path, version)
                    replayed = model.warm_up()
                except Exception as err:  # noqa: BLE001 - any load failure: keep serving
                    self._failed[version] = fingerprint
                    message = str(err).splitlines()[0] if str(err) else type(err).__name__
                    self._states[version] = ("END", message)
                    log.warning("could not load %s (%s); will retry when its files change",
                                path, message)
                    continue
                models[version] = model
                self._states[version] = ("AVAILABLE", "")
                self._failed.pop(version, None)
                changed = True
                log.info("now serving version %d from %s (%d warm-up requests replayed)",
                         version, path, replayed)
            # Versions no longer wanted go once the wanted ones serve (a removed newest
            # folder rolls back to the one before); while a wanted version fails to load,
            # the loaded ones keep serving.
            serving_wanted = all(v in models for v in wanted)
            for version in [v for v in models if v not in wanted]:
                if self.config.versions or serving_wanted:
                    del models[version]
                    self._states[version] = ("END", "")
                    changed = True
            self._models = models
            return changed


def _fingerprint(path) -> tuple:
    """Changes whenever a file under `path` is added, grown or rewritten."""
    stats = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            stats.append((os.path.relpath(os.path.join(root, name), path), st.st_size,
                          st.st_mtime_ns))
    return tuple(sorted(stats))
