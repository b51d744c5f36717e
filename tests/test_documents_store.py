"""Where the per-document rows live: the DuckDB table (default) or a hive-partitioned Parquet dataset beside the
ledger with `documents` as a view over it. The same corpus scanned both ways gives the same rows, views,
reports, diff and export; rescans replace a shard's file; a crash between the file and the DuckDB commit never
shows a document twice or one of a shard the ledger does not list; the mode is kept in the ledger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.errors import ProvenanceError
from provenance.ledger import Ledger

VIEWS = {
    "composition_by_domain": "rank",
    "composition_by_suffix": "rank",
    "composition_by_category": "rank",
    "composition_by_license_family": "rank",
    "composition_by_tos_class": "rank",
    "verdict_counts": "verdict",
    "verdict_reasons": "reason, verdict",
    "pii_by_type": "type",
    "pii_by_domain": "registered_domain",
    "pii_summary": "documents",
    "consent_by_agent": "agent",
    "consent_by_domain": "registered_domain, agent",
    "consent_changed_documents": "shard_id, position, agent",
    "page_signals": "shard_id, position, source, use, agent",
    "excluded_documents": "shard_id, position",
    "shard_reconciliation": "shard_id",
}


def q(ledger, sql, params=None):
    with Ledger(ledger, read_only=True) as led:
        return led.query(sql, params)


def files_of(ledger) -> list[Path]:
    """The dataset's shard files as they are on disk (the placeholder folder aside)."""
    ds = Path(str(ledger) + ".documents")
    return sorted(f for f in ds.glob("shard_id=*/*") if not f.parent.name == "shard_id=_")


