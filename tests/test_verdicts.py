"""Verdicts: a hand-built corpus in which every reason code appears, evaluated through a real scan, real
robots.txt snapshots and layered rules; rules changes re-evaluate from the ledger alone."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from provenance.ledger import Ledger
from provenance.ruleset import RulesError, check, load_policies, load_tos
from provenance.verdict import evaluate

CRAWL = "2024-03-01T00:00:00Z"

# host -> (path, text extra, http headers)
DOCS = [
    # robots.txt disallows GPTBot everywhere
    ("https://gpt-blocked.example/a", "", None),
    # CCBot disallowed only under /private
    ("https://cc-private.example/private/x", "", None),
    ("https://cc-private.example/public/y", "", None),
    # no robots.txt snapshot at all
    ("https://no-robots.example/z", "", None),
    # robots.txt allows all but says Content-Signal: ai-train=no
    ("https://content-signal.example/p", "", None),
    # the page itself says noai
    ("https://page-noai.example/q", "", {"X-Robots-Tag": "noai"}),
    # an images-only reservation does not reserve the text
    ("https://page-noimageai.example/q", "", {"X-Robots-Tag": "noimageai"}),
    # terms of service: no AI + non-commercial (subdomain inherits the registered domain's terms)
    ("https://www.tos-noai.example/n", "", None),
    ("https://tos-conditional.example/c", "", None),
    # a Creative Commons NC notice in the text
    ("https://nc-page.example/l", "This work is licensed under a Creative Commons Attribution-NonCommercial 4.0 "
                                  "International License.", None),
    # the domain's license (licenses.yaml layer): no-derivatives
    ("https://nd-domain.example/d", "", None),
    # a takedown request listed in the policy
    ("https://takedown.example/t", "", None),
    # nothing at all
    ("https://clean.example/ok", "", None),
]

ROBOTS = {
    "gpt-blocked.example": "User-agent: GPTBot\nDisallow: /\n",
    "cc-private.example": "User-agent: CCBot\nDisallow: /private\n",
    "content-signal.example": "User-agent: *\nContent-Signal: ai-train=no, search=yes\nAllow: /\n",
    "page-noai.example": "User-agent: *\nAllow: /\n",
    "page-noimageai.example": "User-agent: *\nAllow: /\n",
    "tos-noai.example": "", "www.tos-noai.example": "", "tos-conditional.example": "", "nc-page.example": "",
    "nd-domain.example": "", "takedown.example": "", "clean.example": "",
}

TOS = """
domains:
  tos-noai.example:
    - clause: no-ai
      source: https://tos-noai.example/terms
      seen: 2024-01-15
      evidence: "You may not use the content to train artificial intelligence systems."
    - clause: non-commercial
      source: https://tos-noai.example/terms
      seen: 2024-01-15
      evidence: "for your personal, non-commercial use only"
  tos-conditional.example:
    - clause: conditional
      source: https://tos-conditional.example/terms
      seen: 2024-01-15
      evidence: "automated access requires our prior written permission"
"""

LICENSES = """
domains:
  nd-domain.example: {spdx: CC-BY-ND-4.0, source: "https://nd-domain.example/license"}
"""

POLICY = """
default_policy: audit
policies:
  audit:
    purpose: every reason code, for the test
    robots:
      - agents: [GPTBot, CCBot]
        at: crawl-time
        disallowed: exclude
        unknown: review
    signals: {train-ai: exclude}
    tos: {no-ai: exclude, non-commercial: exclude, conditional: review}
    licenses: {non-commercial: exclude, no-derivatives: review}
    domains: {takedown.example: exclude}
