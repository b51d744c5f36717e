"""Consent and dedup on a real Dask cluster (a distributed.LocalCluster of two single-threaded worker
processes): the same task functions run on the workers instead of in this process, and the ledger comes out
the same (consent tables, clusters, and the verdicts evaluated after them); a malformed or unreachable
--cluster is one line and exit code 2; a task that fails on a worker is one line naming its partition."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import run_cli, sql
from provenance.errors import ProvenanceError

distributed = pytest.importorskip("distributed")

# what must not depend on where the tasks ran (every column; ordered by all of them)
TABLES = {
    "consent_documents": "SELECT * FROM consent_documents ORDER BY ALL",
    "consent_decisions": "SELECT * FROM consent_decisions ORDER BY ALL",
    "consent_agent_groups": "SELECT * FROM consent_agent_groups ORDER BY ALL",
    "consent_agents": "SELECT * FROM consent_agents ORDER BY ALL",
    "document_consent": "SELECT * FROM document_consent ORDER BY ALL",
    "document_duplicates": "SELECT * FROM document_duplicates ORDER BY ALL",
    "document_verdicts": "SELECT * FROM document_verdicts ORDER BY ALL",
}


def snapshot(ledger) -> dict:
    return {name: sql(ledger, q) for name, q in TABLES.items()}


@pytest.fixture(scope="module")
def dask_cluster():
    """Scheduler in this process, two single-threaded worker processes (nannies)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": ":0"}) as c, \
            distributed.Client(c) as client:
        yield c, set(client.run(os.getpid).values())


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """A scanned sample (3 JSON Lines shards with near-duplicates; robots.txt of its hosts beside them)."""
    root = tmp_path_factory.mktemp("stages")
    for args in (["sample", "--out", "sample", "--docs", "4000", "--shards", "3", "--formats", "jsonl.gz"],
                 ["scan", "sample/*.json.gz", "--ledger", "scanned.duckdb", "--quiet"]):
        p = run_cli(args, cwd=root)
        assert p.returncode == 0, (args, p.stderr[-1500:])
    return root


def _copy(root, name: str):
    """A copy of the scanned ledger (its shards' signature sinks stay where the scan wrote them)."""
    shutil.copy(root / "scanned.duckdb", root / name)
    return root / name


def _stages(ledger, robots, cluster: str | None) -> dict:
    """robots.txt import and consent, then dedup with takedowns and verdicts: the work of `provenance robots
    import` and `provenance dedup`, through the Python API so the task pids come back."""
    from provenance import runs
    from provenance.ledger import Ledger
    from provenance.robots.consent import evaluate, store_snapshots
    from provenance.robots.snapshots import import_any
    from provenance.ruleset import evaluated_agents

    with Ledger(str(ledger), create=False) as led:
        store_snapshots(led, import_any(robots))
        consent = evaluate(led, [a.token for a in evaluated_agents()], cluster=cluster)
    dedup = runs.cluster_duplicates(str(ledger), cluster=cluster)
    return {"consent": consent, "dedup": dedup}


@pytest.fixture(scope="module")
def reference(scanned):
    """Every stage in this process."""
    ledger = _copy(scanned, "local.duckdb")
    s = _stages(ledger, scanned / "sample" / "robots.jsonl.gz", None)
    return ledger, s, snapshot(ledger)


