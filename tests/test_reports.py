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
    agents = sql(full_ledger, """
        SELECT c.agent, coalesce(sum(d.words) FILTER (c.crawl_outcome = 'disallowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.crawl_outcome = 'allowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.crawl_outcome = 'unknown'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'disallowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'allowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'unknown'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.crawl_outcome = 'disallowed'), 0)
                   / sum(d.words) FILTER (c.crawl_outcome <> 'unknown')
        FROM document_consent c JOIN documents d USING (shard_id, position) GROUP BY 1""")
    consent = _section(md, "## Consent")
    for agent, *shares in agents:
        # disallowed, allowed and unknown (no snapshot then) at crawl time and now: unknown is not left out
        assert "| " + " | ".join([agent] + [f"{100 * x:.2f}%" for x in shares]) + " |" in consent
        assert sum(shares[:3]) == pytest.approx(1) and sum(shares[3:6]) == pytest.approx(1)
        assert shares[2] > 0.3  # the sample: about half the words have no robots.txt snapshot at crawl time
        assert shares[6] >= shares[0]
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
    # no about file: nothing that only a person can say is asserted (no license, task or source datasets)
    assert not {"task_categories", "license", "source_datasets", "pretty_name", "language"} & set(meta)
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
        "task_categories": ["text-generation"],
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
    assert card["task_categories"] == ["text-generation"]  # because the about file says so
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


# -- reports do not mislead (issue 14, point 7) ---------------------------------------------------------------
@pytest.fixture(scope="module")
def facts(full_ledger):
    from provenance.ledger import Ledger
    from provenance.reports.facts import collect

    with Ledger(full_ledger, read_only=True) as led:
        return collect(led)


def test_consent_shows_unknown_as_its_own_share(sheet, facts, full_ledger):
    import matplotlib.pyplot as plt

    from provenance.reports.charts import consent_data, draw_consent

    truth = {agent: ((d, a, u), (dn, an, un)) for agent, d, a, u, dn, an, un in sql(full_ledger, """
        SELECT c.agent, coalesce(sum(d.words) FILTER (c.crawl_outcome = 'disallowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.crawl_outcome = 'allowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.crawl_outcome = 'unknown'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'disallowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'allowed'), 0) / sum(d.words),
               coalesce(sum(d.words) FILTER (c.now_outcome = 'unknown'), 0) / sum(d.words)
        FROM document_consent c JOIN documents d USING (shard_id, position) GROUP BY 1""")}
    rows = consent_data(facts)
    assert {r["agent"] for r in rows} == set(truth)
    for r in rows:
        for i, when in enumerate(("crawl", "now")):
            got = (r[when]["disallowed"], r[when]["allowed"], r[when]["unknown"])
            assert got == pytest.approx(truth[r["agent"]][i]) and sum(got) == pytest.approx(1)
    assert min(r["crawl"]["unknown"] for r in rows) > 0.3  # about half the sample's words: never left out
    fig = draw_consent(facts)
    try:
        ax = fig.axes[0]
        assert ax.get_xlim() == (0.0, 1.0)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["disallowed", "allowed", "unknown"]
        # three stacked parts per bar, drawn with the widths above; the unknown part is the third
        assert len(ax.containers) == 3
        assert [b.get_width() for b in ax.containers[2]] == pytest.approx(
            [r[w]["unknown"] for r in rows for w in ("crawl", "now")])
    finally:
        plt.close(fig)
    # and in every table that gives the consent shares
    assert "| agent | disallowed at crawl time | unknown at crawl time | disallowed now | unknown now |" in (
        sheet / "README.md").read_text()
    eu = (sheet / "eu-training-summary.md").read_text()
    assert "| agent | words disallowed at crawl time | unknown at crawl time (no snapshot) |" in eu
    g = next(r for r in rows if r["agent"] == "GPTBot")
    assert f"| GPTBot | {100 * g['crawl']['disallowed']:.2f}% | {100 * g['crawl']['unknown']:.2f}% |" in eu


def test_share_charts_use_a_fixed_0_to_100_percent_axis(facts):
    import matplotlib.pyplot as plt

    from provenance.reports.charts import draw_consent, draw_licenses, draw_top_domains, pct_label

    for draw in (draw_top_domains, draw_licenses, draw_consent):
        fig = draw(facts)
        try:
            ax = fig.axes[0]
            fig.canvas.draw()
            assert ax.get_xlim() == (0.0, 1.0), draw.__name__  # the top domain's 17.9% is not drawn as a full bar
            assert [t.get_text() for t in ax.get_xticklabels()] == ["0%", "25%", "50%", "75%", "100%"]
            assert ax.get_xlabel() == "share of all words (%)"
            if draw is not draw_consent:  # every bar has its value, with its unit, beside it
                values = [t.get_text().strip() for t in ax.texts]
                assert len(values) == len(ax.patches) and all(v.endswith("%") for v in values)
        finally:
            plt.close(fig)
    assert [pct_label(x) for x in (0, 0.00003, 0.0007, 0.179)] == ["0%", "<0.01%", "0.07%", "17.9%"]


