"""Issue 17: consent read compactly at scale. The consent counts (consent_outcome_counts: consent_by_agent,
consent_by_domain, the datasheet, diff) read each evaluated document's registered domain and words from
consent_documents (0016) instead of joining documents. They must stay what the join gave: after an evaluation,
after the migration of an older ledger (also a parquet-mode ledger moved to another folder), and after a rescan
that changed or removed documents. The verdicts' robots.txt reasons, read from the disallowing decisions alone,
must be those of document_consent's per-document, per-agent answers."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "provenance" / "ledger" / "migrations"


def _view_sql(migration: str, view: str) -> str:
    """A view's query as a migration file defines it."""
    return re.search(rf"CREATE (?:OR REPLACE )?VIEW {view} AS\n(.*?);\n", (MIGRATIONS / migration).read_text(),
                     re.S).group(1)


# the view as 0012 defined it: the same counts, joining documents (the reference)
JOINED = _view_sql("0012_consent_outcome_counts.sql", "consent_outcome_counts")
# and verdict_counts / verdict_reasons as 0004 defined them
VERDICT_VIEWS = {v: _view_sql("0004_verdicts.sql", v) for v in ("verdict_counts", "verdict_reasons")}
COUNTS = ("SELECT * FROM consent_outcome_counts ORDER BY ALL", "SELECT * FROM verdict_counts ORDER BY ALL",
          "SELECT * FROM verdict_reasons ORDER BY ALL")
REFERENCE = (f"SELECT * FROM ({JOINED}) ORDER BY ALL",) + tuple(f"SELECT * FROM ({q}) ORDER BY ALL"
                                                               for q in VERDICT_VIEWS.values())
COLUMNS_MATCH = """SELECT count(*) FILTER (c.registered_domain IS NOT DISTINCT FROM d.registered_domain AND c.words = d.words),
                          count(*) FILTER (d.shard_id IS NULL), count(*)
                   FROM {table} c LEFT JOIN documents d USING (shard_id, position)"""


def _counts(ledger: Path, queries=COUNTS):
    return [_rows(ledger, q) for q in queries]


def _columns_match(ledger: Path):
    return [_rows(ledger, COLUMNS_MATCH.format(table=t))[0] for t in ("consent_documents", "document_verdicts")]


def _rows(ledger: Path, sql: str):
    from provenance.ledger import Ledger

    with Ledger(str(ledger), read_only=True) as led:  # a parquet-mode ledger's documents view needs the class
        return led.con.execute(sql).fetchall()


def _cli(args, cwd):
    p = run_cli(args, cwd=cwd)
    assert p.returncode == 0, (args, p.stderr[-3000:])
    return p


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("counts")
    _cli(["sample", "--out", "sample", "--docs", "2000", "--shards", "2", "--formats", "jsonl.gz"], root)
    return root / "sample"


def _evaluated(sample: Path, tmp: Path, store: str) -> Path:
    ledger = tmp / "l.duckdb"
    _cli(["scan", str(sample / "*.json.gz"), "--ledger", str(ledger), "--documents-store", store, "--top", "0",
          "--quiet"], tmp)
    _cli(["robots", "import", str(sample / "robots.jsonl.gz"), "--ledger", str(ledger)], tmp)
    return ledger


def _as_before_0016(ledger: Path) -> None:
    """The ledger as the code before 0016 left it: no domain/words in consent_documents, 0012's view."""
    from provenance.ledger import Ledger

    with Ledger(str(ledger)) as led:
        con = led.con
        con.execute("ALTER TABLE consent_documents DROP COLUMN registered_domain")
        con.execute("ALTER TABLE consent_documents DROP COLUMN words")
        con.execute(f"CREATE OR REPLACE VIEW consent_outcome_counts AS {JOINED}")
        con.execute("ALTER TABLE document_verdicts DROP COLUMN registered_domain")
        con.execute("ALTER TABLE document_verdicts DROP COLUMN words")
        for view, sql in VERDICT_VIEWS.items():
            con.execute(f"CREATE OR REPLACE VIEW {view} AS {sql}")
        con.execute("DELETE FROM schema_migrations WHERE version = 16")


