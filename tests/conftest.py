"""Shared fixtures: the real data samples (skipped cleanly when absent), a real Prefect API for the
session, and helpers to run the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(rel: str) -> Path:
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"needs ../shared/data/{rel} (not present here)")
    return p


@pytest.fixture(scope="session")
def shared():
    """Path to ../shared/data; tests using it skip when it is absent."""
    if not SHARED.exists():
        pytest.skip("needs ../shared/data (not present here)")
    return SHARED


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect API server for the whole session (one temporary server, ~7 s), also used by CLI
    subprocesses through PREFECT_API_URL. The flow heartbeat is off: it costs ~1 s per flow call."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """The generated default corpus, small: 3,000 documents in 3 JSONL.gz and 3 Parquet shards."""
    from provenance.sample import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, docs=3000, shards=3, seed=7)
    return out


def sql(ledger, q: str, params: list | None = None) -> list[tuple]:
    """Rows of a query over a ledger file, opened read-only and closed again (what a test checks against)."""
    import duckdb

    con = duckdb.connect(str(ledger), read_only=True)
    try:
        return con.execute(q, params or []).fetchall()
    finally:
        con.close()


def run_cli(args: list[str], cwd: Path, api_url: str | None = None, timeout: float = 300, env: dict | None = None,
            **popen) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    exe = Path(sys.executable).with_name("provenance")
    cmd = [str(exe)] + args if exe.exists() else [sys.executable, "-m", "provenance.cli"] + args
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **popen)


@pytest.fixture
def no_dns(monkeypatch):
    """Numeric addresses only: any lookup of a real name fails as if the name did not exist, so a test never
    looks a real name up (the fetch and RSL tests use it for every test: ``pytest.mark.usefixtures``)."""
    import ipaddress
    import socket

    real = socket.getaddrinfo

    def numeric_only(host, *args, **kwargs):
        h = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address((h or "").split("%")[0])
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, f"test: no DNS lookups ({h!r})") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
