"""Conformance with daprd: Dapr's own durabletask end-to-end tests, run against ``docline sidecar``.

The tests ship in the ``durabletask-dapr`` source distribution on PyPI and are written to run against a real
sidecar, found through ``DAPR_GRPC_ENDPOINT``. They are downloaded at test time into ``tests/.cache`` (never
committed) and run in their own virtualenv, because that package brings its own protobuf major version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from sidecar.server import free_port

PACKAGE = "durabletask-dapr"
VERSION = "0.17.4"
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache"
SOURCE = CACHE / f"durabletask_dapr-{VERSION}"
VENV = CACHE / "venv-durabletask"
TESTS = ["tests/durabletask/test_orchestration_e2e.py", "tests/durabletask/test_orchestration_e2e_async.py"]


def _run(cmd: list[str], **kwargs: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _prepare() -> Path:
    """Download and unpack the sdist, and build the virtualenv its tests run in (once; cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (SOURCE / "tests" / "durabletask").is_dir():
        sdist = CACHE / f"durabletask_dapr-{VERSION}.tar.gz"
        if not sdist.exists():
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    f"{PACKAGE}=={VERSION}",
                    "-d",
                    str(CACHE),
                ]
            )
        with tarfile.open(sdist) as tar:
            tar.extractall(CACHE, filter="data")
    python = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if not marker.exists():
        _run([sys.executable, "-m", "venv", "--clear", str(VENV)])
        _run([str(python), "-m", "pip", "install", "-q", str(SOURCE), "pytest", "pytest-asyncio"])
        marker.touch()
    return python


def _wait_healthy(http_port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"docline sidecar exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1.0/healthz", timeout=1) as resp:
                if resp.status == 204:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("docline sidecar did not become healthy")


@pytest.mark.conformance
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_durabletask_e2e_suite_passes_against_docline_sidecar(tmp_path: Path) -> None:
    python = _prepare()
    grpc_port, http_port = free_port(), free_port()
    log = (tmp_path / "sidecar.log").open("w")
    sidecar = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar",
            "--dapr-grpc-port",
            str(grpc_port),
            "--dapr-http-port",
            str(http_port),
            "--data",
            str(tmp_path / "data"),
            "--app-id",
            "conformance",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(http_port, sidecar)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "PYTHONPATH"))}
        env["DAPR_GRPC_ENDPOINT"] = f"localhost:{grpc_port}"
        proc = subprocess.run(
            [str(python), "-m", "pytest", "-m", "e2e", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *TESTS],
            cwd=SOURCE,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=540,
        )
    finally:
        sidecar.terminate()
        sidecar.wait(timeout=30)
        log.close()
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, f"{summary}\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in summary
    assert "failed" not in summary
    assert "skipped" not in summary