@pytest.mark.parametrize("store", ["table", "parquet"])
def test_evaluation_migration_and_a_moved_parquet_ledger_give_the_joined_counts(sample, tmp_path, store):
    ledger = _evaluated(sample, tmp_path, store)
    counts = _counts(ledger)
    assert counts == _counts(ledger, REFERENCE)
    assert {r[3] for r in counts[0]} >= {"allowed", "disallowed", "unknown"}
    assert {r[0] for r in counts[1]} == {"include", "exclude", "review"} and len(counts[2]) > 3
    assert _columns_match(ledger) == [(2000, 0, 2000)] * 2
    by_agent = _rows(ledger, "SELECT * FROM consent_by_agent ORDER BY ALL")

    _as_before_0016(ledger)
    assert "words" not in [r[0] for r in _rows(ledger, "DESCRIBE consent_documents")]
    assert "words" not in [r[0] for r in _rows(ledger, "DESCRIBE document_verdicts")]
    assert _counts(ledger) == counts
    if store == "parquet":  # the ledger and its dataset moved together: the stored view names the old folder
        moved = tmp_path / "moved"
        moved.mkdir()
        shutil.move(str(ledger), moved / ledger.name)
        shutil.move(str(ledger) + ".documents", str(moved / ledger.name) + ".documents")
        ledger = moved / ledger.name
    _cli(["verdicts", "--ledger", str(ledger)], tmp_path)  # any writing command migrates
    assert 16 in [r[0] for r in _rows(ledger, "SELECT version FROM schema_migrations")]
    assert _columns_match(ledger) == [(2000, 0, 2000)] * 2
    assert _counts(ledger) == counts
    assert _rows(ledger, "SELECT * FROM consent_by_agent ORDER BY ALL") == by_agent
    assert _rows(ledger, "SELECT count(*) FROM duckdb_views() WHERE temporary AND view_name = 'documents'") == [(0,)]


@pytest.mark.parametrize("store", ["table", "parquet"])
def test_a_rescan_that_changes_a_shard_keeps_the_counts_those_of_its_documents(sample, tmp_path, store):
    ledger = _evaluated(sample, tmp_path, store)
    before = _counts(ledger)
    shard = sorted(sample.glob("*.json.gz"))[0]
    lines = gzip.open(shard, "rt").read().splitlines()
    assert len(lines) == 1000
    # the shard changes under the same name: half of its documents gone, a quarter twice as long
    kept = []
    for i, line in enumerate(lines[:500]):
        d = json.loads(line)
        if i % 2:
            d["text"] = d["text"] + " " + d["text"]
        kept.append(json.dumps(d))
    changed = tmp_path / "in"
    changed.mkdir()
    for f in sample.glob("*.json.gz"):
        shutil.copy(f, changed / f.name)
    with gzip.open(changed / shard.name, "wt") as out:
        out.write("\n".join(kept) + "\n")
    # the same shard ids: the ledger was scanned from `sample`, so scan the changed copy in place of it
    shutil.rmtree(sample.parent / "sample.bak", ignore_errors=True)
    shutil.copytree(sample, sample.parent / "sample.bak")
    try:
        shutil.copy(changed / shard.name, shard)
        _cli(["scan", str(sample / "*.json.gz"), "--ledger", str(ledger), "--top", "0", "--quiet"], tmp_path)
    finally:
        shutil.copy(sample.parent / "sample.bak" / shard.name, shard)
        shutil.rmtree(sample.parent / "sample.bak")
    assert _rows(ledger, "SELECT count(*) FROM documents") == [(1500,)]
    # no evaluation since: 500 rows went with their documents, the others carry their documents' words
    assert _columns_match(ledger) == [(1500, 0, 1500)] * 2
    after = _counts(ledger)
    assert after == _counts(ledger, REFERENCE)
    assert after[0] != before[0]
    assert sum(r[4] for r in after[0] if r[2] == "now") == 1500 * len(_rows(ledger, "SELECT * FROM consent_agents"))