def test_consent_and_dedup_on_a_dask_cluster_give_the_same_ledger(scanned, reference, dask_cluster):
    cluster, worker_pids = dask_cluster
    _, ref_summary, ref = reference
    ledger = _copy(scanned, "dask.duckdb")
    s = _stages(ledger, scanned / "sample" / "robots.jsonl.gz", cluster.scheduler_address)
    # in this process, one partition; on the cluster, two consent partitions per worker, and every task ran on
    # the workers, both of them
    assert ref_summary["consent"]["partitions"] == 1 and ref_summary["consent"]["task_pids"] == [os.getpid()]
    assert ref_summary["dedup"]["task_pids"] == [os.getpid()]
    assert s["consent"]["partitions"] == 4
    assert set(s["consent"]["task_pids"]) == worker_pids and os.getpid() not in worker_pids
    assert set(s["dedup"]["task_pids"]) == worker_pids
    for key in ("documents", "distinct_snapshot_paths", "decisions"):
        assert s["consent"][key] == ref_summary["consent"][key], key
    for key in ("documents", "candidate_pairs", "verified_pairs", "clusters", "in_clusters"):
        assert s["dedup"][key] == ref_summary["dedup"][key], key
    got = snapshot(ledger)
    for name in TABLES:
        assert ref[name], f"{name} is empty"
        assert len(got[name]) == len(ref[name]) and got[name] == ref[name], name
    # the comparison means something: robots.txt disallows some agents somewhere, dedup found clusters,
    # verdicts differ between documents
    assert {r[3] for r in ref["consent_decisions"]} >= {"allowed", "disallowed"}
    assert ref_summary["dedup"]["clusters"] > 20
    assert len({r[2] for r in ref["document_verdicts"]}) > 1
    # small batches: a snapshot's paths span batches within its partition; the same decisions, no change
    from provenance.ledger import Ledger
    from provenance.robots.consent import evaluate
    from provenance.ruleset import evaluated_agents

    with Ledger(str(ledger), create=False) as led:
        again = evaluate(led, [a.token for a in evaluated_agents()], batch_rows=50, cluster=cluster.scheduler_address)
    assert again["changes"] == 0 and set(again["task_pids"]) == worker_pids
    got = snapshot(ledger)
    for name in ("consent_documents", "consent_decisions", "consent_agent_groups", "document_consent"):
        assert got[name] == ref[name], name
    # the work files beside the ledger are gone
    assert not (scanned / "dask.duckdb.parts" / "consent").exists()
    assert not (scanned / "dask.duckdb.parts" / "dedup").exists()


def test_the_cli_on_a_running_scheduler_and_on_local_workers(scanned, reference, dask_cluster):
    """`robots import --cluster tcp://...` (an existing scheduler) and `dedup --cluster local:2` (a
    LocalCluster started for the run): the same ledger as the in-process stages, and nothing on stderr."""
    cluster, _ = dask_cluster
    ref = reference[2]
    _copy(scanned, "cli.duckdb")
    for args in (["robots", "import", "sample/robots.jsonl.gz", "--ledger", "cli.duckdb",
                  "--cluster", cluster.scheduler_address],
                 ["dedup", "--ledger", "cli.duckdb", "--cluster", "local:2"]):
        p = run_cli(args, cwd=scanned)
        assert p.returncode == 0, (args, p.stderr[-1500:])
        assert p.stderr == "", (args, p.stderr[-1500:])
    assert snapshot(scanned / "cli.duckdb") == ref


@pytest.mark.parametrize("spec, says", [
    ("local:0", "expected tcp://HOST:PORT"),
    ("tcp://bad host:8786", "expected tcp://HOST:PORT"),
    ("tcp://127.0.0.1:9", "no Dask scheduler answers at tcp://127.0.0.1:9"),
])
def test_a_bad_cluster_is_one_line_and_exit_2(scanned, spec, says):
    for args in (["dedup", "--ledger", "scanned.duckdb"], ["consent", "--evaluate", "--ledger", "scanned.duckdb"]):
        p = run_cli([*args, "--cluster", spec], cwd=scanned, timeout=60)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stdout == "" and p.stderr.count("\n") == 1 and says in p.stderr, (args, p.stderr)


def test_a_task_that_fails_on_a_worker_is_one_line_naming_its_partition(dask_cluster, tmp_path):
    from provenance.dedup import band_file
    from provenance.distribute import run_map

    cluster, _ = dask_cluster
    task = {"ordinal": 0, "shard_id": "s0", "sink": str(tmp_path / "gone.parquet"), "out_dir": str(tmp_path),
            "parts": 1, "bands": 14, "rows": 9, "num_perm": 128, "batch_rows": 1024}
    with distributed.Client(cluster.scheduler_address) as client:
        with pytest.raises(ProvenanceError) as err:
            run_map(band_file, [task], c=client, names=["band hashes of shard s0"])
    msg = str(err.value)
    assert msg.startswith("band hashes of shard s0 failed on the cluster: FileNotFoundError") and "\n" not in msg, msg
    # in this process the same task fails with the same kind of line
    with pytest.raises(ProvenanceError, match=r"^band hashes of shard s0 failed: FileNotFoundError"):
        run_map(band_file, [task], names=["band hashes of shard s0"])
