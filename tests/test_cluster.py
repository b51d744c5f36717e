"""The scan flow on a real Dask cluster (prefect-dask's DaskTaskRunner over a distributed.LocalCluster of two
worker processes): the same ledger as a local run, from Python and from the CLI; one writer per ledger
across processes; a worker killed mid-shard costs a retry, never a missing or doubled shard."""

from __future__ import annotations

import gzip
import json
import shutil
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli
from provenance.ledger import Ledger

pytest.importorskip("prefect_dask")
distributed = pytest.importorskip("distributed")
import distributed.diagnostics.plugin  # noqa: E402

pytestmark = pytest.mark.prefect


# -- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_cluster():
    """A real Dask cluster: scheduler in this process, two single-threaded worker processes (nannies)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def corpus(small_sample, tmp_path_factory):
    """The sample's 3 JSON Lines + 3 Parquet shards, plus one small shard of bad records so the quarantine
    table has something to compare."""
    extra = tmp_path_factory.mktemp("bad")
    lines = [json.dumps({"url": "https://good.example.com/a", "text": "fine words here"}), "{not json",
             json.dumps({"text": "no url at all"}), json.dumps({"url": "https://x.example.org/", "text": "x" * 200_000}),
             json.dumps({"url": "https://good.example.com/b", "text": "more fine words"})]
    (extra / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    return [str(small_sample / "*.json.gz"), str(small_sample / "*.parquet"), str(extra / "mixed.jsonl")]


SCAN = {"max_doc_bytes": 100_000}  # the 200 kB record above is quarantined as too large


def _same_key(src: Path, dst: Path) -> None:
    """PII values are hashed with a key kept outside the ledger (beside it by default); give the ledger under
    test the reference's key, so that the pii column compares byte for byte."""
    shutil.copy(str(src) + ".pii-key", str(dst) + ".pii-key")


def snapshot(path) -> dict:
    """What must not depend on where the tasks ran: everything but run ids, times and work-dir paths."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        q = lambda sql: con.sql(sql).fetchall()  # noqa: E731
        return {
            "documents": q("SELECT * EXCLUDE (run_id) FROM documents ORDER BY shard_id, position"),
            "quarantine": q("SELECT * EXCLUDE (run_id) FROM quarantine ORDER BY ALL"),
            "shards": q("SELECT * EXCLUDE (run_id, scanned_at, seconds, annotations_path) FROM shards ORDER BY shard_id"),
            "document_verdicts": q("SELECT * FROM document_verdicts ORDER BY shard_id, position"),
        }
    finally:
        con.close()


@pytest.fixture(scope="module")
def local_ledger(corpus, prefect_api, tmp_path_factory):
    """The reference: the scan on Prefect's default thread pool."""
    from provenance.pipelines.scan import scan_corpus

    path = tmp_path_factory.mktemp("local") / "local.duckdb"
    summary = scan_corpus(inputs=corpus, ledger=str(path), quiet=True, **SCAN)
    assert summary["shards"] == 7 and summary["documents"] == 6002 and summary["quarantined"] == 3, summary
    return path, snapshot(path)


# -- the same ledger on Dask ------------------------------------------------------------------------------
def test_scan_on_a_dask_cluster_gives_the_same_ledger(corpus, local_ledger, dask_cluster, tmp_path):
    from provenance.pipelines.scan import scan_corpus

    ref_path, ref = local_ledger
    path = tmp_path / "dask.duckdb"
    _same_key(ref_path, path)
    with finished_on_workers(dask_cluster) as done:
        summary = scan_corpus(inputs=corpus, ledger=str(path), quiet=True, cluster=dask_cluster.scheduler_address,
                              **SCAN)
    assert (summary["scanned"], summary["documents"], summary["quarantined"]) == (7, 6002, 3)
    # the seven shard tasks ran on the cluster's workers, not on threads here
    assert len(done) == 7 and {w for _, w in done} <= set(dask_cluster.scheduler.workers)
    got = snapshot(path)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in ref.items()}
    for table in ref:
        assert got[table] == ref[table], table
    # the run records where it ran; the work dir is absolute (workers have other working directories)
    with Ledger(path, read_only=True) as led:
        config = json.loads(led.query("SELECT config FROM runs").to_pylist()[0]["config"])
    assert config["cluster"] == dask_cluster.scheduler_address and os.path.isabs(config["work_dir"])