def copy_ledger(src: Path, dst: Path) -> Path:
    """Move-style copy: the ledger file and its dataset folder, to another folder, same base name."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst / src.name)
    ds = Path(str(src) + ".documents")
    if ds.exists():
        shutil.copytree(ds, dst / ds.name)
    key = Path(str(src) + ".pii-key")  # the PII key, kept beside the ledger (a rescan needs the same one)
    if key.exists():
        shutil.copy(key, dst / key.name)
    return dst / src.name


@pytest.fixture(scope="module")
def ledgers(small_sample, prefect_api, tmp_path_factory):
    """The same corpus scanned into a table-mode ledger and into a parquet-mode one, then the sample's
    robots.txt captures imported into both (consent evaluated, verdicts re-evaluated)."""
    from provenance.cli import main
    from provenance.pipelines.scan import scan_corpus
    from provenance.robots.sample import write_sample_robots

    d = tmp_path_factory.mktemp("store")
    t, p = d / "t" / "table.duckdb", d / "p" / "parquet.duckdb"
    t.parent.mkdir()
    p.parent.mkdir()
    Ledger(t).close()
    Ledger(p, documents_store="parquet").close()
    inputs = [str(small_sample / "*.json.gz")]
    # one PII key for both (each beside its ledger), so that the keyed hashes in documents.pii are equal too
    rt = scan_corpus(inputs=inputs, ledger=str(t), quiet=True)
    shutil.copy(str(t) + ".pii-key", str(p) + ".pii-key")
    rp = scan_corpus(inputs=inputs, ledger=str(p), quiet=True)
    assert rt["documents"] == rp["documents"] == 3000
    robots, _ = write_sample_robots(small_sample, seed=7)
    for ledger in (t, p):
        assert main(["robots", "import", str(robots), "--ledger", str(ledger)]) == 0
    return {"table": t, "parquet": p, "dir": d, "sample": small_sample}


# -- a new ledger -----------------------------------------------------------------------------------------
def test_a_new_parquet_ledger_is_empty_and_every_view_answers(tmp_path):
    t, p = tmp_path / "t.duckdb", tmp_path / "p.duckdb"
    Ledger(t).close()
    with Ledger(p, documents_store="parquet") as led:
        assert led.documents_store == "parquet"
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 0}]
        views = [r[0] for r in led.con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary ORDER BY 1").fetchall()]
        assert "documents" in views and len(views) > 20
        for v in views:
            led.con.execute(f"SELECT count(*) FROM {v}").fetchall()  # binds and runs
        assert led.schema_version() == q(t, "SELECT max(version) AS v FROM schema_migrations").to_pylist()[0]["v"]
    # the view has the table's columns: names, types, order
    with Ledger(t, read_only=True) as a, Ledger(p, read_only=True) as b:
        cols = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'documents' ORDER BY ordinal_position"
        assert a.query(cols).to_pylist() == b.query(cols).to_pylist()
        assert a.query("SELECT * FROM documents LIMIT 0").schema == b.query("SELECT * FROM documents LIMIT 0").schema
    # the mode is kept: a later open without the option uses it
    with Ledger(p) as led:
        assert led.documents_store == "parquet"
    with Ledger(t) as led:
        assert led.documents_store == "table"
    assert (Path(str(p) + ".documents") / "shard_id=_" / "_empty.parquet").exists()
    assert not Path(str(t) + ".documents").exists()


def test_the_other_mode_on_an_existing_ledger_is_a_clear_error(tmp_path):
    t, p = tmp_path / "t.duckdb", tmp_path / "p.duckdb"
    Ledger(t).close()
    Ledger(p, documents_store="parquet").close()
    with pytest.raises(ProvenanceError, match=r"keeps its documents in its DuckDB table .*documents_store='parquet'"):
        Ledger(t, documents_store="parquet")
    with pytest.raises(ProvenanceError, match=r"keeps its documents as a Parquet dataset at .*p\.duckdb\.documents"):
        Ledger(p, documents_store="table")
    with pytest.raises(ProvenanceError, match="keeps its documents as a Parquet dataset"):
        Ledger(p, read_only=True, documents_store="table")
    with pytest.raises(ProvenanceError, match="expected one of table, parquet"):
        Ledger(tmp_path / "x.duckdb", documents_store="delta")
    # the same mode is fine
    Ledger(p, documents_store="parquet").close()
    Ledger(t, documents_store="table").close()


def test_a_dataset_folder_left_by_another_ledger_is_refused(tmp_path):
    p = tmp_path / "p.duckdb"
    stale = Path(str(p) + ".documents") / "shard_id=abc" / "part-r1.parquet"
    stale.parent.mkdir(parents=True)
    pq.write_table(pa.table({"position": [1]}), stale)
    with pytest.raises(ProvenanceError, match="belong to no ledger"):
        Ledger(p, documents_store="parquet")
    assert stale.exists()  # never deleted behind the user's back


def test_a_migration_that_changes_documents_fails_loudly_on_a_parquet_ledger(tmp_path, monkeypatch):
    import provenance.ledger as ledger_mod

    p = tmp_path / "p.duckdb"
    Ledger(p, documents_store="parquet").close()
    before = ledger_mod._migrations()
    # a column change is carried over (tests/test_license_where.py); changes the files cannot follow are refused,
    # even after a migration that could be applied, and before anything is
    for bad in ("UPDATE documents SET words = 0;", "ALTER TABLE documents RENAME COLUMN words TO tokens;",
                "ALTER TABLE documents ALTER COLUMN words TYPE DOUBLE USING words * 1.5;", "DROP TABLE documents;"):
        future = before + [(before[-1][0] + 1, "ok", "ALTER TABLE documents ADD COLUMN toxicity DOUBLE;"),
                           (before[-1][0] + 2, "future", "-- a comment\n" + bad)]
        monkeypatch.setattr(ledger_mod, "_migrations", lambda: future)
        with pytest.raises(ProvenanceError, match=r"migration \d{4}_future changes the documents table"):
            Ledger(p)
    monkeypatch.setattr(ledger_mod, "_migrations", lambda: before)
    with Ledger(p) as led:  # untouched
        assert led.schema_version() == before[-1][0]
        assert "toxicity" not in [r[0] for r in led.con.execute("DESCRIBE documents").fetchall()]
    # the shipped migrations that add columns to documents are the ones a new ledger runs before the switch
    assert any(ledger_mod._TOUCHES_DOCUMENTS.search(sql) for _, _, sql in before)
    assert not ledger_mod._TOUCHES_DOCUMENTS.search("CREATE VIEW x AS SELECT * FROM documents d JOIN documents_x y")


# -- the same corpus both ways ------------------------------------------------------------------------------
def test_the_same_rows_in_documents(ledgers):
    t, p = ledgers["table"], ledgers["parquet"]
    order = "SELECT * FROM documents ORDER BY shard_id, position"
    a, b = q(t, order), q(p, order)
    assert a.num_rows == b.num_rows == 3000
    assert a.schema == b.schema
    # every column equal; run_id is each ledger's own run (and the one its shards row names)
    assert a.drop_columns(["run_id"]).equals(b.drop_columns(["run_id"]))
    for ledger in (t, p):
        assert q(ledger, "SELECT count(*) AS n FROM documents d JOIN shards s USING (shard_id) "
                         "WHERE d.run_id <> s.run_id").to_pylist() == [{"n": 0}]
    assert q(p, "SELECT count(*) AS n FROM document_consent").to_pylist()[0]["n"] > 0


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_the_same_views(ledgers, view):
    sql = f"SELECT * FROM {view} ORDER BY {VIEWS[view]}"
    a, b = q(ledgers["table"], sql), q(ledgers["parquet"], sql)
    assert a.num_rows > 0 or view in ("consent_changed_documents", "page_signals")
    assert a.to_pylist() == b.to_pylist()


def test_the_same_datasheet_facts_diff_and_export(ledgers, tmp_path):
    from provenance.export import export, list_excluded
    from provenance.reports import write_datasheet
    from provenance.reports.diff import diff_ledgers

    t, p = ledgers["table"], ledgers["parquet"]
    fa = write_datasheet(t, tmp_path / "ds-t").facts
    fb = write_datasheet(p, tmp_path / "ds-p").facts

    def comparable(f):
        f = json.loads(json.dumps(f, default=str))
        for k in ("ledger", "generated_at", "runs"):  # the path, and each ledger's own scan run (ids, clock)
            f.pop(k, None)
        for k in ("evaluation_id", "evaluated_at"):
            f["verdicts"]["last_evaluation"].pop(k)
        return f

    assert fa["ledger"] != fb["ledger"]
    assert [r["documents"] for r in fa["runs"]] == [r["documents"] for r in fb["runs"]]
    assert comparable(fa) == comparable(fb)
    assert fb["consent"]["available"] and fb["verdicts"]["available"] and fb["corpus"]["documents"] == 3000

    # diff attaches both files to one DuckDB connection (no Ledger class): the view works attached too
    d = diff_ledgers(t, p, top=10)
    assert d["totals"]["documents"] == {"a": 3000, "b": 3000, "change": 0}
    assert all(v["change"] == 0 for v in d["totals"].values())

    assert list_excluded(t).sort_by("url").equals(list_excluded(p).sort_by("url"))
    ma = export(t, tmp_path / "ex-t", verdict="include")
    mb = export(p, tmp_path / "ex-p", verdict="include")
    fa_, fb_ = sorted((tmp_path / "ex-t").glob("*.parquet")), sorted((tmp_path / "ex-p").glob("*.parquet"))
    assert [f.name for f in fa_] == [f.name for f in fb_] and fa_
    for x, y in zip(fa_, fb_):
        assert pq.read_table(x).equals(pq.read_table(y))
    keys = ("documents", "evaluated", "include", "exclude", "review", "selected", "exported", "missing", "complete")
    assert {k: ma[k] for k in keys} == {k: mb[k] for k in keys}
    assert ma["complete"] and ma["exported"] == fa["verdicts"]["last_evaluation"]["included"]


# -- the dataset on disk -------------------------------------------------------------------------------------
def test_one_file_per_shard_named_by_its_run_and_readable_outside_duckdb(ledgers):
    p = ledgers["parquet"]
    shards = q(p, "SELECT shard_id, run_id, documents FROM shards ORDER BY shard_id").to_pylist()
    assert len(shards) == 3
    expected = [Path(str(p) + ".documents") / f"shard_id={s['shard_id']}" / f"part-{s['run_id']}.parquet" for s in shards]
    assert files_of(p) == sorted(expected)
    with Ledger(p, read_only=True) as led:
        assert led.documents_files() == [str(f) for f in expected]
    # pyarrow reads the dataset as hive-partitioned Parquet, without DuckDB
    import pyarrow.dataset as pads

    ds = pads.dataset([str(f) for f in expected], format="parquet", partitioning="hive",
                      partition_base_dir=str(p) + ".documents")
    counts = ds.to_table(columns=["shard_id", "position"]).group_by("shard_id").aggregate([("position", "count")])
    assert dict(zip(counts["shard_id"].to_pylist(), counts["position_count"].to_pylist())) == {
        s["shard_id"]: s["documents"] for s in shards}
    assert "shard_id" not in pq.read_schema(expected[0]).names  # it is the folder's name (hive)


def test_each_shard_file_is_the_workers_sink_linked_not_copied(ledgers):
    """No per-row ingest: a parquet-mode shard file is the scan's sink itself (the same inode), read by name
    through the view; its run comes from the file name (the sink has no run_id column)."""
    p = ledgers["parquet"]
    rows = q(p, "SELECT shard_id, run_id, annotations_path FROM shards ORDER BY shard_id").to_pylist()
    for r in rows:
        f = Path(str(p) + ".documents") / f"shard_id={r['shard_id']}" / f"part-{r['run_id']}.parquet"
        assert os.stat(f).st_ino == os.stat(r["annotations_path"]).st_ino
        assert "run_id" not in pq.read_schema(f).names
    assert q(p, "SELECT count(DISTINCT run_id) AS n, count(*) FILTER (run_id IS NULL) AS missing FROM documents"
             ).to_pylist() == [{"n": 1, "missing": 0}]


def test_a_ledger_made_before_linked_sinks_gets_the_view_that_reads_them(ledgers, tmp_path):
    """Its stored view filtered on the files' run_id column; the first writable open replaces it, so the
    linked sinks of later scans show (read-only opens of such a ledger see only copied files, which match)."""
    old = copy_ledger(ledgers["parquet"], tmp_path / "old")
    with Ledger(old) as led:
        sql = led._stored_view_sql()
        sel = sql[sql.index("SELECT ") + 7: sql.index(" FROM (read_parquet")].replace("CAST(s.run_id AS VARCHAR)", "CAST(d.run_id AS VARCHAR)")
        led.con.execute(f"CREATE OR REPLACE VIEW documents AS SELECT {sel} FROM read_parquet("
                        f"'{led._dataset_glob()}', hive_partitioning = true, union_by_name = true, "
                        f"hive_types = {{'shard_id': 'VARCHAR'}}) d SEMI JOIN shards s ON s.shard_id = d.shard_id "
                        f"AND s.run_id = d.run_id")
    with Ledger(old, read_only=True) as led:
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 0}]  # the sinks lack run_id
    with Ledger(old) as led:
        assert "s.file = d.filename" in led._stored_view_sql()
    assert q(old, "SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000}]


def test_where_a_sink_cannot_be_linked_its_rows_are_copied_with_the_same_view(ledgers, tmp_path, monkeypatch):
    """Another file system (EXDEV), or one without hard links: the rows are copied (with run_id); the view
    shows the same documents as the linked ledger's."""
    import errno

    t, p = ledgers["table"], ledgers["parquet"]
    c = tmp_path / "copied.duckdb"
    Ledger(c, documents_store="parquet").close()
    shutil.copy(str(p) + ".pii-key", str(c) + ".pii-key")

    def no_link(*a, **k):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    from provenance.pipelines.scan import scan_corpus

    assert scan_corpus(inputs=[str(ledgers["sample"] / "*.json.gz")], ledger=str(c), quiet=True)["documents"] == 3000
    files = files_of(c)
    assert len(files) == 3 and all("run_id" in pq.read_schema(f).names and "minhash" not in pq.read_schema(f).names
                                   for f in files)
    order = "SELECT * EXCLUDE (run_id) FROM documents ORDER BY shard_id, position"
    assert q(c, order).equals(q(p, order)) and q(c, order).equals(q(t, order))
    assert not [f for f in Path(str(c) + ".documents").rglob("*.tmp")]