def test_an_ingest_refreshes_the_copies_without_an_evaluation(sample, tmp_path):
    """The scan evaluates verdicts again after its ingest; a scan interrupted between the two (or any ingest
    without an evaluation) still leaves consent and verdict rows that follow the shard's documents."""
    from provenance.ledger import Ledger

    ledger = _evaluated(sample, tmp_path, "table")
    with Ledger(str(ledger)) as led:
        (shard,), = led.con.execute("SELECT min(shard_id) FROM documents").fetchall()
        with led.transaction():
            led.con.execute("DELETE FROM documents WHERE shard_id = ? AND position % 3 = 0", [shard])
            led.con.execute("UPDATE documents SET words = words + 7, registered_domain = 'moved.example' "
                            "WHERE shard_id = ? AND position % 3 = 1", [shard])
            led._refresh_document_copies(shard)
    n = _rows(ledger, "SELECT count(*) FROM documents")[0][0]
    assert n < 2000
    assert _columns_match(ledger) == [(n, 0, n)] * 2
    got = _counts(ledger)
    assert got == _counts(ledger, REFERENCE)
    assert any(r[0] == "moved.example" for r in got[0])


POLICIES = """
default_policy: ordinary
policies:
  ordinary:
    purpose: the shipped policy's robots rule
    robots:
      - agents: [GPTBot, CCBot]
        at: crawl-time
        disallowed: exclude
        unknown: ignore
  mixed:
    purpose: both moments, both actions, an agent never evaluated, unknown acted on
    robots:
      - agents: [GPTBot, ClaudeBot, NeverEvaluatedBot]
        at: now
        disallowed: review
        unknown: exclude
      - agents: [ccbot]
        at: crawl-time
        disallowed: exclude
        unknown: review
      - agents: [Google-Extended]
        at: now
        disallowed: ignore
        unknown: review
"""


def _expected_robots_reasons(ledger: Path, rules: list[tuple[list[str], str, str, str]]) -> dict:
    """(shard_id, position) -> sorted robots reasons, from document_consent's rows (documents x agents)."""
    answers = {}
    for shard, pos, agent, crawl, now in _rows(ledger, "SELECT shard_id, position, agent, crawl_outcome, now_outcome "
                                                       "FROM document_consent"):
        answers[(shard, pos, agent.lower())] = {"crawl-time": crawl, "now": now}
    out = {}
    for shard, pos in _rows(ledger, "SELECT shard_id, position FROM documents"):
        reasons = set()
        for agents, at, disallowed, unknown in rules:
            for a in agents:
                outcome = answers.get((shard, pos, a.lower()), {}).get(at, "unknown")
                if outcome == "disallowed" and disallowed != "ignore":
                    reasons.add(f"robots:{a}:{at}:disallow")
                elif outcome == "unknown" and unknown != "ignore":
                    reasons.add(f"robots:{a}:{at}:unknown")
        out[(shard, pos)] = sorted(reasons)
    return out


def test_verdicts_robots_reasons_are_the_per_document_answers(sample, tmp_path):
    ledger = _evaluated(sample, tmp_path, "table")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "policy.yaml").write_text(POLICIES)
    for name, spec in (("ordinary", [(["GPTBot", "CCBot"], "crawl-time", "exclude", "ignore")]),
                       ("mixed", [(["GPTBot", "ClaudeBot", "NeverEvaluatedBot"], "now", "review", "exclude"),
                                  (["ccbot"], "crawl-time", "exclude", "review"),
                                  (["Google-Extended"], "now", "ignore", "review")])):
        _cli(["verdicts", "--ledger", str(ledger), "--rules", str(rules), "--policy", name, "--limit", "0"], tmp_path)
        got = {(s, p): sorted(r for r in rs if r.startswith("robots:"))
               for s, p, rs in _rows(ledger, "SELECT shard_id, position, reasons FROM document_verdicts")}
        want = _expected_robots_reasons(ledger, spec)
        assert got == want, name
        kinds = {r.rsplit(":", 1)[1] for rs in got.values() for r in rs}
        assert kinds == ({"disallow"} if name == "ordinary" else {"disallow", "unknown"}), name


