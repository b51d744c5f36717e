"""How flow commands run from the command line: in this process without Prefect unless tracking is asked
for, honest exit codes, --force re-reading shards, progress, Ctrl-C."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli, sql


def _no_api_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PROVENANCE_TRACK")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # no profile with an API URL
    return env


@pytest.fixture
def tiny(tmp_path):
    from provenance.sample import generate

    generate(tmp_path / "s", docs=40, shards=2, seed=3, formats=("jsonl.gz",))
    return tmp_path


def test_scan_runs_in_process_without_prefect(tiny):
    """No Prefect API configured and no --track: the run happens in this process; Prefect is never imported
    (it alone costs ~1.3 s), and the ledger records how the run was orchestrated."""
    code = (
        "import sys; from provenance.cli import main; rc = main(['scan', 's/*.json.gz', '--ledger', 'a.duckdb', "
        "'--quiet', '--top', '0']); print('PREFECT' if any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules) "
        "else 'NO-PREFECT'); sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tiny, env=_no_api_env(tiny), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "NO-PREFECT"
    (config,) = sql(tiny / "a.duckdb", "SELECT config FROM runs")[0]
    assert json.loads(config)["orchestrator"] == "in-process"
    assert sql(tiny / "a.duckdb", "SELECT count(*) FROM documents")[0][0] == 40


def test_tracking_decision(tmp_path, monkeypatch):
    from provenance.runs import tracking

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PROVENANCE_TRACK", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert tracking() is None
    assert tracking(True) == "--track"
    monkeypatch.setenv("PROVENANCE_TRACK", "1")
    assert tracking() == "PROVENANCE_TRACK"
    monkeypatch.setenv("PROVENANCE_TRACK", "0")
    assert tracking() is None
    # the active profile of the user's Prefect home names an API: runs are tracked there
    (tmp_path / "profiles.toml").write_text('active = "work"\n[profiles.work]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n')
    assert tracking() == "a Prefect profile's PREFECT_API_URL"
    (tmp_path / "profiles.toml").write_text('active = "local"\n[profiles.local]\n')
    assert tracking() is None
    (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:4200/api"\n')
    assert tracking() is not None
    (tmp_path / "prefect.toml").unlink()
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert tracking() == "PREFECT_API_URL"


def test_tracked_scan_is_a_prefect_flow_run(tiny, prefect_api):
    """With a Prefect API configured the same command runs the scan-corpus flow, recorded by the API."""
    r = run_cli(["scan", "s/*.json.gz", "--ledger", "t.duckdb", "--top", "0"], cwd=tiny, api_url=prefect_api)
    assert r.returncode == 0, r.stderr
    assert "running the scan-corpus Prefect flow (PREFECT_API_URL)" in r.stderr
    (config,) = sql(tiny / "t.duckdb", "SELECT config FROM runs")[0]
    assert json.loads(config)["orchestrator"] == "prefect"
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["scan-corpus"])))
    assert any(fr.state.is_completed() for fr in runs)
    # the same documents either way
    r2 = run_cli(["scan", "s/*.json.gz", "--ledger", "u.duckdb", "--top", "0", "--quiet"], cwd=tiny,
                 env=_no_api_env(tiny))
    assert r2.returncode == 0, r2.stderr
    q = "SELECT shard_id, position, url, words FROM documents ORDER BY ALL"
    assert sql(tiny / "t.duckdb", q) == sql(tiny / "u.duckdb", q)


def test_force_reads_the_shards_again(tiny):
    env = _no_api_env(tiny)
    first = run_cli(["scan", "s/*.json.gz", "--ledger", "a.duckdb", "--top", "0"], cwd=tiny, env=env)
    assert first.returncode == 0, first.stderr
    # a cached result exists for each shard; --force must not serve it
    markers = sorted((tiny / "a.duckdb.parts" / "shards").glob("*.done.json"))
    assert len(markers) == 2
    before = {m: m.stat().st_mtime_ns for m in markers}
    time.sleep(0.05)
    forced = run_cli(["scan", "s/*.json.gz", "--ledger", "a.duckdb", "--top", "0", "--force"], cwd=tiny, env=env)
    assert forced.returncode == 0, forced.stderr
    assert "(cached)" not in forced.stderr
    assert "scanning 2 shard(s)" in forced.stderr
    assert all(m.stat().st_mtime_ns > t for m, t in before.items())  # written again: the shard was read again
    # without --force an unchanged shard is skipped
    again = run_cli(["scan", "s/*.json.gz", "--ledger", "a.duckdb", "--top", "0"], cwd=tiny, env=env)
    assert "0 scanned, 2 unchanged" in again.stdout
    assert sql(tiny / "a.duckdb", "SELECT count(*) FROM documents")[0][0] == 40


def test_exit_code_3_when_shards_are_partial(tiny):
    """The run finishes and is recorded, but a damaged shard makes the exit code 3 (0 would hide it)."""
    src = tiny / "s" / "c4-sample.00000-of-00002.json.gz"
    data = src.read_bytes()
    bad = tiny / "bad"
    bad.mkdir()
    (bad / "cut.json.gz").write_bytes(data[: len(data) * 2 // 3])  # truncated gzip: the rest is lost
    (bad / "ok.json.gz").write_bytes((tiny / "s" / "c4-sample.00001-of-00002.json.gz").read_bytes())
    r = run_cli(["scan", "bad", "--ledger", "b.duckdb", "--top", "0"], cwd=tiny, env=_no_api_env(tiny))
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "0 shard(s) failed, 1 partial" in r.stdout
    assert "exit 3" in r.stderr.splitlines()[-1]
    assert sql(tiny / "b.duckdb", "SELECT status FROM runs")[0][0] == "done"
    # JSON output gives the same code
    j = run_cli(["scan", "bad", "--ledger", "b.duckdb", "--json", "--force"], cwd=tiny, env=_no_api_env(tiny))
    assert j.returncode == 3 and json.loads(j.stdout)["shards_partial"] == 1


def test_progress_lines_for_long_shards(tmp_path):
    """Not a terminal: the first line at once, then plain lines with rows/s and bytes/s while a long shard is
    read (every PROVENANCE_PROGRESS_SECONDS), then the per-shard line."""
    from provenance.sample import generate

    generate(tmp_path / "s", docs=6000, shards=1, seed=5, formats=("jsonl.gz",))
    env = _no_api_env(tmp_path)
    env["PROVENANCE_PROGRESS_SECONDS"] = "0.05"
    r = run_cli(["scan", "s/*.json.gz", "--ledger", "p.duckdb", "--top", "0"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("scanning 1 shard(s)"))
    live = [ln for ln in lines if "rows read," in ln]
    assert live, r.stderr
    assert all("rows/s" in ln and "MB/s of text" in ln for ln in live)
    done = next(i for i, ln in enumerate(lines) if ln.startswith("[1/1]"))
    assert start < lines.index(live[0]) < done
    assert "\r" not in r.stderr and "\x1b[" not in r.stderr  # no terminal control codes in a log


def test_progress_live_line_on_a_terminal(tmp_path):
    """On a terminal the status line is redrawn in place and cleared before each permanent line."""
    import io

    from provenance.ledger import ShardResult
    from provenance.progress import Progress, reporter
    from provenance.sources import Shard

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    shard = Shard(uri="/x/a.json.gz", format="jsonl", compression="gzip", size=1000, fingerprint="f", shard_id="a")
    p = Progress(1, stream=out, live=True)
    p.start(1, [shard])
    r = reporter(shard.uri)
    r.rows, r.text_bytes, r.raw_bytes = 500, 10_000, 400
    time.sleep(0.5)
    p.shard_done(ShardResult(shard_id="a", uri=shard.uri, format="jsonl", fingerprint="f", config_hash="c",
                             status="done", documents=1000, rows_read=1000))
    p.close()
    text = out.getvalue()
    assert "\r\x1b[K[0/1 shards] 500 rows" in text and "a.json.gz, 40%" in text
    assert "\r\x1b[K[1/1] a.json.gz: 1,000 docs" in text
    assert text.endswith("\r\x1b[K")  # the status line is cleared at the end
    assert reporter(shard.uri) is None


def test_ctrl_c_stops_the_scan_and_the_next_run_resumes(tmp_path):
    from provenance.sample import generate

    generate(tmp_path / "s", docs=12000, shards=2, seed=9, formats=("jsonl.gz",))
    env = _no_api_env(tmp_path)
    env["PROVENANCE_PROGRESS_SECONDS"] = "0.1"
    exe = Path(sys.executable).with_name("provenance")
    # SIGINT as a terminal delivers it: a suite started in the background (`cmd &`, nohup) runs with SIGINT ignored,
    # which children inherit (and a process that starts with SIGINT ignored rightly keeps ignoring it)
    p = subprocess.Popen([str(exe), "scan", "s/*.json.gz", "--ledger", "c.duckdb", "--top", "0"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait for the first "rows read" progress line: shards are being read
    deadline = time.time() + 120
    seen = []
    while time.time() < deadline:
        line = p.stderr.readline()
        seen.append(line)
        if "rows read," in line:
            break
    assert any("rows read," in ln for ln in seen), "".join(seen)
    t0 = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    stopped_in = time.time() - t0
    assert p.returncode == 130, (p.returncode, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("provenance: interrupted")
    assert stopped_in < 10, stopped_in  # the shards in progress stop at their next batch, not at their end
    assert sql(tmp_path / "c.duckdb", "SELECT status FROM runs")[0][0] == "failed"
    # no temporary file left beside the sinks, and the next run scans what was not finished
    leftovers = [f for f in (tmp_path / "c.duckdb.parts" / "shards").iterdir() if f.name.startswith(".")] \
        if (tmp_path / "c.duckdb.parts" / "shards").exists() else []
    assert leftovers == []
    again = run_cli(["scan", "s/*.json.gz", "--ledger", "c.duckdb", "--top", "0", "--quiet"], cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert sql(tmp_path / "c.duckdb", "SELECT count(*) FROM documents")[0][0] == 12000
    with gzip.open(tmp_path / "s" / "c4-sample.00000-of-00002.json.gz", "rt") as fh:
        assert sum(1 for _ in fh) == 6000


def test_a_configured_prefect_api_that_does_not_answer_is_one_line_before_any_work(tiny):
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _no_api_env(tiny)
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    r = run_cli(["scan", "s/*.json.gz", "--ledger", "x.duckdb"], cwd=tiny, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"provenance: error: no Prefect API answers at http://127.0.0.1:{port}/api ([Errno 111] Connection refused); "
        "start one (`prefect server start`) or unset PREFECT_API_URL to run in this process"]
    assert not (tiny / "x.duckdb").exists()


def test_progress_never_prints_control_characters_from_shard_names(tmp_path):
    """A shard named with an ANSI escape sequence and a line break (any corpus may hold one): the progress
    lines carry neither, on a terminal or in a log."""
    import io

    from provenance.ledger import ShardResult
    from provenance.progress import Progress
    from provenance.sources import Shard

    class Tty(io.StringIO):
        def isatty(self):
            return True

    uri = "/x/evil\x1b]0;pwned\x07\x1b[2Jname\nfake line.json.gz"
    for live in (True, False):
        out = Tty()
        shard = Shard(uri=uri, format="jsonl", compression="gzip", size=10, fingerprint="f", shard_id="e")
        p = Progress(1, stream=out, live=live, interval=0.05)
        p.start(1, [shard])
        from provenance.progress import reporter

        reporter(uri).rows = 3
        time.sleep(0.4)
        p.shard_done(ShardResult(shard_id="e", uri=uri, format="jsonl", fingerprint="f", config_hash="c",
                                 status="partial", documents=1, rows_read=2, quarantined=1,
                                 error="cannot read evil\x1b[31mred", error_reason="corrupt"))
        p.close()
        text = out.getvalue().replace("\r\x1b[K", "")  # our own line clearing is the only escape allowed
        assert "\x1b" not in text and "\x07" not in text, repr(text)
        assert not any(ln.startswith("fake line") for ln in text.split("\n")), repr(text)


def test_ctrl_c_inside_a_duckdb_call_is_an_interrupt_not_a_failed_ingest(monkeypatch):
    """DuckDB reports a Ctrl-C during a query as duckdb.InterruptException, an Exception: the ingest took it for
    a refused result, rescanned the shard and the run went on to exit 0. It is raised as the interrupt it is,
    and any command that meets it exits 130."""
    import duckdb
    from types import SimpleNamespace

    from provenance import cli, runs

    rescans = []
    monkeypatch.setattr("provenance.pipeline.scan_shard", lambda *a, **k: rescans.append(a) or None)
    monkeypatch.setattr("provenance.pipeline.forget_shard", lambda *a, **k: None)

    class Led:
        def ingest_shard(self, res, run_id):
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    res = SimpleNamespace(status="done", error_reason=None)
    with pytest.raises(KeyboardInterrupt):
        runs._ingest(Led(), res, "shard", "run", "work", None, "c", [])
    assert rescans == []
    assert not runs.is_interrupt(duckdb.Error("x")) and not runs.is_interrupt(ValueError("x"))

    def interrupted(args):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main(["scan", "x"]) == cli.EXIT_INTERRUPTED
