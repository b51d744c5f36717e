"""`provenance query --format csv` writes list and struct columns (CSV has neither) as JSON cells."""

from __future__ import annotations

import csv
import io
import json

from provenance.cli import main


def test_query_csv_writes_list_and_struct_columns(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(json.dumps({"url": f"https://a.example/{i}", "text": f"words number {i}",
                                            "language": "eng"}) for i in range(3)) + "\n")
    ledger = tmp_path / "L.duckdb"
    assert main(["scan", str(corpus), "--ledger", str(ledger), "--quiet"]) == 0
    capfd.readouterr()
    sql = ("SELECT url, language, [len(url), 2] AS ints, [language, NULL] AS strs, {'k': url} AS st, "
           "NULL::INTEGER[] AS nothing FROM documents ORDER BY url")
    assert main(["query", sql, "--format", "csv", "--ledger", str(ledger)]) == 0
    out = capfd.readouterr().out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["url"] for r in rows] == [f"https://a.example/{i}" for i in range(3)]
    for r in rows:
        assert r["language"] == "en"  # ISO 639-3 "eng" stored as BCP 47
        assert json.loads(r["ints"]) == [len(r["url"]), 2]
        assert json.loads(r["strs"]) == ["en", None]
        assert json.loads(r["st"]) == {"k": r["url"]}
        assert r["nothing"] == ""  # a null list is an empty cell, not "null"