def test_verdicts_in_batches_of_shards_are_those_of_one_batch(sample, tmp_path, monkeypatch):
    """The verdicts' final step runs over batches of whole shards (VERDICT_BATCH_DOCUMENTS documents each)."""
    from provenance import verdict
    from provenance.ledger import Ledger

    ledger = _evaluated(sample, tmp_path, "table")
    all_rows = "SELECT * FROM document_verdicts ORDER BY shard_id, position"
    got = {}
    for size in (10**9, 1, 700):
        monkeypatch.setattr(verdict, "VERDICT_BATCH_DOCUMENTS", size)
        with Ledger(str(ledger)) as led:
            batches = verdict._shard_batches(led.con, size)
            ev = verdict.evaluate(led)  # the shipped default policy
            got[size] = (led.con.execute(all_rows).fetchall(), ev.included, ev.excluded, ev.review)
        assert [len(b) for b in batches] == ([2] if size == 10**9 else [1, 1]), size
    assert got[1] == got[700] == got[10**9]
    rows = got[1][0]
    assert len(rows) == 2000 and len({(r[0], r[1]) for r in rows}) == 2000
    assert {r[2] for r in rows} == {"include", "exclude", "review"}


# -- 0017: the compositions by category and license family read each document once -----------------------
# the definitions before 0017: the lookups over documents, and the compositions joining them with documents again
BEFORE_0017 = {v: _view_sql(m, v) for m, v in (("0003_rules.sql", "document_categories"),
                                               ("0003_rules.sql", "composition_by_category"),
                                               ("0004_verdicts.sql", "document_licenses"),
                                               ("0004_verdicts.sql", "composition_by_license_family"))}


@pytest.mark.parametrize("store", ["table", "parquet"])
def test_compositions_without_the_self_join_give_the_joined_rows(sample, tmp_path, store):
    ledger = _evaluated(sample, tmp_path, store)
    from provenance.ledger import Ledger

    # rules that reach every branch of the lookups: a host's, a registered domain's and a suffix's category, a
    # domain's license (the family table maps it); three different domains for the three
    (_, host, _), (d2, _, _), (d3, _, suffix) = _rows(ledger, """
        SELECT registered_domain, any_value(host), any_value(suffix) FROM documents
        WHERE registered_domain IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3""")
    with Ledger(str(ledger)) as led:
        led.con.execute("INSERT OR REPLACE INTO rules_categories VALUES (?, 'host-cat'), (?, 'domain-cat'), (?, 'suffix-cat')",
                        [host, d2, suffix])
        led.con.execute("INSERT OR REPLACE INTO rules_domain_licenses VALUES (?, 'CC-BY-4.0', 'test', NULL)", [d3])
    got = {v: _rows(ledger, f"SELECT * FROM {v} ORDER BY ALL") for v in BEFORE_0017}

    def old(sql: str) -> str:  # the old compositions read the old lookups
        return sql.replace("document_categories", "old_document_categories").replace("document_licenses", "old_document_licenses")

    with Ledger(str(ledger), read_only=True) as led:  # the old definitions, as temporary views over the same rows
        for v, sql in BEFORE_0017.items():
            led.con.execute(f"CREATE TEMP VIEW old_{v} AS {old(sql) if v.startswith('composition') else sql}")
        ref = {v: led.con.execute(f"SELECT * FROM old_{v} ORDER BY ALL").fetchall() for v in BEFORE_0017}
    assert got == ref
    assert {"host-cat", "domain-cat", "suffix-cat"} <= {r[1] for r in got["composition_by_category"]}
    assert {"document", "domain", "none"} >= {r[3] for r in got["document_licenses"]} >= {"domain", "none"}
    assert len(got["document_categories"]) == len(got["document_licenses"]) == 2000
