"""`provenance diff`: two real ledgers that differ in known ways (one more shard, robots.txt consent imported,
another policy), and the diff reports exactly those changes, checked against SQL over both files; a ledger
against itself (or a copy of itself) shows no change anywhere."""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import pytest

from conftest import sql
from provenance.errors import ProvenanceError
from provenance.ledger import Ledger
from provenance.reports.diff import diff_ledgers, render_diff


def both(a, b, q):
    """SQL over the two ledgers attached as `a` and `b`."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        return con.execute(q).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def ledgers(small_sample, prefect_api, tmp_path_factory):
    """A: two of the three JSON Lines shards, scanned. B: all three scanned, then the sample's robots.txt
    captures imported (consent evaluated, verdicts re-evaluated). R: B re-evaluated under the `research`
    policy."""
    from provenance.cli import main
    from provenance.pipelines.scan import scan_corpus
    from provenance.robots.sample import write_sample_robots
    from provenance.verdict import evaluate

    d = tmp_path_factory.mktemp("diff")
    shards = sorted(small_sample.glob("c4-sample.*.json.gz"))
    assert len(shards) == 3
    a, b, r = d / "a.duckdb", d / "b.duckdb", d / "r.duckdb"
    scan_corpus(inputs=[str(p) for p in shards[:2]], ledger=str(a), quiet=True)
    scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(b), quiet=True)
    robots, _ = write_sample_robots(small_sample, seed=7)  # deterministic: the same bytes every time
    assert main(["robots", "import", str(robots), "--ledger", str(b)]) == 0
    shutil.copy(b, r)
    with Ledger(r) as led:
        evaluate(led, None, "research")
    return {"a": a, "b": b, "r": r, "third": shards[2], "dir": d}


@pytest.fixture(scope="module")
def d_ab(ledgers):
    return diff_ledgers(ledgers["a"], ledgers["b"], top=10)


def test_is_json_and_totals_are_the_third_shard(ledgers, d_ab):
    a, b = ledgers["a"], ledgers["b"]
    assert json.loads(json.dumps(d_ab)) == d_ab
    docs, words, byts = sql(b, "SELECT count(*), sum(d.words), sum(d.bytes) FROM documents d JOIN shards s USING (shard_id) "
                               "WHERE s.uri = ?", [str(ledgers["third"])])[0]
    assert docs > 0
    t = d_ab["totals"]
    assert t["documents"] == {"a": 3000 - docs, "b": 3000, "change": docs}
    assert t["words"]["change"] == words and t["bytes"]["change"] == byts
    assert t["shards"] == {"a": 2, "b": 3, "change": 1}
    assert t["domains"]["a"] == sql(a, "SELECT count(DISTINCT registered_domain) FROM documents")[0][0]
    assert t["quarantined"]["change"] == 0
    m = d_ab["documents"]
    assert sql(b, "SELECT count(DISTINCT url) FROM documents")[0][0] == 3000  # so URLs identify documents here
    assert (m["in_both"], m["added"], m["removed"]) == (3000 - docs, docs, 0)
    # the sample has no ids of its own: the generated ones (shard:position) are not used to match
    assert m["matched_by_doc_id"] == 0 and m["matched_by_url"] == 3000 - docs
    assert m["doc_ids_from_source"] == {"a": 0, "b": 0}
    assert d_ab["changed"] is True


def test_composition_changes_match_sql_over_both_ledgers(ledgers, d_ab):
    a, b = ledgers["a"], ledgers["b"]
    share = """SELECT coalesce(registered_domain, '(no registered domain)'), sum(words) / sum(sum(words)) OVER ()
               FROM {}.documents GROUP BY registered_domain"""
    sa = dict(both(a, b, share.format("a")))
    sb = dict(both(a, b, share.format("b")))
    c = d_ab["composition"]
    assert c["domains"]["domains"] == len(set(sa) | set(sb))
    assert c["domains"]["only_in_b"] == len(set(sb) - set(sa)) and c["domains"]["only_in_a"] == len(set(sa) - set(sb))
    changes = {dom: sb.get(dom, 0.0) - sa.get(dom, 0.0) for dom in set(sa) | set(sb)}
    biggest = sorted(changes.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:10]
    assert [r["registered_domain"] for r in c["share_changes"]] == [k for k, _ in biggest]
    for r in c["share_changes"]:
        assert r["change"] == pytest.approx(changes[r["registered_domain"]], abs=1e-12)
        assert r["share_words_a"] == pytest.approx(sa.get(r["registered_domain"], 0.0))
    top = "SELECT registered_domain FROM {}.composition_by_domain WHERE rank <= 10"
    ta = {x for (x,) in both(a, b, top.format("a"))}
    tb = {x for (x,) in both(a, b, top.format("b"))}
    assert {r["registered_domain"] for r in c["entering_top"]} == tb - ta
    assert {r["registered_domain"] for r in c["leaving_top"]} == ta - tb
    cats = dict(sql(b, "SELECT category, share_words FROM composition_by_category"))
    assert {r["category"]: r["share_words_b"] for r in c["categories"]} == pytest.approx(cats)


def test_consent_is_unavailable_on_the_side_that_never_evaluated_it(ledgers, d_ab):
    cs = d_ab["consent"]
    assert cs["available"] == {"a": False, "b": True}
    assert "not evaluated" in cs["why"]["a"] and cs["why"]["b"] is None
    expected = {agent: (crawl, now) for agent, crawl, now in sql(
        ledgers["b"], "SELECT agent, share_words_disallowed_crawl, share_words_disallowed_now FROM consent_by_agent")}
    assert {r["agent"] for r in cs["by_agent"]} == set(expected) and "GPTBot" in expected
    for r in cs["by_agent"]:
        for k in ("share_words_disallowed_crawl", "share_words_disallowed_now"):
            assert r[k]["a"] is None and r[k]["change"] is None  # nothing invented for A
        assert (r["share_words_disallowed_crawl"]["b"], r["share_words_disallowed_now"]["b"]) == expected[r["agent"]]
        assert r["in_a"] is False and r["in_b"] is True
    assert cs["only_in_a"] == cs["only_in_b"] == []  # only meaningful when both sides evaluated consent


def _transitions_sql(a, b):
    return {(x, y): n for x, y, n in both(a, b, """
        SELECT va.verdict, vb.verdict, count(*)
        FROM a.documents da JOIN a.document_verdicts va USING (shard_id, position)
        JOIN b.documents db ON db.url = da.url
        JOIN b.document_verdicts vb ON vb.shard_id = db.shard_id AND vb.position = db.position
        GROUP BY ALL""")}


def test_verdict_transitions_equal_a_direct_join(ledgers, d_ab):
    a, b = ledgers["a"], ledgers["b"]
    v = d_ab["verdicts"]
    assert v["available"] == {"a": True, "b": True}
    assert v["a"]["policy"] == v["b"]["policy"] == sql(b, "SELECT policy FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1")[0][0]
    assert v["rules_changed"] is False and v["policy_changed"] is False
    counts = {r["verdict"]: (r["documents"]["a"], r["documents"]["b"]) for r in v["counts"]}
    ca, cb = dict(sql(a, "SELECT verdict, count(*) FROM document_verdicts GROUP BY 1")), dict(
        sql(b, "SELECT verdict, count(*) FROM document_verdicts GROUP BY 1"))
    assert counts == {k: (ca.get(k, 0), cb.get(k, 0)) for k in set(ca) | set(cb)}

    vd = v["documents"]
    got = {(t["from"], t["to"]): t["documents"] for t in vd["transitions"]}
    expected = _transitions_sql(a, b)
    assert got == expected
    changed = sum(n for (x, y), n in expected.items() if x != y)
    assert vd["changed"] == changed > 0 and vd["compared"] == d_ab["documents"]["in_both"]
    assert expected.get(("include", "exclude"), 0) > 0  # consent in B excludes documents A included
    assert vd["unchanged"] + vd["reasons_changed"] == sum(n for (x, y), n in expected.items() if x == y)
    assert vd["reasons_changed"] == both(a, b, """
        SELECT count(*) FROM a.documents da JOIN a.document_verdicts va USING (shard_id, position)
        JOIN b.documents db ON db.url = da.url
        JOIN b.document_verdicts vb ON vb.shard_id = db.shard_id AND vb.position = db.position
        WHERE va.verdict = vb.verdict AND va.reasons <> vb.reasons""")[0][0]

    # the sample: changed documents only, as they are in each ledger, every kind of change represented
    assert 0 < len(vd["sample"]) <= 20
    truth = {url: (va, ra, vb, rb) for url, va, ra, vb, rb in both(a, b, """
        SELECT da.url, va.verdict, va.reasons, vb.verdict, vb.reasons
        FROM a.documents da JOIN a.document_verdicts va USING (shard_id, position)
        JOIN b.documents db ON db.url = da.url
        JOIN b.document_verdicts vb ON vb.shard_id = db.shard_id AND vb.position = db.position""")}
    for s in vd["sample"]:
        assert s["verdict_a"] != s["verdict_b"]
        assert truth[s["url"]] == (s["verdict_a"], s["reasons_a"], s["verdict_b"], s["reasons_b"])
    assert {(s["verdict_a"], s["verdict_b"]) for s in vd["sample"]} == {k for k in expected if k[0] != k[1]}
    robots_exclusions = [s for s in vd["sample"] if s["verdict_b"] == "exclude"
                         and any(x.startswith("robots:") for x in s["reasons_b"])]
    assert robots_exclusions


def test_another_policy_on_the_same_documents(ledgers):
    b, r = ledgers["b"], ledgers["r"]
    d = diff_ledgers(b, r)
    v = d["verdicts"]
    assert v["a"]["policy"] == "commercial" and v["b"]["policy"] == "research" and v["policy_changed"] is True
    assert d["documents"]["in_both"] == 3000 and d["documents"]["added"] == d["documents"]["removed"] == 0
    assert {(t["from"], t["to"]): t["documents"] for t in v["documents"]["transitions"]} == _transitions_sql(b, r)
    # nothing but the verdicts differ
    assert all(x["change"] == 0 for x in d["totals"].values())
    assert d["composition"]["domains"]["share_changed"] == 0
    assert all(x["share_words_disallowed_now"]["change"] == 0 for x in d["consent"]["by_agent"])
    assert all(x["findings"]["change"] == 0 for x in d["pii"]["by_type"])
    assert d["changed"] is True
    text = render_diff(d)
    assert "the policy changed" in text


@pytest.mark.parametrize("copy", [False, True], ids=["same-file", "copy"])
def test_a_ledger_against_itself_shows_no_change(ledgers, copy):
    b = ledgers["b"]
    other = b
    if copy:
        other = ledgers["dir"] / "b-copy.duckdb"
        shutil.copy(b, other)
    d = diff_ledgers(b, other)
    assert d["changed"] is False
    assert all(v["change"] == 0 for v in d["totals"].values())
    c = d["composition"]
    assert c["entering_top"] == c["leaving_top"] == c["share_changes"] == []
    assert c["domains"]["only_in_a"] == c["domains"]["only_in_b"] == c["domains"]["share_changed"] == 0
    assert all(r["change"] == 0 for r in c["categories"])
    assert d["consent"]["available"] == {"a": True, "b": True}
    assert all(r["share_words_disallowed_crawl"]["change"] == 0 and r["share_words_disallowed_now"]["change"] == 0
               for r in d["consent"]["by_agent"])
    assert d["consent"]["only_in_a"] == d["consent"]["only_in_b"] == []
    vd = d["verdicts"]["documents"]
    assert vd["changed"] == vd["reasons_changed"] == 0 and vd["sample"] == []
    assert all(t["from"] == t["to"] for t in vd["transitions"]) and vd["unchanged"] == 3000
    assert (d["documents"]["added"], d["documents"]["removed"], d["documents"]["in_both"]) == (0, 0, 3000)
    assert all(r["documents"]["change"] == 0 for r in d["verdicts"]["counts"])
    assert all(r["findings"]["change"] == 0 and r["documents"]["change"] == 0 for r in d["pii"]["by_type"])
    assert all(r["share_words"]["change"] == 0 for r in d["licenses"])
    assert d["audit"]["rules_changed"] is False
    text = render_diff(d)
    assert "no differences" in text and " pp)" in text and "(+" not in text and "(-" not in text


def test_render_text_and_markdown(ledgers, d_ab):
    b = ledgers["b"]
    t = d_ab["totals"]["documents"]
    text = render_diff(d_ab)
    md = render_diff(d_ab, "markdown")
    assert f"| documents | {t['a']:,} -> {t['b']:,} (+{t['change']:,}) |" in md
    assert re.search(rf"\n  documents +{t['a']:,} -> +{t['b']:,} \(\+{t['change']:,}\)\n", text)  # aligned
    for out in (text, md):
        assert "robots.txt consent was not evaluated" in out  # A's side, said as the ledger says it
        assert "not available" in out
    # sections, in order
    titles = ["Totals", "Composition", "Consent (robots.txt)", "Verdicts", "PII", "Licenses", "Rules and versions"]
    assert [text.index(f"\n{s}\n") for s in titles] == sorted(text.index(f"\n{s}\n") for s in titles)
    assert [md.index(f"\n## {s}\n") for s in titles] == sorted(md.index(f"\n## {s}\n") for s in titles)
    # a verdict share as in A -> in B (signed percentage points)
    inc = next(r for r in d_ab["verdicts"]["counts"] if r["verdict"] == "exclude")["share_words"]
    pp = 100 * inc["change"]
    assert f"{100 * inc['a']:.2f}% -> {100 * inc['b']:.2f}% ({pp:+.2f} pp)" in md
    # consent: B's number, and nothing for A
    g = sql(b, "SELECT share_words_disallowed_now FROM consent_by_agent WHERE agent = 'GPTBot'")[0][0]
    line = next(x for x in text.splitlines() if x.strip().startswith("GPTBot"))
    assert line.count("n/a -> ") == 2 and f"{100 * g:.2f}%" in line
    # transitions table rows
    tr = d_ab["verdicts"]["documents"]["transitions"]
    ie = next(x["documents"] for x in tr if (x["from"], x["to"]) == ("include", "exclude"))
    assert f"| include | exclude | {ie:,} |" in md
    assert d_ab["audit"]["a"]["scan_rules_hash"] in text
    with pytest.raises(ValueError):
        render_diff(d_ab, "html")


# -- matching by doc_id and by URL, and a side without verdicts: small hand-built ledgers -----------------
def _hand_ledger(path, shard, docs, verdicts):
    """docs: (position, doc_id or None for a generated one, url); verdicts: {position: (verdict, reasons)}."""
    from provenance.verdict import evaluate

    with Ledger(path) as led:
        for pos, doc_id, url in docs:
            host = url.split("/")[2]
            led.con.execute("INSERT INTO documents (shard_id, position, doc_id, url, host, registered_domain, bytes, words, run_id) "
                            "VALUES (?, ?, ?, ?, ?, ?, 100, 10, 'r')", [shard, pos, doc_id or f"{shard}:{pos}", url, host, host])
        evaluate(led)
        for pos, (verdict, reasons) in verdicts.items():
            led.con.execute("UPDATE document_verdicts SET verdict = ?, reasons = ? WHERE shard_id = ? AND position = ?",
                            [verdict, reasons, shard, pos])


def test_documents_match_by_doc_id_then_url(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    _hand_ledger(a, "sa", [(1, "id-1", "https://x.example/1"), (2, "id-2", "https://x.example/2"),
                           (3, None, "https://y.example/dup"), (4, None, "https://y.example/dup"),
                           (5, None, "https://y.example/only-a")],
                 {4: ("review", ["domain:y.example"])})
    _hand_ledger(b, "sb", [(1, "id-1", "https://x.example/1-moved"),   # same id, new URL: matched by id
                           (2, None, "https://y.example/dup"), (3, None, "https://y.example/dup"),  # paired in order
                           (4, "id-9", "https://x.example/2"),         # no id in common: matched by URL
                           (5, None, "https://y.example/only-b")],
                 {1: ("exclude", ["domain:x.example"])})
    d = diff_ledgers(a, b)
    m = d["documents"]
    assert (m["in_both"], m["matched_by_doc_id"], m["matched_by_url"], m["removed"], m["added"]) == (4, 1, 3, 1, 1)
    assert m["doc_ids_from_source"] == {"a": 2, "b": 2}
    vd = d["verdicts"]["documents"]
    assert {(t["from"], t["to"]): t["documents"] for t in vd["transitions"]} == {
        ("include", "exclude"): 1, ("review", "include"): 1, ("include", "include"): 2}
    assert {(s["url"], s["verdict_a"], s["verdict_b"], s["matched_by"]) for s in vd["sample"]} == {
        ("https://x.example/1", "include", "exclude", "doc_id"), ("https://y.example/dup", "review", "include", "url")}
    assert "matched 1 by doc_id, 3 by URL" in render_diff(d)


def test_a_side_without_verdicts_is_reported_not_invented(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    _hand_ledger(b, "s", [(1, None, "https://x.example/1"), (2, None, "https://x.example/2")], {2: ("exclude", ["domain:x.example"])})
    shutil.copy(b, a)
    with Ledger(a) as led:
        led.con.execute("DELETE FROM document_verdicts")
        led.con.execute("DELETE FROM verdict_runs")
    d = diff_ledgers(a, b)
    v = d["verdicts"]
    assert v["available"] == {"a": False, "b": True} and v["a"] is None and v["b"]["policy"]
    assert v["documents"]["available"] is False
    assert {r["verdict"]: r["documents"] for r in v["counts"]} == {
        "include": {"a": None, "b": 1, "change": None}, "exclude": {"a": None, "b": 1, "change": None}}
    assert v["rules_changed"] is None and d["changed"] is True
    text = render_diff(d)
    assert "A: not available: no verdicts were evaluated" in text
    assert "Per-document verdict changes: not available" in text
    # everything else is the same
    assert all(x["change"] == 0 for x in d["totals"].values())


def test_missing_ledger_is_a_clear_error(tmp_path, ledgers):
    with pytest.raises(ProvenanceError, match="no ledger at"):
        diff_ledgers(tmp_path / "nope.duckdb", ledgers["b"])


def test_cli_prints_the_diff_and_exit_code_says_whether_anything_changed(ledgers, tmp_path):
    from conftest import run_cli

    a, b = str(ledgers["a"]), str(ledgers["b"])
    res = run_cli(["diff", a, b], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("What changed between two audits") and "Transitions (verdict in A -> verdict in B)" in res.stdout
    assert run_cli(["diff", a, b, "--exit-code"], cwd=tmp_path).returncode == 1
    assert run_cli(["diff", b, b, "--exit-code"], cwd=tmp_path).returncode == 0
    js = run_cli(["diff", a, b, "--format", "json"], cwd=tmp_path)
    assert json.loads(js.stdout)["documents"]["added"] == sql(b, "SELECT count(*) FROM documents")[0][0] - sql(a, "SELECT count(*) FROM documents")[0][0]
    md = run_cli(["diff", a, b, "--format", "markdown"], cwd=tmp_path)
    assert "| documents |" in md.stdout
    bad = run_cli(["diff", a, str(tmp_path / "nope.duckdb")], cwd=tmp_path)
    assert bad.returncode == 2 and "no ledger at" in bad.stderr and "Traceback" not in bad.stderr
