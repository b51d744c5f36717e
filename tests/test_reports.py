"""Reports from a real ledger: datasheet, dataset card, EU training-content summary and the HTML page, checked
against SQL over the same ledger, and the page loaded in a real headless Chromium (Debian's, installed by
.ci/run)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import run_cli, sql

CHROMIUM = os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def bare_ledger(small_sample, prefect_api, tmp_path_factory):
    """Scan only: no robots.txt snapshots, no dedup."""
    from provenance.pipelines.scan import scan_corpus

    ledger = tmp_path_factory.mktemp("bare") / "bare.duckdb"
    scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(ledger), quiet=True)
    return ledger


@pytest.fixture(scope="module")
def full_ledger(bare_ledger, small_sample, prefect_api, tmp_path_factory):
    """The same scan plus consent (the sample's robots.txt captures) and near-duplicate clusters."""
    from provenance.cli import main
    from provenance.pipelines.dedup import cluster_duplicates
    from provenance.robots.sample import write_sample_robots

    write_sample_robots(small_sample, seed=7)  # what `provenance sample` writes beside the shards
    ledger = tmp_path_factory.mktemp("full") / "full.duckdb"
    shutil.copy(bare_ledger, ledger)
    assert main(["robots", "import", str(small_sample / "robots.jsonl.gz"), "--ledger", str(ledger)]) == 0
    cluster_duplicates(ledger=str(ledger))
    return ledger


@pytest.fixture(scope="module")
def sheet(full_ledger, prefect_api, tmp_path_factory):
    out = tmp_path_factory.mktemp("sheet") / "datasheet"
    res = run_cli(["datasheet", "--ledger", str(full_ledger), "--out", str(out)], cwd=out.parent, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    assert "datasheet for 3,000 documents written to" in res.stdout
    return out


def _section(md: str, title: str) -> str:
    body = md.split(f"\n{title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


def test_writes_exactly_the_report_files(sheet):
    from provenance.reports import OUTPUTS

    assert sorted(p.name for p in sheet.iterdir()) == sorted(OUTPUTS)
    assert all((sheet / n).stat().st_size > 0 for n in OUTPUTS)


def test_datasheet_numbers_come_from_the_ledger(sheet, full_ledger):
    md = (sheet / "datasheet.md").read_text()
    for title in ("## Motivation", "## Composition", "## Collection process", "## Preprocessing, cleaning, labelling",
                  "## Consent", "## Licenses", "## Verdicts", "## Uses", "## Distribution", "## Maintenance",
                  "## Provenance of this audit"):
        assert f"\n{title}\n" in md, title
    docs, words, byts = sql(full_ledger, "SELECT count(*), sum(words), sum(bytes) FROM documents")[0]
    assert f"| documents | {docs:,} |" in md and f"| words (whitespace-separated tokens) | {words:,} |" in md
    # the C4-style top-domains table: same order and shares as SQL over the ledger
    top = sql(full_ledger, "SELECT registered_domain, sum(words) / (SELECT sum(words) FROM documents) AS s FROM documents "
                           "WHERE registered_domain IS NOT NULL GROUP BY 1 ORDER BY sum(words) DESC, 1 LIMIT 3")
    comp = _section(md, "## Composition")
    lines = [ln for ln in comp.splitlines() if ln.startswith("| 1 |") or ln.startswith("| 2 |") or ln.startswith("| 3 |")]
    assert [ln.split("|")[2].strip() for ln in lines[:3]] == [d for d, _ in top]
    assert [ln.split("|")[6].strip() for ln in lines[:3]] == [f"{100 * s:.2f}%" for _, s in top]
    # consent per agent, crawl time and now, as consent_by_agent says
    agents = sql(full_ledger, """SELECT agent, share_words_disallowed_crawl, share_words_disallowed_now,
                                        (SELECT sum(d.words) FILTER (c.crawl_outcome = 'disallowed') / sum(d.words) FILTER (c.crawl_outcome <> 'unknown')
                                         FROM document_consent c JOIN documents d USING (shard_id, position) WHERE c.agent = a.agent)
                                 FROM consent_by_agent a""")
    consent = _section(md, "## Consent")
    for agent, crawl, now, known in agents:
        assert f"| {agent} | {100 * crawl:.2f}% | {100 * now:.2f}% | {100 * known:.2f}% |" in consent
        assert known >= crawl
    # PII by type and duplicates
    for typ, findings in sql(full_ledger, "SELECT type, findings FROM pii_by_type"):
        assert f"| {typ} | {findings:,} |" in md
    (dups,) = sql(full_ledger, "SELECT duplicates FROM dedup_runs ORDER BY run_at DESC LIMIT 1")[0]
    assert f"{dups:,} redundant copies" in md
    # the audit's own provenance: every run and the rules hash
    for run_id, rules_hash in sql(full_ledger, "SELECT run_id, rules_hash FROM runs"):
        assert run_id in md and rules_hash in md
    # sections only a person can fill are marked, not invented
    assert "**Purpose:** **not provided** (about file: `motivation.purpose`)" in md
    assert "**Funding:** **not provided**" in md
    # no language is recorded by the sample: said plainly
    assert "Not known: no language is recorded" in md


def test_dataset_card_has_hugging_face_metadata(sheet):
    text = (sheet / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["size_categories"] == ["1K<n<10K"]  # 3,000 documents
    assert meta["task_categories"] == ["text-generation"]
    assert meta["license"] == "unknown" and meta["source_datasets"] == ["original"]
    assert meta["provenance"]["documents"] == 3000


def test_eu_summary_lists_the_top_tenth_of_domains_by_size(sheet, full_ledger):
    text = (sheet / "eu-training-summary.md").read_text()
    (n_domains,) = sql(full_ledger, "SELECT count(DISTINCT registered_domain) FROM documents")[0]
    want = math.ceil(n_domains * 0.10)
    by_size = [d for d, in sql(full_ledger, "SELECT registered_domain FROM documents WHERE registered_domain IS NOT NULL "
                                            "GROUP BY 1 ORDER BY sum(bytes) DESC, 1")]
    table = [ln for ln in text.split("Most relevant domain names", 1)[1].splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert len(table) == want
    assert [ln.split("|")[2].strip() for ln in table] == by_size[:want]
    assert f"{want:,} of {n_domains:,} domains" in text
    # how opt-outs were honoured: the agents and the policy
    assert "| GPTBot |" in text and "policy `commercial`" in text
    assert "**Provider:** **not provided**" in text


def test_sme_option_and_about_file(full_ledger, tmp_path):
    from provenance.reports import write_datasheet

    about = tmp_path / "about.yaml"
    about.write_text(yaml.safe_dump({
        "pretty_name": "Sample web corpus", "license": "odc-by", "source_datasets": ["allenai/c4"],
        "motivation": {"purpose": "Testing the audit.", "funding": "Nobody."},
        "provider": {"name": "Example AI", "model_name": "tiny-1", "sme": True},
    }))
    r = write_datasheet(full_ledger, tmp_path / "out", about=about)
    (n_domains,) = sql(full_ledger, "SELECT count(DISTINCT registered_domain) FROM documents")[0]
    assert r.facts["eu"]["domains_listed"] == min(math.ceil(n_domains * 0.05), 1000)
    md = (tmp_path / "out" / "datasheet.md").read_text()
    assert md.startswith("# Datasheet: Sample web corpus")
    assert "**Purpose:** Testing the audit." in md and "**Funding:** Nobody." in md
    assert "**Creators:** **not provided**" in md
    card = yaml.safe_load((tmp_path / "out" / "README.md").read_text().split("---\n")[1])
    assert card["license"] == "odc-by" and card["source_datasets"] == ["allenai/c4"] and card["pretty_name"] == "Sample web corpus"
    eu = (tmp_path / "out" / "eu-training-summary.md").read_text()
    assert "**Provider:** Example AI" in eu and "(SME)" in eu


def test_a_bad_about_file_is_refused_with_its_line(full_ledger, tmp_path):
    bad = tmp_path / "about.yaml"
    bad.write_text("pretty_name: x\nmotivation:\n  purpose: fine\n  budget: 3\n")
    res = run_cli(["datasheet", "--ledger", str(full_ledger), "--out", str(tmp_path / "o"), "--about", str(bad)], cwd=tmp_path)
    assert res.returncode == 2
    assert f"{bad}:4: motivation.budget" in res.stderr
    assert not (tmp_path / "o").exists()
    missing = run_cli(["datasheet", "--ledger", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "o")], cwd=tmp_path)
    assert missing.returncode == 2 and "no ledger at" in missing.stderr and "Traceback" not in missing.stderr


def test_what_the_ledger_cannot_know_is_said_plainly(bare_ledger, tmp_path):
    from provenance.reports import write_datasheet

    r = write_datasheet(bare_ledger, tmp_path / "bare")
    md = (tmp_path / "bare" / "datasheet.md").read_text()
    assert "Not known: robots.txt consent was not evaluated" in md
    assert "Not known: near-duplicates were not clustered (run `provenance dedup`)" in md
    html = (tmp_path / "bare" / "datasheet.html").read_text()
    assert 'id="chart-consent"' in html and "Consent per AI agent: not drawn, robots.txt consent was not evaluated" in html
    eu = (tmp_path / "bare" / "eu-training-summary.md").read_text()
    assert "robots.txt: **not evaluated**" in eu
    assert r.facts["consent"]["available"] is False and r.facts["duplicates"]["available"] is False
    # facts.json is the same dict the reports rendered
    assert json.loads((tmp_path / "bare" / "facts.json").read_text())["corpus"] == r.facts["corpus"]


def test_html_datasheet_in_headless_chromium(sheet, full_ledger, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs Debian's chromium for this test")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    errors, requests = [], []
    shot = tmp_path / "datasheet.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((sheet / "datasheet.html").resolve().as_uri(), wait_until="load")
            imgs = page.evaluate("""() => [...document.querySelectorAll('figure')].map(f => {
                const i = f.querySelector('img');
                return {id: f.id, complete: i ? i.complete : null, w: i ? i.naturalWidth : 0, h: i ? i.naturalHeight : 0};
            })""")
            title = page.title()
            top_domain_cell = page.locator("#datasheet table").nth(1).locator("tbody tr").first.locator("td").nth(1).inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert title == "Datasheet: (dataset name not provided)"
    assert [i["id"] for i in imgs] == ["chart-top-domains", "chart-consent", "chart-licenses", "chart-pii", "chart-crawl-dates"]
    for i in imgs:
        assert i["complete"] and i["w"] > 200 and i["h"] > 100, i
    assert errors == []
    assert all(u.startswith(("file:", "data:")) for u in requests), "the page must be self-contained"
    (top,) = sql(full_ledger, "SELECT registered_domain FROM composition_by_domain ORDER BY rank LIMIT 1")[0]
    assert top_domain_cell == top
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_datasheet_flow_posts_its_tables_as_artifacts(full_ledger, prefect_api, tmp_path):
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from provenance.pipelines.datasheet import datasheet

    r = datasheet(ledger=str(full_ledger), out_dir=str(tmp_path / "flow-out"))
    assert r["documents"] == 3000 and Path(r["files"]["datasheet.html"]).exists()

    async def latest(key):
        async with get_client() as client:
            arts = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                               sort="CREATED_DESC", limit=1)
            return arts[0]

    top = asyncio.run(latest("datasheet-top-domains"))
    rows = json.loads(top.data) if isinstance(top.data, str) else top.data
    (first,) = sql(full_ledger, "SELECT registered_domain FROM composition_by_domain ORDER BY rank LIMIT 1")[0]
    assert rows[0]["registered_domain"] == first and len(rows) == 30
    consent = asyncio.run(latest("datasheet-consent"))
    agents = {a["agent"] for a in (json.loads(consent.data) if isinstance(consent.data, str) else consent.data)}
    assert agents == {a for a, in sql(full_ledger, "SELECT agent FROM consent_by_agent")}
    md = asyncio.run(latest("datasheet"))
    assert md.type == "markdown" and "## Consent" in md.data


def test_an_older_or_foreign_ledger_gets_a_clear_error(bare_ledger, tmp_path):
    from provenance.errors import ProvenanceError
    from provenance.reports import write_datasheet

    old = tmp_path / "old.duckdb"
    shutil.copy(bare_ledger, old)
    con = duckdb.connect(str(old))
    con.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    con.close()
    with pytest.raises(ProvenanceError, match=r"has schema version \d+, this provenance reads version \d+: .*provenance verdicts"):
        write_datasheet(old, tmp_path / "o1")
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(ProvenanceError, match="is not a provenance ledger"):
        write_datasheet(foreign, tmp_path / "o2")
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