class _Finished(distributed.diagnostics.plugin.SchedulerPlugin):
    """Scheduler plugin: (key, worker) of every scan-shard task that finished on a worker."""

    def __init__(self):
        self.done: list[tuple[str, str]] = []

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "memory" and str(key).startswith("scan_shard_task"):
            self.done.append((str(key), kwargs.get("worker")))


@contextmanager
def finished_on_workers(cluster):
    plugin = _Finished()
    name = f"finished-{id(plugin)}"
    cluster.scheduler.add_plugin(plugin, name=name)
    try:
        yield plugin.done
    finally:
        cluster.scheduler.remove_plugin(name=name)


def test_cli_scan_with_cluster_gives_the_same_ledger(corpus, local_ledger, prefect_api, tmp_path):
    """`provenance scan --cluster local:2`: the CLI starts its own LocalCluster of two worker processes (the
    test above covers a running scheduler's tcp:// address); a relative ledger path, so the work dir the
    workers get must have been made absolute."""
    ref_path, ref = local_ledger
    path = tmp_path / "cli.duckdb"
    _same_key(ref_path, path)
    res = run_cli(["scan", *corpus, "--ledger", "cli.duckdb", "--max-doc-bytes", "100000", "--top", "0", "--json",
                   "--cluster", "local:2"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert (summary["scanned"], summary["documents"]) == (7, 6002)
    # progress lines only: no Dask INFO chatter, no traceback
    assert "Traceback" not in res.stderr and "[7/7]" in res.stderr and "distributed." not in res.stderr, res.stderr
    assert snapshot(path) == ref


def test_cli_cluster_option_is_checked_before_anything_runs(tmp_path):
    import socket

    # a real shard: a folder with none is an error of its own (tests/test_input_validation.py)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl").write_text('{"url": "https://a.org/", "text": "t"}\n')
    res = run_cli(["scan", str(tmp_path / "corpus"), "--ledger", "l.duckdb", "--cluster", "local:zero"], cwd=tmp_path)
    assert res.returncode == 2 and "provenance: error: --cluster 'local:zero'" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "l.duckdb").exists()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = run_cli(["scan", str(tmp_path / "corpus"), "--ledger", "l.duckdb", "--cluster", f"tcp://127.0.0.1:{port}"],
                  cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith(f"provenance: error: no Dask scheduler answers at tcp://127.0.0.1:{port}")
    assert len(res.stderr.splitlines()) == 1 and not (tmp_path / "l.duckdb").exists()


def test_dask_task_runner_choice():
    from prefect_dask import DaskTaskRunner

    from provenance.pipelines.scan import dask_task_runner

    r = dask_task_runner("local:3")
    assert isinstance(r, DaskTaskRunner) and r.address is None
    assert r.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    assert dask_task_runner("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert dask_task_runner("scheduler:8786").address == "tcp://scheduler:8786"


def test_scanners_and_task_arguments_survive_the_trip_to_a_worker(small_sample, tmp_path):
    """What Dask ships to a worker: the shard, the read options and every default scanner, pickled with
    cloudpickle; after use too (loaded state such as compiled patterns must not travel or break)."""
    import cloudpickle
    import pickle

    from provenance.pii import load_config
    from provenance.pipeline import scan_shard
    from provenance.readers import ReadOptions
    from provenance.scanners import default_scanners
    from provenance.sources import discover

    shard = discover([str(small_sample / "*.json.gz")])[0]
    options = ReadOptions(column_map={"url": ["url"]})
    scanners = default_scanners(load_config(None), b"s" * 32, False, None)
    first = scan_shard(shard, tmp_path / "a", options=options, scanners=scanners)
    shard2, options2, scanners2 = pickle.loads(cloudpickle.dumps((shard, options, scanners)))
    assert shard2 == shard and options2 == options and [s.name for s in scanners2] == [s.name for s in scanners]
    again = scan_shard(shard2, tmp_path / "b", options=options2, scanners=scanners2)
    assert (again.documents, again.words, again.bytes) == (first.documents, first.words, first.bytes)
    import pyarrow.parquet as pq

    assert pq.read_table(again.annotations_path).equals(pq.read_table(first.annotations_path))


# -- a worker killed mid-shard ------------------------------------------------------------------------------
class DieOnceOn:
    """Test-only scanner: the first time any worker sees ``url`` in a batch it records its pid in ``flag``
    and dies on the spot (``os._exit``: no cleanup, no exception, like an OOM kill). Never kills the test
    process itself. Adds no columns."""

    name = "die_once_on"
    fields: list = []

    def __init__(self, url: str, flag: str):
        self.url, self.flag, self.spare_pid = url, flag, os.getpid()

    def scan(self, batch, context):
        if self.url in batch.column("url").to_pylist():
            if os.getpid() == self.spare_pid:
                raise RuntimeError("DieOnceOn runs on Dask workers only")
            try:
                fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return {}
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            os._exit(1)
        return {}


def test_worker_killed_mid_shard_is_rescheduled_and_counted_once(small_sample, dask_cluster, prefect_api, tmp_path):
    from provenance.pipelines.scan import scan_corpus

    shards = sorted(small_sample.glob("*.json.gz"))
    victim = shards[1]
    with gzip.open(victim, "rt") as f:
        rows = [json.loads(line) for line in f]
    flag = tmp_path / "killed.pid"
    with distributed.Client(dask_cluster) as client:
        workers_before = set(client.run(os.getpid).values())
    ledger = tmp_path / "faults.duckdb"
    summary = scan_corpus(inputs=[str(p) for p in shards], ledger=str(ledger), quiet=True,
                          cluster=dask_cluster.scheduler_address,
                          extra_scanners=[DieOnceOn(rows[len(rows) // 2]["url"], str(flag))])
    assert flag.exists(), "no worker was killed: the test proves nothing"
    killed = int(flag.read_text())
    assert killed in workers_before and killed != os.getpid()
    assert summary["shards_failed"] == 0 and summary["documents"] == 3000, summary
    con = duckdb.connect(str(ledger), read_only=True)
    try:
        per_shard = dict(con.sql("SELECT split_part(s.uri, '/', -1), count(*) FROM documents d JOIN shards s USING (shard_id) GROUP BY 1").fetchall())
        dups = con.sql("SELECT count(*) FROM (SELECT shard_id, position FROM documents GROUP BY ALL HAVING count(*) > 1)").fetchall()[0][0]
        status = con.sql("SELECT split_part(uri, '/', -1), status, documents FROM shards ORDER BY 1").fetchall()
    finally:
        con.close()
    assert per_shard == {p.name: 1000 for p in shards} and dups == 0
    assert status == [(p.name, "done", 1000) for p in shards]
    assert per_shard[victim.name] == len(rows)


# -- one writer per ledger across processes -------------------------------------------------------------------
def test_two_scans_of_one_ledger_at_once_second_stops_with_one_line(prefect_api, tmp_path):
    """Two real `provenance scan` processes on the same ledger: while the first is ingesting, the second
    stops at once with exit 2 and one line naming the holder (no Prefect traceback, nothing written); the
    first finishes and its ledger holds exactly the corpus (no double counting, nothing half-written)."""
    from provenance.sample import generate

    corpus = tmp_path / "corpus"
    info = generate(corpus, docs=20000, shards=10, seed=5, formats=("jsonl.gz",))
    ledger = tmp_path / "one.duckdb"
    args = ["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--json"]
    env = dict(os.environ, PREFECT_API_URL=prefect_api)
    exe = Path(sys.executable).with_name("provenance")
    first = subprocess.Popen([str(exe), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in first.stderr:  # the first shard is in the ledger: the writer is mid-run
            seen.append(line)
            if line.startswith("[1/"):
                break
        assert first.poll() is None, "".join(seen)
        second = run_cli(args, cwd=tmp_path, api_url=prefect_api, timeout=120)
        still_running = first.poll() is None
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert still_running, "the first scan ended before the second was refused: the test proves nothing"
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert lines[0].startswith("provenance: error: ledger ") and "in use by another process" in lines[0]
    assert f"(process {first.pid})" in lines[0]
    assert second.stdout == ""

    assert first.returncode == 0, "".join(seen) + err
    summary = json.loads(out)
    assert (summary["scanned"], summary["documents"], summary["quarantined"]) == (10, info.docs, 0)
    con = duckdb.connect(str(ledger), read_only=True)  # opens fine: nobody holds it now
    try:
        runs = con.sql("SELECT status, documents FROM runs").fetchall()
        docs, distinct, nbytes = con.sql(
            "SELECT count(*), count(DISTINCT (shard_id, position)), sum(bytes) FROM documents").fetchall()[0]
        shards = con.sql("SELECT count(*), sum(documents), bool_and(status = 'done') FROM shards").fetchall()[0]
        verdicts = con.sql("SELECT count(*) FROM document_verdicts").fetchall()[0][0]
    finally:
        con.close()
    assert runs == [("done", info.docs)]  # the refused scan left no run behind
    assert docs == distinct == info.docs and nbytes == info.bytes
    assert shards == (10, info.docs, True) and verdicts == info.docs
