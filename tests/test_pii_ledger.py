"""PII in the scan, the ledger, verdicts and export: counts agree with what the sample generator injected,
no raw value is stored unless asked, hashes link inside a ledger only, redaction in export and standalone."""

from __future__ import annotations

import gzip
import json
import re

import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from provenance.ledger import Ledger

# generator feature -> our type; types whose count must match exactly
EXACT = {"email": "EMAIL", "card_luhn_valid": "CREDIT_CARD", "iban": "IBAN", "github_token": "GITHUB_TOKEN",
         "jwt": "JWT", "ssn": "US_SSN", "aws_access_key_id": "AWS_ACCESS_KEY", "aws_secret_access_key": "AWS_SECRET_KEY"}


@pytest.fixture(scope="module")
def pii_scan(small_sample, tmp_path_factory, prefect_api):
    from provenance.pipelines.scan import scan_corpus

    root = tmp_path_factory.mktemp("pii")
    files = [str(p) for p in sorted(small_sample.glob("*.json.gz"))]
    ledger = root / "a.duckdb"
    summary = scan_corpus(inputs=files, ledger=str(ledger), quiet=True)
    return root, files, ledger, summary, prefect_api


def _counts(ledger) -> dict[str, tuple[int, int]]:
    with Ledger(ledger, read_only=True) as led:
        return {r["type"]: (r["findings"], r["documents"]) for r in led.query("SELECT * FROM pii_by_type").to_pylist()}


def test_counts_match_what_the_generator_injected(pii_scan, small_sample):
    _, _, ledger, _, _ = pii_scan
    features = json.loads((small_sample / "MANIFEST.json").read_text())["features"]
    got = _counts(ledger)
    for feat, typ in EXACT.items():
        if feat in features:
            assert got.get(typ, (0, 0))[0] == features[feat]["values"], (feat, got.get(typ))
    # phones: every injected one, give or take a few numbers of other shapes (measured in bench/bench_pii.py)
    phones = features["phone_intl"]["values"] + features["phone_national"]["values"]
    assert abs(got["PHONE"][0] - phones) <= max(3, phones // 20)
    # Luhn-invalid card numbers, ISBNs, dates, prices and versions were injected too: none became a card
    assert "card_luhn_invalid" in features and got["CREDIT_CARD"][0] == features["card_luhn_valid"]["values"]


def test_no_raw_values_by_default_and_hashes_link_inside_one_ledger(pii_scan, small_sample, tmp_path):
    root, files, ledger, _, api = pii_scan
    with Ledger(ledger, read_only=True) as led:
        assert led.con.execute("SELECT count(*) FROM pii_findings WHERE value IS NOT NULL").fetchone()[0] == 0
        rows = led.con.execute("SELECT shard_id, position, type, \"start\", \"end\", hash FROM pii_findings "
                               "WHERE type = 'EMAIL' ORDER BY shard_id, position LIMIT 50").fetchall()
        per_doc = led.con.execute("SELECT count(*) FROM documents WHERE pii_count <> len(pii)").fetchone()[0]
    assert per_doc == 0 and rows
    # the offsets point at real e-mail addresses in the source text; no hash is the value itself
    texts = {}
    for f in files:
        with gzip.open(f, "rt") as fh:
            for i, line in enumerate(fh, start=1):
                texts[(f, i)] = json.loads(line)["text"]
    with Ledger(ledger, read_only=True) as led:
        uri_of = dict(led.con.execute("SELECT shard_id, uri FROM shards").fetchall())
    by_value: dict[str, set[str]] = {}
    for shard_id, pos, _, s, e, h in rows:
        value = texts[(uri_of[shard_id], pos)][s:e]
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", value, re.I), value
        assert value not in h and len(h) == 16
        by_value.setdefault(value, set()).add(h)
    assert all(len(hs) == 1 for hs in by_value.values())
    # another ledger has another salt: the same values hash differently
    other = tmp_path / "b.duckdb"
    res = run_cli(["scan", files[0], "--ledger", str(other), "--top", "0", "--quiet", "--keep-pii-values"], cwd=tmp_path, api_url=api)
    assert res.returncode == 0, res.stderr
    with Ledger(other, read_only=True) as led:
        kept = led.con.execute("SELECT value, hash FROM pii_findings WHERE type = 'EMAIL'").fetchall()
    assert kept and all(v is not None for v, _ in kept)  # kept on request
    mine = {h for hs in by_value.values() for h in hs}
    assert not mine & {h for _, h in kept}


def test_verdicts_act_on_secrets(pii_scan):
    _, _, ledger, summary, _ = pii_scan
    with Ledger(ledger, read_only=True) as led:
        reasons = {r["reason"]: r["documents"] for r in led.query("SELECT reason, sum(documents) AS documents FROM verdict_reasons GROUP BY 1").to_pylist()}
        keys = led.con.execute("SELECT count(*) FROM documents d JOIN document_verdicts v USING (shard_id, position) "
                               "WHERE list_contains([f.type FOR f IN d.pii], 'PRIVATE_KEY') AND v.verdict <> 'exclude'").fetchone()[0]
    assert reasons["pii:PRIVATE_KEY"] > 0 and reasons["pii:CREDIT_CARD"] > 0 and keys == 0
    assert "pii:EMAIL" not in reasons  # the commercial policy redacts contact details instead


def test_export_redacts_and_standalone_redact(pii_scan, tmp_path):
    root, files, ledger, _, api = pii_scan
    out = tmp_path / "out"
    res = run_cli(["export", "--out", str(out), "--ledger", str(ledger), "--redact-pii", "--quiet"], cwd=root)
    assert res.returncode == 0, res.stderr
    t = pq.read_table(sorted(out.glob("*.parquet")))
    text = "\n".join(t.column("text").to_pylist())
    assert "<EMAIL>" in text and "<PHONE>" in text
    assert not re.search(r"\b[\w.+-]+@[\w-]+\.(?:com|org|net)\b", text)
    assert json.loads((out / "manifest.json").read_text())["redact_pii"] == "placeholder"
    red = tmp_path / "red"
    res = run_cli(["redact", files[0], "--out", str(red), "--style", "fake"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    r = pq.read_table(sorted(red.glob("*.parquet")))
    with gzip.open(files[0], "rt") as fh:
        n = sum(1 for _ in fh)
    assert r.num_rows == n and sum(r.column("pii_count").to_pylist()) > 0
    assert "<EMAIL>" not in "\n".join(r.column("text").to_pylist())  # fakes, not placeholders
    assert "redacted" in res.stdout and "EMAIL" in res.stdout


def test_pii_rules_change_rescans(pii_scan, tmp_path):
    """pii.yaml decides what is read from the text, so (unlike other rules) changing it rescans."""
    root, files, _, _, api = pii_scan
    ledger = tmp_path / "c.duckdb"
    first = run_cli(["scan", files[0], "--ledger", str(ledger), "--top", "0", "--quiet", "--json"], cwd=tmp_path, api_url=api)
    assert first.returncode == 0, first.stderr
    layer = tmp_path / "rules"
    layer.mkdir()
    (layer / "pii.yaml").write_text("detectors:\n  PHONE: false\n")
    again = run_cli(["scan", files[0], "--ledger", str(ledger), "--top", "0", "--quiet", "--json", "--rules", str(layer)], cwd=tmp_path, api_url=api)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["scanned"] == 1
    assert "PHONE" not in _counts(ledger)
    res = run_cli(["pii", "--ledger", str(ledger)], cwd=tmp_path)
    assert res.returncode == 0 and "EMAIL" in res.stdout and "carry PII or secrets" in res.stdout