def test_read_only_from_another_directory_and_after_moving(ledgers, tmp_path, monkeypatch):
    p = ledgers["parquet"]
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rel = os.path.relpath(p, elsewhere)
    with Ledger(rel, read_only=True) as led:
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000}]
    con = duckdb.connect(str(p), read_only=True)  # plain DuckDB, no Ledger: the stored view is absolute
    try:
        assert con.execute("SELECT count(*) FROM composition_by_domain").fetchall()[0][0] > 0
    finally:
        con.close()

    # moved together (ledger file + .documents folder): a read-only open follows through a temporary view,
    # and does not read the old location
    moved = copy_ledger(p, tmp_path / "moved")
    with Ledger(moved, read_only=True) as led:
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000}]
        (sql,) = led.con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'documents' AND temporary").fetchall()[0]
        assert str(moved) + ".documents/" in sql
        assert led.query("SELECT count(*) AS n FROM verdict_counts").to_pylist()[0]["n"] > 0
    # a writable open repoints the stored view
    with Ledger(moved) as led:
        assert str(moved) + ".documents/" in led._stored_view_sql()
    con = duckdb.connect(str(moved), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == 3000
    finally:
        con.close()

    # the ledger without its dataset: a clear error, not an empty corpus
    lone = tmp_path / "lone" / p.name
    lone.parent.mkdir()
    shutil.copy(moved, lone)
    for ro in (False, True):
        with pytest.raises(ProvenanceError, match=r"\.documents, which is missing"):
            Ledger(lone, read_only=ro)


def test_a_forced_rescan_replaces_each_shard_file(ledgers, tmp_path):
    from provenance.pipelines.scan import scan_corpus

    p = copy_ledger(ledgers["parquet"], tmp_path / "rescan")
    before = files_of(p)
    res = scan_corpus(inputs=[str(ledgers["sample"] / "*.json.gz")], ledger=str(p), force=True, quiet=True)
    assert res["scanned"] == 3 and res["documents"] == 3000
    after = files_of(p)
    assert len(after) == 3 and not set(after) & set(before)
    assert all(f.name == f"part-{res['run_id']}.parquet" for f in after)
    assert q(p, "SELECT count(*) AS n, count(DISTINCT (shard_id, position)) AS k, count(DISTINCT run_id) AS r "
                "FROM documents").to_pylist() == [{"n": 3000, "k": 3000, "r": 1}]
    assert q(p, "SELECT count(*) AS n FROM ledger_meta WHERE key LIKE 'documents_pending:%'").to_pylist() == [{"n": 0}]
    assert q(p, "SELECT bool_and(reconciles AND documents_present = documents) AS ok FROM shard_reconciliation"
             ).to_pylist() == [{"ok": True}]
    a = q(ledgers["table"], "SELECT * EXCLUDE (run_id) FROM documents ORDER BY shard_id, position")
    assert a.equals(q(p, "SELECT * EXCLUDE (run_id) FROM documents ORDER BY shard_id, position"))
    # an unforced scan skips every shard and leaves the files alone
    res = scan_corpus(inputs=[str(ledgers["sample"] / "*.json.gz")], ledger=str(p), quiet=True)
    assert res["scanned"] == 0 and files_of(p) == after


# -- crashes between the file and the commit -----------------------------------------------------------------
CRASH = textwrap.dedent("""
    import os, sys
    from provenance.ledger import Ledger, ShardResult

    ledger, shard_id, run_id, where, source = sys.argv[1:6]
    cols = ["shard_id", "uri", "format", "fingerprint", "config_hash", "status", "rows_read", "documents",
            "quarantined", "bytes", "words", "error", "annotations_path"]
    with Ledger(source, read_only=True) as src:   # the shard as the scan reported it (its sink is still there)
        row = src.con.execute(f"SELECT {', '.join(cols)} FROM shards WHERE shard_id = ?", [shard_id]).fetchall()[0]
    r = ShardResult(**dict(zip(cols, row)))
    led = Ledger(ledger)
    if where == "before-commit":      # the file is in place; the process dies inside the shard's transaction
        def die(*a, **k):
            led.con.execute("DELETE FROM shards WHERE shard_id = ?", [shard_id])  # uncommitted work, lost
            os._exit(17)
        led._replace_shard_rows = die
    else:                              # committed; the process dies before the old file is removed
        led._sweep_shard = lambda *a, **k: os._exit(17)
    led.ingest_shard(r, run_id)
    os._exit(0)
""")


def crash(ledger, shard_id, run_id, where, source=None):
    res = subprocess.run([sys.executable, "-c", CRASH, str(ledger), shard_id, run_id, where, str(source or ledger)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 17, res.stderr


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_a_crash_between_file_and_commit_never_shows_extra_documents(ledgers, tmp_path, where):
    p = copy_ledger(ledgers["parquet"], tmp_path / where)
    shards = q(p, "SELECT shard_id, run_id, documents FROM shards ORDER BY shard_id").to_pylist()
    victim = shards[0]
    old_file = Path(str(p) + ".documents") / f"shard_id={victim['shard_id']}" / f"part-{victim['run_id']}.parquet"
    new_file = old_file.with_name("part-20990101T000000Z-crash001.parquet")
    crash(p, victim["shard_id"], "20990101T000000Z-crash001", where)
    assert old_file.exists() and new_file.exists()  # both files on disk after the crash

    got = q(p, "SELECT run_id, count(*) AS n, count(DISTINCT (shard_id, position)) AS k FROM documents "
               "WHERE shard_id = ? GROUP BY 1", [victim["shard_id"]]).to_pylist()
    expected_run = victim["run_id"] if where == "before-commit" else "20990101T000000Z-crash001"
    assert got == [{"run_id": expected_run, "n": victim["documents"], "k": victim["documents"]}]
    assert q(p, "SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000}]
    assert q(p, "SELECT run_id FROM shards WHERE shard_id = ?", [victim["shard_id"]]).to_pylist() == [{"run_id": expected_run}]

    # the next writable open sweeps the file the ledger does not list
    with Ledger(p) as led:
        assert led.con.execute("SELECT count(*) FROM ledger_meta WHERE key LIKE 'documents_pending:%'").fetchall()[0][0] == 0
        assert led.sweep_documents_dataset() == 0
    assert (new_file.exists(), old_file.exists()) == ((False, True) if where == "before-commit" else (True, False))
    assert len(files_of(p)) == 3
    assert q(p, "SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000}]


def test_a_crash_on_a_new_shard_shows_nothing_of_it(ledgers, tmp_path):
    """A shard the ledger has never listed: its file is written, the process dies before the commit."""
    src = ledgers["parquet"]
    p = tmp_path / "fresh" / "p.duckdb"
    p.parent.mkdir()
    Ledger(p, documents_store="parquet").close()
    sid = q(src, "SELECT min(shard_id) AS s FROM shards").to_pylist()[0]["s"]
    crash(p, sid, "20990101T000000Z-crash002", "before-commit", source=src)
    left = Path(str(p) + ".documents") / f"shard_id={sid}" / "part-20990101T000000Z-crash002.parquet"
    assert left.exists() and pq.read_metadata(left).num_rows > 0
    assert q(p, "SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 0}]
    assert q(p, "SELECT count(*) AS n FROM shards").to_pylist() == [{"n": 0}]
    with Ledger(p) as led:  # the pending mark the crash left: swept on open
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 0}]
    assert files_of(p) == [] and not left.exists()


def test_same_run_reingest_and_a_shard_that_now_fails(ledgers, tmp_path):
    """Direct ingest_shard calls: the same shard twice in one run (the file name is reused) stays one file with
    no duplicates; a rescan that fails drops the shard's documents and its file, as in table mode."""
    from provenance.ledger import ShardResult

    p = copy_ledger(ledgers["parquet"], tmp_path / "direct")
    cols = ["shard_id", "uri", "format", "fingerprint", "config_hash", "status", "rows_read", "documents",
            "quarantined", "bytes", "words", "error", "annotations_path"]
    with Ledger(p) as led:
        row = dict(zip(cols, led.con.execute(f"SELECT {', '.join(cols)} FROM shards ORDER BY shard_id LIMIT 1").fetchall()[0]))
        r = ShardResult(**row)
        run = led.begin_run({}, "rules", row["config_hash"], 1)
        for _ in range(2):
            led.ingest_shard(r, run)
            assert led.query("SELECT count(*) AS n, count(DISTINCT (shard_id, position)) AS k FROM documents").to_pylist() \
                == [{"n": 3000, "k": 3000}]
        folder = led.documents_dataset / f"shard_id={r.shard_id}"
        assert [f.name for f in folder.iterdir()] == [f"part-{run}.parquet"]

        failed = ShardResult(**{**row, "status": "failed", "documents": 0, "rows_read": 0, "quarantined": 0,
                                "annotations_path": None, "error": "gone", "error_reason": "missing"})
        led.ingest_shard(failed, led.begin_run({}, "rules", row["config_hash"], 1))
        assert led.query("SELECT count(*) AS n FROM documents WHERE shard_id = ?", [r.shard_id]).to_pylist() == [{"n": 0}]
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": 3000 - row["documents"]}]
        assert led.query("SELECT reason FROM quarantine WHERE shard_id = ? AND kind = 'shard'", [r.shard_id]).to_pylist() \
            == [{"reason": "missing"}]
        assert not folder.exists()
    assert len(files_of(p)) == 2


def test_cli_scan_chooses_the_store_when_the_ledger_is_created(small_sample, prefect_api, tmp_path):
    from conftest import run_cli

    args = ["scan", str(small_sample / "c4-sample.00000-of-00003.json.gz"), "--top", "0", "--ledger", "p.duckdb"]
    res = run_cli(args + ["--documents-store", "parquet"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with Ledger(tmp_path / "p.duckdb", read_only=True) as led:
        assert led.documents_store == "parquet" and len(led.documents_files()) == 1
        (n,) = led.con.execute("SELECT count(*) FROM documents").fetchone()
    assert n == 1000 and (tmp_path / "p.duckdb.documents").is_dir()
    # later scans use the stored mode; asking for the other one is one clear line
    again = run_cli(args[:1] + [str(small_sample / "c4-sample.00001-of-00003.json.gz")] + args[2:], cwd=tmp_path, api_url=prefect_api)
    assert again.returncode == 0, again.stderr
    with Ledger(tmp_path / "p.duckdb", read_only=True) as led:
        assert len(led.documents_files()) == 2 and led.con.execute("SELECT count(*) FROM documents").fetchone()[0] == 2000
    wrong = run_cli(args + ["--documents-store", "table"], cwd=tmp_path, api_url=prefect_api)
    assert wrong.returncode == 2 and "parquet" in wrong.stderr and "Traceback" not in wrong.stderr