def test_crawl_dates_are_a_continuous_time_axis(facts, full_ledger):
    import matplotlib.pyplot as plt

    from provenance.reports.charts import crawl_dates_data, draw_crawl_dates

    # missing years are zeros, not dropped
    gap = {"crawl_months": [{"month": "2013-05", "documents": 3}, {"month": "2016-01", "documents": 2}],
           "corpus": {"no_crawl_date": 4}}
    assert crawl_dates_data(gap) == {"unit": "year", "labels": ["2013", "2014", "2015", "2016"],
                                     "documents": [3, 0, 0, 2], "undated": 4}
    short = {"crawl_months": [{"month": "2023-11", "documents": 1}, {"month": "2024-02", "documents": 5}],
             "corpus": {"no_crawl_date": 0}}
    d = crawl_dates_data(short)
    assert (d["unit"], d["labels"], d["documents"]) == ("month", ["2023-11", "2023-12", "2024-01", "2024-02"], [1, 0, 0, 5])
    # the sample: every year from the first crawl date to the last
    years = dict(sql(full_ledger, "SELECT year(crawl_date), count(*) FROM documents WHERE crawl_date IS NOT NULL GROUP BY 1"))
    d = crawl_dates_data(facts)
    assert d["labels"] == [str(y) for y in range(min(years), max(years) + 1)]
    assert d["documents"] == [years.get(y, 0) for y in range(min(years), max(years) + 1)]
    # readable labels: horizontal, at most 12, none overlapping, also for 24 months and for 40 years
    many_months = {"crawl_months": [{"month": f"{2019 + i // 12}-{1 + i % 12:02d}", "documents": i} for i in range(24)],
                   "corpus": {"no_crawl_date": 0}}
    many_years = {"crawl_months": [{"month": f"{1980 + i}-06", "documents": 1} for i in range(0, 40, 3)],
                  "corpus": {"no_crawl_date": 0}}
    for f in (facts, gap, many_months, many_years):
        fig = draw_crawl_dates(f)
        try:
            ax = fig.axes[0]
            fig.canvas.draw()
            ticks = [t for t in ax.get_xticklabels() if t.get_text()]
            assert 0 < len(ticks) <= 12 and all(t.get_rotation() == 0 for t in ticks)
            boxes = sorted((t.get_window_extent() for t in ticks), key=lambda b: b.x0)
            assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels overlap"
            assert ax.get_ylim()[0] == 0
            assert len(ax.patches) == len(crawl_dates_data(f)["labels"])  # one bar per year or month, zeros too
        finally:
            plt.close(fig)
    fig = draw_crawl_dates(gap)
    assert "4 documents without a crawl date" in fig.axes[0].get_title()
    plt.close(fig)


def test_languages_table_includes_documents_without_a_language(bare_ledger, tmp_path):
    from provenance.reports import write_datasheet

    led = tmp_path / "langs.duckdb"
    shutil.copy(bare_ledger, led)
    con = duckdb.connect(str(led))
    con.execute("UPDATE documents SET language = CASE WHEN position % 3 = 0 THEN 'en' WHEN position % 3 = 1 THEN 'de' END")
    con.close()
    (unknown_docs,) = sql(led, "SELECT count(*) FROM documents WHERE language IS NULL")[0]
    assert unknown_docs > 0
    r = write_datasheet(led, tmp_path / "out")
    rows = r.facts["languages"]["rows"]
    assert rows[-1]["unknown"] and rows[-1]["documents"] == unknown_docs
    assert sum(x["documents"] for x in rows) == 3000 and sum(x["share_words"] for x in rows) == pytest.approx(1)
    md = (tmp_path / "out" / "datasheet.md").read_text()
    assert f"| *(not recorded)* | {unknown_docs:,} | {100 * unknown_docs / 3000:.2f}% |" in md
    card = yaml.safe_load((tmp_path / "out" / "README.md").read_text().split("---\n")[1])
    assert card["multilinguality"] == "multilingual"  # two recorded languages
    # one recorded language and documents without one: monolingual would be a guess, so it is left out
    con = duckdb.connect(str(led))
    con.execute("UPDATE documents SET language = NULL WHERE language = 'de'")
    con.close()
    write_datasheet(led, tmp_path / "out2")
    card = yaml.safe_load((tmp_path / "out2" / "README.md").read_text().split("---\n")[1])
    assert "multilinguality" not in card and "language" not in card


def test_no_absolute_local_path_in_any_report(sheet, small_sample, full_ledger):
    from provenance.reports import OUTPUTS

    base = small_sample.parent.parent  # pytest's temporary root, the parent of both the sample and the ledger
    for name in OUTPUTS:
        text = (sheet / name).read_text()
        assert str(base) not in text and str(small_sample) not in text and str(full_ledger) not in text, name
    md = (sheet / "datasheet.md").read_text()
    # the shards' folder is outside the ledger's folder: by its name only
    assert f"  - `{small_sample.name}`: 3 shard(s), 3,000 documents" in md
    assert "from the ledger `full.duckdb`" in md
    facts = json.loads((sheet / "facts.json").read_text())
    assert facts["ledger"] == "full.duckdb" and [s["location"] for s in facts["sources"]] == [small_sample.name]


def test_source_locations_never_show_credentials_keys_or_absolute_paths():
    from provenance.reports.facts import source_location

    base = "/home/user/audit"
    assert source_location("/home/user/audit/shards/c4", base) == "./shards/c4"
    assert source_location("/home/user/audit", base) == "."
    assert source_location("/home/user/other/c4-en", base) == "c4-en"
    assert source_location("file:///home/user/audit/x", base) == "./x"
    assert source_location("s3://AKIAXXXX:secret@bucket/prefix/c4", base) == "s3://bucket"
    assert source_location("https://user:pw@data.example.org:8443/c4?X-Amz-Signature=abc", base) == "https://data.example.org:8443"
    assert source_location("gs://bucket/a/b", None) == "gs://bucket"
