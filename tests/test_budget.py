"""Issue 17: the memory budget. `provenance --memory-limit SIZE` (or $PROVENANCE_MEMORY_LIMIT, default 1GB) sets
DuckDB's share on every ledger connection; a small budget makes the corpus stages spill, not fail, and gives the
same ledger."""

from __future__ import annotations

import os
import shutil

import pyarrow.parquet as pq
import pytest

from conftest import run_cli, sql

from provenance import budget
from provenance.errors import ConfigError


def test_sizes_parse_and_bad_ones_are_refused():
    assert budget.parse_size("1GB") == 10 ** 9
    assert budget.parse_size("512MiB") == 512 * 1024 ** 2
    assert budget.parse_size(" 1.5 gb ") == 1_500_000_000
    for bad in ("", "lots", "1XB", "-1GB", "10MB"):
        with pytest.raises(ConfigError):
            budget.parse_size(bad)
    assert budget.duckdb_limit(10 ** 9) == "381MiB"
    assert budget.duckdb_limit(100 * 1024 ** 2) == "64MiB"  # DuckDB's floor


def _setting(tmp_path, ledger, env=None, args=(), name="memory_limit"):
    p = run_cli([*args, "query", f"select current_setting('{name}') as m", "--ledger", str(ledger), "--format", "csv"],
                cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()[-1].strip('"')


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("budget")
    for args in (["sample", "--out", "sample", "--docs", "3000", "--formats", "jsonl.gz"],
                 ["scan", "sample/*.json.gz", "--ledger", "l.duckdb", "--top", "0", "--quiet"]):
        p = run_cli(args, cwd=root)
        assert p.returncode == 0, p.stderr
    return root


def test_the_budget_reaches_duckdb_from_the_option_and_the_environment(small):
    env = {k: v for k, v in os.environ.items() if k != budget.ENV}
    default = _setting(small, small / "l.duckdb", env=env)
    assert default == "381.0 MiB"  # 40% of 1 GB
    assert _setting(small, small / "l.duckdb", env=dict(env, **{budget.ENV: "400MB"})) == "152.0 MiB"
    assert _setting(small, small / "l.duckdb", env=env, args=["--memory-limit", "400MB"]) == "152.0 MiB"
    # a DuckDB share under 256 MB runs on one thread (each thread pins its own buffers)
    assert _setting(small, small / "l.duckdb", env=env, args=["--memory-limit", "400MB"], name="threads") == "1"
    p = run_cli(["ledger", "info", "--ledger", "l.duckdb"], cwd=small, env=dict(env, **{budget.ENV: "lots"}))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "memory limit 'lots'" in p.stderr
    p = run_cli(["--memory-limit", "lots", "ledger", "info", "--ledger", "l.duckdb"], cwd=small, env=env)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_a_small_budget_spills_instead_of_failing_and_gives_the_same_ledger(small, tmp_path):
    """DuckDB at its 64 MB floor, one thread: scan, consent, verdicts, rules apply, dedup, takedown, datasheet,
    diff, export and redact finish, with the same documents, consent, verdicts, clusters, datasheet, exported
    and redacted files as under the default budget."""
    results = {}
    for name, limit in (("default", None), ("small", "70MB")):
        work = tmp_path / name
        work.mkdir()
        shutil.copy(small / "l.duckdb", work / "l.duckdb")
        (work / "t.txt").write_text("the quick brown fox jumps over the lazy dog " * 20)
        env = {k: v for k, v in os.environ.items() if k != budget.ENV}
        if limit:
            env[budget.ENV] = limit
        shard = sorted((small / "sample").glob("*.json.gz"))[0]
        shutil.copy(small / "l.duckdb.pii-key", work / "s.duckdb.pii-key")  # the same keyed PII hashes in both scans
        for args in (["scan", str(small / "sample" / "*.json.gz"), "--ledger", "s.duckdb", "--top", "0", "--quiet"],
                     ["robots", "import", str(small / "sample" / "robots.jsonl.gz"), "--ledger", "l.duckdb"],
                     ["verdicts", "--ledger", "l.duckdb"],
                     ["rules", "apply", "--ledger", "l.duckdb"],
                     ["dedup", "--ledger", "l.duckdb"],
                     ["takedown", "add", "REQ-1", "--text", "t.txt", "--ledger", "l.duckdb"],
                     ["datasheet", "--ledger", "l.duckdb", "--out", "ds"],
                     ["diff", str(small / "l.duckdb"), "l.duckdb", "--format", "json"],
                     ["export", "--ledger", "l.duckdb", "--out", "export", "--quiet"],
                     ["redact", str(shard), "--out", "redacted", "--quiet"]):
            p = run_cli(args, cwd=work, env=env)
            assert p.returncode == 0, (name, args, p.stderr[-1500:])
        led = work / "l.duckdb"
        results[name] = (sql(led, "SELECT * FROM document_consent ORDER BY ALL"),
                         sql(led, "SELECT shard_id, position, verdict, reasons FROM document_verdicts ORDER BY ALL"),
                         sql(led, "SELECT shard_id, position, cluster_id, representative FROM document_duplicates ORDER BY ALL"),
                         (work / "ds" / "datasheet.md").read_text().split("\n## ", 2)[1],
                         sql(work / "s.duckdb", "SELECT * EXCLUDE (run_id) FROM documents ORDER BY shard_id, position"),
                         sorted((p.name, pq.read_table(p).to_pylist()) for p in (work / "redacted").glob("*.parquet")),
                         sorted((p.name, pq.read_table(p).to_pylist()) for p in (work / "export").glob("*.parquet")))
    assert results["small"] == results["default"]
    assert results["default"][0] and results["default"][2] and results["default"][5] and results["default"][6]


def test_a_connection_that_spilled_keeps_its_spill_folder(tmp_path):
    """DuckDB refuses a new temp_directory once its folder holds spilled data (export failed that way at 5M
    documents): spill_to keeps the current folder and says so; a connection that has not spilled switches."""
    import duckdb

    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("SET memory_limit = '64MB'")
    con.execute("SET threads = 1")
    # a temporary table bigger than the limit goes to <db>.tmp
    con.execute("CREATE TEMP TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s FROM range(3000000) t(i)")
    assert con.execute("SELECT count(*) FROM duckdb_temporary_files()").fetchone()[0] > 0
    assert budget.spill_to(con, str(tmp_path / "elsewhere")) is False
    assert con.execute("SELECT count(*), count(DISTINCT s) FROM big").fetchone() == (3000000, 3000000)
    fresh = duckdb.connect(str(tmp_path / "y.duckdb"))
    assert budget.spill_to(fresh, str(tmp_path / "elsewhere")) is True
    assert fresh.execute("SELECT current_setting('temp_directory')").fetchone()[0].endswith("elsewhere")
