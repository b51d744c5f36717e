"""The opt-out signals of 2025-2026 end to end, through the commands a user runs on the embedded sample: robots.txt
snapshots naming an RSL license or AIPREF Content-Usage rules -> signals -> verdict reasons -> the evidence view ->
the datasheet and the EU summary's counts by deciding protocol."""

from __future__ import annotations

import gzip
import json
import re
from urllib.parse import urlsplit

from conftest import run_cli, sql


def test_sample_rsl_and_aipref_reach_verdicts_and_datasheet(small_sample, prefect_api, tmp_path):
    from provenance.robots.sample import write_sample_robots

    robots, _ = write_sample_robots(small_sample, seed=7)
    latest: dict[str, str] = {}
    with gzip.open(robots) as f:
        for line in f:
            c = json.loads(line)
            if c["captured_at"] >= latest.get(c["host"], ("", ""))[0]:
                latest[c["host"]] = (c["captured_at"], c["robots_txt"])
    rsl_hosts = {h for h, (_, body) in latest.items() if "License: " in body}
    aipref_hosts = {h for h, (_, body) in latest.items() if "Content-Usage: " in body}
    assert rsl_hosts and aipref_hosts

    ledger = tmp_path / "s.duckdb"
    for args in (["scan", str(small_sample / "*.json.gz"), "--ledger", str(ledger), "--quiet"],
                 ["robots", "import", str(robots), "--rsl-dir", str(small_sample / "rsl"), "--ledger", str(ledger)]):
        res = run_cli(args, cwd=tmp_path, api_url=prefect_api)
        assert res.returncode == 0, res.stderr
    assert f"{len(rsl_hosts):,} parsed" in res.stdout  # every license the sample's robots.txt name was read

    rows = sql(ledger, "SELECT d.url, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)")
    by_reason: dict[str, set[str]] = {"signal:rsl:train-ai": set(), "signal:content-usage-robots:train-ai": set()}
    hosts_of = {}
    for url, reasons in rows:
        host = urlsplit(url).hostname
        hosts_of[url] = host
        for r in reasons or []:
            if r in by_reason:
                by_reason[r].add(url)
    # RSL: the license covers "/" and prohibits ai-train: every document of those hosts, no other
    rsl_docs = {u for u, h in hosts_of.items() if h in rsl_hosts}
    assert rsl_docs and by_reason["signal:rsl:train-ai"] == rsl_docs
    # AIPREF: train-ai=n for the site, =y under /blog/ (the longer match wins)
    aipref_docs = {u for u, h in hosts_of.items() if h in aipref_hosts}
    blog = {u for u in aipref_docs if urlsplit(u).path.startswith("/blog/")}
    assert blog and aipref_docs - blog
    assert by_reason["signal:content-usage-robots:train-ai"] == aipref_docs - blog

    # the evidence view: RSL decided train-ai now for the RSL hosts' documents (nothing on their pages, their
    # robots.txt groups allow everything), with the license URL and clause as evidence
    ev = sql(ledger, """SELECT d.url, e.evidence FROM document_signal_evidence e JOIN documents d USING (shard_id, position)
                        WHERE e.use = 'train-ai' AND e.moment = 'now' AND e.decides AND e.protocol = 'rsl' AND NOT e.allowed""")
    assert {u for u, _ in ev} == rsl_docs
    assert all(re.search(r"License: https://[^/]+/license\.xml .*prohibits usage ai-train", e) for _, e in ev)

    out = tmp_path / "sheet"
    res = run_cli(["datasheet", "--ledger", str(ledger), "--out", str(out)], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    md = (out / "datasheet.md").read_text()
    section = md.split("### Which protocol decided", 1)[1].split("\n## ", 1)[0]
    row = [ln for ln in section.splitlines() if ln.startswith("| train-ai | now | rsl | refused |")]
    assert len(row) == 1 and f"| {len(rsl_docs):,} |" in row[0]
    eu = (out / "eu-training-summary.md").read_text()
    assert f"| train-ai | now | rsl | refused | {len(rsl_docs):,} |" in eu
