"""Issue 17: compact consent. Decisions are stored once per (snapshot, agent group, path); per document only its
snapshots and a path key; ``document_consent`` is a view with the former table's columns. An old ledger (made
by the code before migration 0010, taken from git) keeps its per-document, per-agent answers exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
BEFORE_0010 = "506ac35"  # the last commit whose ledger stored document_consent as a table
ALL_CONSENT = "SELECT * FROM document_consent ORDER BY ALL"


def _rows(ledger: Path, sql: str):
    con = duckdb.connect(str(ledger), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _old_code(tmp: Path) -> Path | None:
    """The source tree before 0010, from git (None when the history is not there, e.g. an export), with the rules
    of that commit (today's may name what the old code does not know) as its ``provenance.rules``."""
    dest = tmp / "old"
    dest.mkdir()
    arch = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE_0010, "src", "rules"], capture_output=True)
    if arch.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(dest)], input=arch.stdout, check=True)
    os.rename(dest / "rules", dest / "src" / "provenance" / "rules")  # where the installed package has them
    return dest / "src"


def _old_cli(args: list[str], cwd: Path, src: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "provenance", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("compact")
    p = run_cli(["sample", "--out", "sample", "--docs", "3000", "--formats", "jsonl.gz"], cwd=root)
    assert p.returncode == 0, p.stderr
    return root


def test_an_old_ledger_keeps_every_answer_and_a_new_evaluation_gives_the_same_ones_compactly(sample, tmp_path):
    src = _old_code(tmp_path)
    if src is None:
        pytest.skip("git history not available")
    ledger = tmp_path / "old.duckdb"
    for args in (["scan", str(sample / "sample" / "*.json.gz"), "--ledger", str(ledger), "--top", "0", "--quiet"],
                 ["robots", "import", str(sample / "sample" / "robots.jsonl.gz"), "--ledger", str(ledger)]):
        p = _old_cli(args, tmp_path, src)
        assert p.returncode == 0, (args, p.stderr[-2000:])
    assert _rows(ledger, "SELECT table_type FROM information_schema.tables WHERE table_name = 'document_consent'") == \
        [("BASE TABLE",)]
    old = _rows(ledger, ALL_CONSENT)
    old_verdicts = _rows(ledger, "SELECT shard_id, position, verdict, reasons FROM document_verdicts ORDER BY ALL")
    assert len(old) == 3000 * 15 and {r[3] for r in old} >= {"allowed", "disallowed"}

    # any writing command migrates: the same rows, now from the compact tables
    p = run_cli(["verdicts", "--ledger", str(ledger)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _rows(ledger, "SELECT table_type FROM information_schema.tables WHERE table_name = 'document_consent'") == \
        [("VIEW",)]
    assert _rows(ledger, ALL_CONSENT) == old
    new_verdicts = _rows(ledger, "SELECT shard_id, position, verdict, reasons FROM document_verdicts ORDER BY ALL")
    # robots.txt reasons unchanged; host signals are read by today's rules since (AIPREF attach-05 precedence:
    # Content-Usage: /blog/ train-ai=y now outranks / train-ai=n, which the old code applied everywhere)
    robots = lambda rows: [(s, p, [r for r in rs if r.startswith("robots:")]) for s, p, _v, rs in rows]  # noqa: E731
    assert robots(new_verdicts) == robots(old_verdicts)
    changed = {(s, p) for (s, p, v, rs), (_, _, v0, rs0) in zip(new_verdicts, old_verdicts) if (v, rs) != (v0, rs0)}
    assert all(any(r.startswith("signal:") for r in rs) for s, p, _v, rs in old_verdicts if (s, p) in changed)

    # a new evaluation by today's code: the same answers and evidence, stored once per decision
    p = run_cli(["consent", "--evaluate", "--ledger", str(ledger)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _rows(ledger, ALL_CONSENT) == old
    (docs,), = _rows(ledger, "SELECT count(*) FROM consent_documents")
    (decisions,), = _rows(ledger, "SELECT count(*) FROM consent_decisions")
    (pairs,), = _rows(ledger, "SELECT count(*) FROM (SELECT DISTINCT snapshot_id, path_key FROM consent_decisions)")
    assert docs == 3000
    assert decisions < 0.3 * len(old)   # documents x agents before
    assert pairs <= decisions <= 3 * pairs  # a few agent groups per snapshot, not one per agent
    assert _rows(ledger, "SELECT count(*) FROM consent_changes") == [(0,)]  # nothing moved
    # consent_by_agent (summed per robots.txt group since 0011) is the per-document, per-agent count of 0002
    import re

    per_agent = re.search(r"CREATE VIEW consent_by_agent AS\n(.*?);\n", (REPO / "src" / "provenance" / "ledger" / "migrations"
                          / "0002_consent.sql").read_text(), re.S).group(1)
    by_agent = _rows(ledger, "SELECT * FROM consent_by_agent ORDER BY agent")
    assert len(by_agent) == 15 and by_agent == _rows(ledger, f"SELECT * FROM ({per_agent}) ORDER BY agent")
    assert _rows(ledger, "DESCRIBE SELECT * FROM consent_by_agent") == _rows(ledger, f"DESCRIBE SELECT * FROM ({per_agent})")
    # so is consent_by_domain (from the same per-group counts since 0012)
    per_domain = re.search(r"CREATE VIEW consent_by_domain AS\n(.*?);\n", (REPO / "src" / "provenance" / "ledger" / "migrations"
                           / "0002_consent.sql").read_text(), re.S).group(1)
    by_domain = _rows(ledger, "SELECT * FROM consent_by_domain ORDER BY registered_domain, agent")
    assert len(by_domain) > 15 * 10 and by_domain == _rows(ledger, f"SELECT * FROM ({per_domain}) ORDER BY registered_domain, agent")
    assert _rows(ledger, "DESCRIBE SELECT * FROM consent_by_domain") == _rows(ledger, f"DESCRIBE SELECT * FROM ({per_domain})")


def test_a_refresh_records_flips_only_where_the_snapshot_changed(tmp_path):
    """Two imports: the second moves `now` to new snapshots for one host that starts disallowing GPTBot.
    consent_changes names that host, with its documents; the view's `now` answers follow."""
    import gzip
    import json

    docs = [{"url": f"https://news.test/a/{i}", "text": f"story {i} " * 20, "timestamp": "2023-06-01T00:00:00Z"} for i in range(4)]
    docs += [{"url": f"https://blog.test/p/{i}", "text": f"post {i} " * 20, "timestamp": "2023-06-01T00:00:00Z"} for i in range(3)]
    shard = tmp_path / "docs.jsonl.gz"
    with gzip.open(shard, "wt") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)

    def snaps(path: Path, when: str, news_body: str):
        with gzip.open(path, "wt") as f:
            for host, body in (("news.test", news_body), ("blog.test", "User-agent: *\nDisallow: /private\n")):
                f.write(json.dumps({"host": host, "url": f"https://{host}/robots.txt", "captured_at": when, "status": 200, "robots_txt": body}) + "\n")

    snaps(tmp_path / "r1.jsonl.gz", "2023-01-01T00:00:00Z", "User-agent: *\nAllow: /\n")
    snaps(tmp_path / "r2.jsonl.gz", "2025-01-01T00:00:00Z", "User-agent: GPTBot\nDisallow: /a/\n\nUser-agent: *\nAllow: /\n")
    ledger = tmp_path / "l.duckdb"
    for args in (["scan", str(shard), "--ledger", str(ledger), "--top", "0", "--quiet"],
                 ["robots", "import", str(tmp_path / "r1.jsonl.gz"), "--ledger", str(ledger)],
                 ["robots", "import", str(tmp_path / "r2.jsonl.gz"), "--ledger", str(ledger)]):
        p = run_cli(args, cwd=tmp_path)
        assert p.returncode == 0, (args, p.stderr)
    assert _rows(ledger, "SELECT host, agent, change, documents FROM consent_changes ORDER BY ALL") == [
        ("news.test", "GPTBot", "started_disallowing", 4)]
    got = _rows(ledger, "SELECT d.host, c.agent, c.crawl_outcome, c.now_outcome, c.now_rule FROM document_consent c "
                        "JOIN documents d USING (shard_id, position) WHERE c.agent IN ('GPTBot', 'CCBot') "
                        "GROUP BY ALL ORDER BY ALL")
    assert got == [("blog.test", "CCBot", "allowed", "allowed", None),
                   ("blog.test", "GPTBot", "allowed", "allowed", None),
                   ("news.test", "CCBot", "allowed", "allowed", "Allow: /"),
                   ("news.test", "GPTBot", "allowed", "disallowed", "Disallow: /a/")]
    # a re-evaluation with nothing new records nothing more
    p = run_cli(["consent", "--evaluate", "--ledger", str(ledger)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert _rows(ledger, "SELECT count(*) FROM consent_changes") == [(1,)]


# the datasheet's consent table per agent as it was computed before 0012, from the per-document, per-agent rows
PER_DOCUMENT_FACTS = """
WITH j AS (SELECT c.agent, c.crawl_outcome, c.now_outcome, d.words
           FROM document_consent c JOIN documents d USING (shard_id, position))
SELECT agent,
       count(*) AS documents,
       sum(words)::BIGINT AS words,
       count(*) FILTER (crawl_outcome = 'disallowed') AS disallowed_docs_crawl,
       count(*) FILTER (now_outcome = 'disallowed') AS disallowed_docs_now,
       count(*) FILTER (crawl_outcome = 'disallowed') / count(*) AS share_docs_disallowed_crawl,
       count(*) FILTER (now_outcome = 'disallowed') / count(*) AS share_docs_disallowed_now,
       coalesce(sum(words) FILTER (crawl_outcome = 'disallowed'), 0) / sum(words) AS share_words_disallowed_crawl,
       coalesce(sum(words) FILTER (now_outcome = 'disallowed'), 0) / sum(words) AS share_words_disallowed_now,
       count(*) FILTER (crawl_outcome = 'unknown') AS unknown_docs_crawl,
       count(*) FILTER (now_outcome = 'unknown') AS unknown_docs_now,
       coalesce(sum(words) FILTER (crawl_outcome = 'allowed'), 0) / nullif(sum(words), 0) AS share_words_allowed_crawl,
       coalesce(sum(words) FILTER (crawl_outcome NOT IN ('allowed', 'disallowed')), 0)
           / nullif(sum(words), 0) AS share_words_unknown_crawl,
       coalesce(sum(words) FILTER (now_outcome = 'allowed'), 0) / nullif(sum(words), 0) AS share_words_allowed_now,
       coalesce(sum(words) FILTER (now_outcome NOT IN ('allowed', 'disallowed')), 0)
           / nullif(sum(words), 0) AS share_words_unknown_now,
       coalesce(sum(words) FILTER (crawl_outcome = 'disallowed'), 0)
           / nullif(sum(words) FILTER (crawl_outcome IN ('allowed', 'disallowed')), 0) AS share_words_disallowed_crawl_known,
       count(*) FILTER (crawl_outcome = 'allowed') AS allowed_docs_crawl,
       count(*) FILTER (now_outcome = 'allowed') AS allowed_docs_now
FROM j GROUP BY agent
ORDER BY share_words_disallowed_now DESC, agent
"""


def test_the_datasheet_consent_table_from_the_group_counts_equals_the_per_document_one(sample, tmp_path):
    """facts' consent by agent reads consent_outcome_counts (summed per robots.txt group); it equals the same
    table computed from document_consent's documents x agents rows, value for value."""
    from provenance.ledger import Ledger
    from provenance.reports.facts import _rows as facts_rows, collect

    ledger = tmp_path / "l.duckdb"
    for args in (["scan", str(sample / "sample" / "*.json.gz"), "--ledger", str(ledger), "--top", "0", "--quiet"],
                 ["robots", "import", str(sample / "sample" / "robots.jsonl.gz"), "--ledger", str(ledger)]):
        p = run_cli(args, cwd=tmp_path)
        assert p.returncode == 0, p.stderr
    with Ledger(str(ledger), read_only=True) as led:
        got = collect(led)["consent"]["by_agent"]
        want = facts_rows(led.con, PER_DOCUMENT_FACTS)
        by_domain = facts_rows(led.con, "SELECT * FROM consent_by_domain ORDER BY ALL")
        per_doc_domain = facts_rows(led.con, """
            SELECT d.registered_domain, c.agent, count(*) AS documents, sum(d.words)::BIGINT AS words,
                   count(*) FILTER (c.crawl_outcome = 'disallowed') AS disallowed_docs_crawl,
                   count(*) FILTER (c.now_outcome = 'disallowed') AS disallowed_docs_now,
                   coalesce(sum(d.words) FILTER (c.now_outcome = 'disallowed'), 0) / sum(d.words) AS share_words_disallowed_now
            FROM document_consent c JOIN documents d USING (shard_id, position) GROUP BY ALL ORDER BY ALL""")
    assert len(got) == 15 and {r["disallowed_docs_now"] > 0 for r in got} == {True, False}
    assert [list(r) for r in got] == [list(r) for r in want]
    assert len(by_domain) == len(per_doc_domain) > 100
    for a, b in [*zip(got, want), *zip(by_domain, per_doc_domain)]:
        assert list(a) == list(b)
        for k, v in b.items():
            assert a[k] == (pytest.approx(v, rel=1e-12) if isinstance(v, float) else v), (a, k)
