"""Rules as validated, layered data: check, import, apply to the ledger; rules changes re-read no shard."""

from __future__ import annotations

import gzip
import json

import pytest

from conftest import run_cli, shared_path
from provenance.ledger import Ledger
from provenance.ruleset import RulesError, check, import_dpi_categories, load_categories, load_licenses


def test_shipped_agents_cover_the_ai_robots_txt_training_crawlers_and_match_robots_txt(shared):
    """agents.yaml describes the training crawlers of the ai.robots.txt list (a training-purpose agent is
    reported by name, with its operator), without growing the default consent table; and every token is one a
    robots.txt group can name: the parser's product token of it is the token itself."""
    from provenance.robots.matcher import RobotsTxt
    from provenance.ruleset import evaluated_agents, load_agents

    agents = {a.token.lower(): a for a in load_agents()}
    listed = {t.lower() for t in json.loads(shared_path("robots_txt/ai_robots_txt_robots.json").read_text())}
    for tok in ("deepseekbot", "pangubot", "tiktokspider", "ai2bot-dolma", "cohere-training-data-crawler",
                "laiondownloader", "img2dataset", "yandexadditional", "webzio-extended"):
        assert tok in listed and agents[tok].purpose == "training" and agents[tok].operator != "unknown", tok
    assert len(evaluated_agents()) == 15
    assert all(not a.evaluate for a in list(agents.values())[25:])
    body = "".join(f"User-agent: {a.token}\nDisallow: /only-{a.token.lower()}/\n\n" for a in agents.values())
    rt = RobotsTxt.parse(body)
    for tok in agents:
        assert not rt.allowed(tok, f"/only-{tok}/x") and rt.allowed(tok, "/elsewhere"), tok


def test_shipped_rules_are_valid_and_layers_override(tmp_path):
    counts = check()
    assert counts["agents"] == 65 and counts["categories"] == 13
    assert counts["ToS domains"] >= 5 and counts["policies"] >= 2
    from provenance.ruleset import load_tos, tos_class

    tos = load_tos()
    assert tos_class(tos["nytimes.com"]) == "no-scraping-and-ai"
    assert all(c.source.startswith("https://") and c.evidence for cl in tos.values() for c in cl)
    fams, lic = load_licenses()
    assert fams["CC-BY-NC-4.0"] == "non-commercial" and fams["GPL-2.0-or-later"] == "copyleft"
    assert lic["wikipedia.org"].spdx == "CC-BY-SA-4.0" and lic["wikipedia.org"].source.startswith("https://")
    (tmp_path / "categories.yaml").write_text("domains:\n  wikipedia.org: Other\n  example.org: News & Media\n")
    _, cats = load_categories([tmp_path])
    assert cats["wikipedia.org"] == "Other" and cats["example.org"] == "News & Media" and cats["github.com"] == "Technology"


@pytest.mark.parametrize("text, where", [
    ("domains:\n  a.com: Nonsense Category\n", "categories not in any `categories:` list: Nonsense Category"),
    ("families:\n  permissive: MIT\n", "licenses.yaml:2: families.permissive"),
    ("domains:\n  a.com: {spdx: MIT}\n", "licenses.yaml:2: domains.a.com.source"),
])
def test_errors_name_the_file_and_line(tmp_path, text, where):
    name = "categories.yaml" if "Category" in text else "licenses.yaml"
    (tmp_path / name).write_text(text)
    with pytest.raises(RulesError) as e:
        check([tmp_path])
    assert where in str(e.value)
    res = run_cli(["rules", "check", "--rules", str(tmp_path)], cwd=tmp_path)
    assert res.returncode == 2 and where in res.stderr


def test_dpi_import(shared, tmp_path):
    csv = shared_path("web_text/aux/dpi_top_2000_c4_domains_token_and_url_counts.csv")
    m = import_dpi_categories(csv)
    assert len(m) == 285  # the annotated rows
    assert m["en.wikipedia.org"] == "Education & Reference" and m["patents.google.com"] == "Law & Government"
    res = run_cli(["rules", "import-categories", str(csv), "--out", str(tmp_path / "categories.yaml")], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert check([tmp_path])["categorised domains"] >= 285


def test_categories_apply_to_the_ledger_without_rescanning(shared, tmp_path, prefect_api):
    """Real C4 documents, categorised with the DPI layer: adding the layer re-reads no shard, and the
    category view follows the rules (host entries first)."""
    from provenance.pipelines.scan import scan_corpus

    c4 = shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz")
    ledger = str(tmp_path / "c4.duckdb")
    first = scan_corpus(inputs=[str(c4)], ledger=ledger, quiet=True)
    assert first["scanned"] == 1
    layer = tmp_path / "dpi"
    layer.mkdir()
    run_cli(["rules", "import-categories", str(shared_path("web_text/aux/dpi_top_2000_c4_domains_token_and_url_counts.csv")),
             "--out", str(layer / "categories.yaml")], cwd=tmp_path)
    again = scan_corpus(inputs=[str(c4)], ledger=ledger, quiet=True, rules=[str(layer)])
    assert (again["scanned"], again["skipped"]) == (0, 1)  # rules changed, no shard re-read
    mapping = import_dpi_categories(shared_path("web_text/aux/dpi_top_2000_c4_domains_token_and_url_counts.csv"))
    with Ledger(ledger, read_only=True) as led:
        rows = led.query("SELECT d.host, c.category FROM documents d JOIN document_categories c USING (shard_id, position)").to_pylist()
        comp = led.query("SELECT * FROM composition_by_category").to_pylist()
        runs = led.query("SELECT rules_hash FROM runs ORDER BY started_at").to_pylist()
    hits = [r for r in rows if r["host"] in mapping]
    assert hits and all(r["category"] == mapping[r["host"]] for r in hits)
    assert abs(sum(r["share_words"] for r in comp) - 1) < 1e-9
    assert runs[0]["rules_hash"] != runs[1]["rules_hash"]  # each run records the rules it used
    res = run_cli(["composition", "--by", "category", "--ledger", ledger, "--format", "json"], cwd=tmp_path)
    assert res.returncode == 0 and {r["category"] for r in json.loads(res.stdout)} >= {"Uncategorized"}