"""

EXPECTED = {
    "https://gpt-blocked.example/a": ("exclude", ["robots:GPTBot:crawl-time:disallow"]),
    "https://cc-private.example/private/x": ("exclude", ["robots:CCBot:crawl-time:disallow"]),
    "https://cc-private.example/public/y": ("include", []),
    "https://no-robots.example/z": ("review", ["robots:CCBot:crawl-time:unknown", "robots:GPTBot:crawl-time:unknown"]),
    "https://content-signal.example/p": ("exclude", ["signal:content-signal-robots:train-ai"]),
    "https://page-noai.example/q": ("exclude", ["signal:x-robots-tag:train-ai"]),
    "https://page-noimageai.example/q": ("include", []),
    "https://www.tos-noai.example/n": ("exclude", ["tos:no-ai", "tos:non-commercial"]),
    "https://tos-conditional.example/c": ("review", ["tos:conditional"]),
    "https://nc-page.example/l": ("exclude", ["license:CC-BY-NC-4.0"]),
    "https://nd-domain.example/d": ("review", ["license:CC-BY-ND-4.0"]),
    "https://takedown.example/t": ("exclude", ["domain:takedown.example"]),
    "https://clean.example/ok": ("include", []),
}


def _write_corpus(root: Path) -> Path:
    root.mkdir()
    lines = []
    for i, (url, extra, headers) in enumerate(DOCS):
        rec = {"id": f"doc-{i:02d}", "url": url, "timestamp": CRAWL,
               "text": f"Document {i} about gardening and local news. " * 5 + extra}
        if headers:
            rec["http_headers"] = json.dumps(headers)
        lines.append(json.dumps(rec))
    path = root / "hand.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _write_robots(path: Path) -> None:
    with gzip.open(path, "wt") as f:
        for host, body in ROBOTS.items():
            f.write(json.dumps({"host": host, "body": body, "captured_at": "2024-01-01T00:00:00Z"}) + "\n")


def _rules(root: Path) -> Path:
    root.mkdir()
    (root / "tos.yaml").write_text(TOS)
    (root / "licenses.yaml").write_text(LICENSES)
    (root / "policy.yaml").write_text(POLICY)
    return root


def _verdicts(ledger: Path) -> dict[str, tuple[str, list[str]]]:
    with Ledger(ledger, read_only=True) as led:
        rows = led.query("SELECT d.url, v.verdict, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)").to_pylist()
    return {r["url"]: (r["verdict"], r["reasons"]) for r in rows}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, prefect_api):
    root = tmp_path_factory.mktemp("verdicts")
    corpus = _write_corpus(root / "corpus")
    rules = _rules(root / "rules")
    robots = root / "robots.jsonl.gz"
    _write_robots(robots)
    ledger = root / "v.duckdb"
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--rules", str(rules), "--top", "0", "--quiet"],
                  cwd=root, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    assert "verdicts (policy audit)" in res.stdout
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--agents", "GPTBot,CCBot",
                   "--rules", str(rules)], cwd=root)
    assert res.returncode == 0, res.stderr
    assert "verdicts re-evaluated: policy audit" in res.stdout
    return root, corpus, rules, ledger


def test_every_reason_code_on_the_hand_built_corpus(scanned):
    _, _, _, ledger = scanned
    got = _verdicts(ledger)
    assert got == EXPECTED
    codes = {c.split(":")[0] for _, reasons in got.values() for c in reasons}
    assert codes == {"robots", "signal", "tos", "license", "domain"}


def test_views_and_cli(scanned):
    root, _, rules, ledger = scanned
    with Ledger(ledger, read_only=True) as led:
        counts = {r["verdict"]: r["documents"] for r in led.query("SELECT * FROM verdict_counts").to_pylist()}
        assert counts == {"include": 3, "exclude": 7, "review": 3}
        reasons = {(r["reason"], r["verdict"]): r["documents"] for r in led.query("SELECT * FROM verdict_reasons").to_pylist()}
        assert reasons[("tos:no-ai", "exclude")] == 1 and reasons[("robots:GPTBot:crawl-time:unknown", "review")] == 1
        tos = {r["tos_class"]: r["documents"] for r in led.query("SELECT * FROM composition_by_tos_class").to_pylist()}
        assert tos == {"no-ai": 1, "conditional": 1, "no-terms-listed": 11}
        fam = {r["family"]: (r["documents"], r["found_in_document"], r["from_domain"])
               for r in led.query("SELECT * FROM composition_by_license_family").to_pylist()}
        assert fam["non-commercial"] == (1, 1, 0) and fam["no-derivatives"] == (1, 0, 1) and fam["unknown"][0] == 11
        excluded = led.query("SELECT url, reasons FROM excluded_documents WHERE verdict = 'exclude' ORDER BY url").to_pylist()
        assert len(excluded) == 7 and all(r["reasons"] for r in excluded)
        run = led.query("SELECT policy, purpose, rules_hash, documents FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1").to_pylist()[0]
        assert run["policy"] == "audit" and run["documents"] == 13 and len(run["rules_hash"]) == 16
    res = run_cli(["verdicts", "--show", "--ledger", str(ledger), "--format", "csv"], cwd=root)
    assert res.returncode == 0, res.stderr
    assert '"exclude",7,' in res.stdout and '"signal:x-robots-tag:train-ai","exclude",1,' in res.stdout
    res = run_cli(["composition", "--by", "tos", "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 0 and "no-ai" in res.stdout


def test_rules_changes_re_evaluate_without_reading_any_shard(scanned, tmp_path):
    """The corpus is moved away: the evaluation can only use the ledger."""
    root, corpus, rules, ledger = scanned
    led_copy = tmp_path / "copy.duckdb"
    shutil.copy(ledger, led_copy)
    hidden = tmp_path / "gone"
    shutil.move(str(corpus), hidden)
    try:
        layer = tmp_path / "more"
        layer.mkdir()
        # a project layer: conditional terms become acceptable, GPTBot is no longer honoured, a new takedown
        (layer / "policy.yaml").write_text(POLICY.replace("agents: [GPTBot, CCBot]", "agents: [CCBot]")
                                           .replace("conditional: review", "conditional: ignore")
                                           .replace("{takedown.example: exclude}", "{takedown.example: exclude, clean.example: review}"))
        res = run_cli(["verdicts", "--ledger", str(led_copy), "--rules", str(rules), "--rules", str(layer)], cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        got = _verdicts(led_copy)
        assert got["https://gpt-blocked.example/a"] == ("include", [])
        assert got["https://tos-conditional.example/c"] == ("include", [])
        assert got["https://clean.example/ok"] == ("review", ["domain:clean.example"])
        assert got["https://no-robots.example/z"] == ("review", ["robots:CCBot:crawl-time:unknown"])
        assert got["https://nc-page.example/l"] == EXPECTED["https://nc-page.example/l"]
        # the other shipped policy, by name: the recorded layers stay (the ledger keeps its settings)
        res = run_cli(["verdicts", "--ledger", str(led_copy), "--policy", "research"], cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert "settings: policy: commercial -> research" in res.stderr or "settings: policy:" in res.stderr
        got = _verdicts(led_copy)
        assert got["https://nc-page.example/l"] == ("include", [])  # research: NC is fine
        assert got["https://www.tos-noai.example/n"][1] == ["tos:no-ai"]  # the project layer's ToS rules still apply
        # back to the shipped rules only, said plainly
        res = run_cli(["verdicts", "--ledger", str(led_copy), "--no-rules"], cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        assert f"settings: rules: {rules}, more -> the shipped rules only; rules hash" in res.stderr  # relative inside cwd
        got = _verdicts(led_copy)
        assert got["https://www.tos-noai.example/n"] == ("include", [])  # no tos rules in the shipped layer
    finally:
        shutil.move(str(hidden), corpus)


def test_policy_without_consent_warns_and_counts_unknown(tmp_path):
    ledger = tmp_path / "empty.duckdb"
    with Ledger(ledger) as led:
        led.con.execute("INSERT INTO documents (shard_id, position, doc_id, url, host, registered_domain, bytes, words, run_id) "
                        "VALUES ('s', 1, 'd', 'https://x.example/', 'x.example', 'x.example', 10, 2, 'r')")
        ev = evaluate(led)
        assert ev.documents == 1 and ev.included == 1
        assert any("no robots.txt consent evaluated for GPTBot, CCBot" in w for w in ev.warnings)


@pytest.mark.parametrize("name, text, where", [
    ("policy.yaml", "policies:\n  p:\n    purpose: x y z\n    tos: {no-ai: drop}\n", "policy.yaml:4: policies.p.tos.no-ai"),
    ("policy.yaml", "policies:\n  p:\n    purpose: x y z\n    licenses: {weird: exclude}\n", "policy.yaml:4: policies.p.licenses"),
    ("policy.yaml", "default_policy: nope\npolicies:\n  p: {purpose: x y z}\n", "default_policy 'nope' is not defined"),
    ("tos.yaml", "domains:\n  a.com:\n    - clause: no-ai\n      source: https://a.com/t\n      seen: 2024-13-01\n      evidence: abc\n",
     "tos.yaml:5: domains.a.com.0.seen"),
    ("tos.yaml", "domains:\n  a.com:\n    - clause: maybe\n      source: https://a.com/t\n      seen: 2024-01-01\n      evidence: abc\n",
     "tos.yaml:3: domains.a.com.0.clause"),
    ("tos.yaml", "domains:\n  a.com:\n    - clause: no-ai\n      source: a.com/terms\n      seen: 2024-01-01\n      evidence: abc\n",
     "tos.yaml:4: domains.a.com.0.source"),
])
def test_policy_and_tos_errors_name_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(RulesError) as e:
        check([tmp_path])
    assert where in str(e.value)


def test_layers_replace_tos_by_domain_and_policies_by_name(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "tos.yaml").write_text(TOS)
    (b / "tos.yaml").write_text("domains:\n  tos-noai.example:\n    - clause: unrestricted\n      source: https://tos-noai.example/t2\n"
                                "      seen: 2025-02-01\n      evidence: reuse permitted\n")
    tos = load_tos([a, b])
    assert [c.clause for c in tos["tos-noai.example"]] == ["unrestricted"]
    assert [c.clause for c in tos["tos-conditional.example"]] == ["conditional"]
    (b / "policy.yaml").write_text("policies:\n  commercial:\n    purpose: mine\n")
    default, pols = load_policies([b])
    assert default == "commercial" and pols["commercial"].purpose == "mine" and "research" in pols


def test_export_and_excluded_through_the_cli(scanned, tmp_path):
    """`provenance export` writes exactly the included documents with their text; `provenance excluded`
    lists the others with their reasons; a second export is byte-identical."""
    import pyarrow.parquet as pq

    root, _, _, ledger = scanned
    out = tmp_path / "out"
    res = run_cli(["export", "--out", str(out), "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 0, res.stderr
    assert "exported 3 of 3 selected documents" in res.stdout
    t = pq.read_table(sorted(out.glob("*.parquet")))
    want = {u for u, (v, _) in EXPECTED.items() if v == "include"}
    assert set(t.column("url").to_pylist()) == want and t.num_rows == len(want)
    assert all(x.startswith("Document ") for x in t.column("text").to_pylist())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["evaluation"]["policy"] == "audit" and manifest["totals"]["exclude"] == 7
    res = run_cli(["export", "--out", str(tmp_path / "again"), "--ledger", str(ledger), "--quiet"], cwd=root)
    assert res.returncode == 0, res.stderr
    for f in out.iterdir():
        assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name
    res = run_cli(["export", "--out", str(out), "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 2 and "is not empty" in res.stderr and "--overwrite" in res.stderr
    res = run_cli(["excluded", "--ledger", str(ledger), "--verdict", "all", "--out", str(tmp_path / "ex.csv")], cwd=root)
    assert res.returncode == 0, res.stderr
    lines = (tmp_path / "ex.csv").read_text().splitlines()
    assert len(lines) == 1 + 10  # 7 excluded + 3 for review
    assert any("takedown.example" in ln and "domain:takedown.example" in ln for ln in lines)


def test_policy_pii_types_and_pii_yaml_are_checked(tmp_path):
    (tmp_path / "policy.yaml").write_text("policies:\n  p:\n    purpose: x y z\n    pii: {EMAIL: exclude, SOCIAL: review}\n")
    with pytest.raises(RulesError) as e:
        check([tmp_path])
    assert "unknown type SOCIAL" in str(e.value)
    (tmp_path / "policy.yaml").unlink()
    (tmp_path / "pii.yaml").write_text("detectors:\n  EMAIL: maybe\n")
    with pytest.raises(RulesError) as e:
        check([tmp_path])
    assert "pii.yaml:2" in str(e.value)
