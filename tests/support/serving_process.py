"""Starting and stopping a `rarespecies serve` process on 127.0.0.1, for the tests and the
benchmarks that talk to a real server."""
import socket
import subprocess
import time
from pathlib import Path

import requests

from tests.support.cli import rarespecies_command

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(base, log_path, *extra_args: str, port: int = None):
    """Starts `rarespecies serve` on 127.0.0.1 for the model base path `base`; returns
    (process, url). Output goes to `log_path`. Stop it with `stop()`."""
    port = port or free_port()
    command = rarespecies_command()
    with open(log_path, "w") as log:  # the child keeps its own copy of the file handle
        proc = subprocess.Popen(
            command + ["serve", "--model-base-path", str(base), "--host", "127.0.0.1",
                       "--port", str(port), *extra_args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(url: str, proc, log_path, version: str = None, timeout: float = 120,
               model: str = "rarespecies") -> None:
    """Returns once the model (at `version`, if given) is served; raises RuntimeError with
    the server's log when the process exits or is not ready within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n"
                               f"{Path(log_path).read_text()[-3000:]}")
        try:
            r = requests.get(f"{url}/v1/models/{model}", timeout=2)
            available = [v["version"] for v in r.json().get("model_version_status", [])
                         if v["state"] == "AVAILABLE"] if r.ok else []
            if available and (version is None or version in available):
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server not ready in {timeout} s:\n{Path(log_path).read_text()[-3000:]}")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
