"""Where each license finding was found on the page, and its confidence, stored in the ledger (migration 0009):
``documents.licenses`` findings carry ``where`` and ``confidence``; ``documents.license_where`` and
``license_confidence`` say where the document's own license came from. Checked through the CLI on pages written
here (a WARC of HTML pages, C4-style JSON Lines), in both ledger modes, and on ledgers made without 0009 (and
with the old scanner's columns) that migrate, keep their rows with NULL in the new fields, and are filled by a
rescan."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import run_cli

from provenance import licenses as lic
from provenance.ledger import Ledger
from provenance.scanners.license import WHERE_VALUES

FILLER = "<p>" + " ".join(["The committee met on Tuesday and discussed the garden plan for the spring."] * 12) + "</p>"
GPL_IN_CODE = ("<pre><code># This program is free software; you can redistribute it and/or modify it under the terms\n"
               "# of the GNU General Public License as published by the Free Software Foundation; either\n"
               "# version 2 of the License, or (at your option) any later version.\n</code></pre>")
CREDIT = "<figure><img src='a.jpg'><figcaption>Photo by Jane Roe, CC BY 4.0</figcaption></figure>"
PAGES = {
    # rel=license decides, over an image credit and a GPL header quoted in a code block
    "https://rel.example/post": (
        "<html><head><title>Post</title></head><body><article>" + CREDIT + FILLER + GPL_IN_CODE + FILLER +
        "</article><footer><a rel=\"license\" href=\"https://creativecommons.org/licenses/by-sa/4.0/\">"
        "CC BY-SA 4.0</a></footer></body></html>"),
    "https://footer.example/story": (
        "<html><body>" + FILLER + FILLER + "<footer><p>Licensed under CC BY 4.0</p></footer></body></html>"),
    "https://meta.example/page": (
        '<html><head><meta name="dcterms.license" content="https://creativecommons.org/licenses/by/3.0/"></head>'
        "<body><p>Parts are licensed under CC BY-SA 4.0.</p>" + FILLER + "</body></html>"),
    # nothing but an image credit, nothing but a code block: no license of the page
    "https://credit.example/gallery": "<html><body>" + FILLER + CREDIT + FILLER + "</body></html>",
    "https://arr.example/news": (
        "<html><body>" + FILLER + FILLER +
        "<footer><p>&copy; 2024 Example Media Ltd. All rights reserved.</p></footer></body></html>"),
}
C4_BODY = " ".join(["Our volunteers planted forty trees along the river path this weekend."] * 15)
TEXTS_A = {
    "https://inline.example/a": "This article is available under CC BY 4.0.\n" + C4_BODY,
    # an HTML page kept as the record's text (a WARC's extracted text loses the <pre>: see the report)
    "https://code.example/snippet": "<html><body>" + FILLER + GPL_IN_CODE + FILLER + "</body></html>",
    "https://plain.example/none": C4_BODY,
}
TEXTS_B = {
    "https://paper.example/b": C4_BODY + "\nCopyright 2021 Daily Paper. All rights reserved.",
    "https://club.example/c": C4_BODY + "\n© 2023 Garden Club. Content on this site is licensed under CC BY-NC-SA 4.0.",
}
#: url -> (license, license_where); the confidence is CONFIDENCE[where] (0.8 for all-rights-reserved in a footer)
EXPECTED = {
    "https://rel.example/post": ("CC-BY-SA-4.0", "rel-license"),
    "https://footer.example/story": ("CC-BY-4.0", "footer"),
    "https://meta.example/page": ("CC-BY-3.0", "meta"),
    "https://credit.example/gallery": (None, None),
    "https://code.example/snippet": (None, None),
    "https://arr.example/news": ("LicenseRef-All-Rights-Reserved", "footer"),
    "https://inline.example/a": ("CC-BY-4.0", "inline"),
    "https://plain.example/none": (None, None),
    "https://paper.example/b": ("LicenseRef-All-Rights-Reserved", "footer"),
    "https://club.example/c": ("CC-BY-NC-SA-4.0", "footer"),
}


def _warc_record(uri: str, html: str) -> bytes:
    block = ("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=hash(uri) & (2**128 - 1))}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n").encode()
    return gzip.compress(head + block + b"\r\n\r\n")


def write_corpus(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    warc = d / "pages.warc.gz"
    warc.write_bytes(b"".join(_warc_record(u, h) for u, h in PAGES.items()))
    out = {"warc": warc}
    for name, texts in (("a", TEXTS_A), ("b", TEXTS_B)):
        p = d / f"c4-{name}.jsonl.gz"
        with gzip.open(p, "wt") as fh:
            for url, text in texts.items():
                fh.write(json.dumps({"url": url, "timestamp": "2024-05-01T00:00:00Z", "text": text}) + "\n")
        out[name] = p
    return out


def cli(args: list[str], cwd: Path):
    res = run_cli(args, cwd=cwd)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def query(ledger: Path, sql: str) -> list[dict]:
    return json.loads(cli(["query", sql, "--ledger", str(ledger), "--format", "json"], ledger.parent).stdout)


def places(ledger: Path) -> dict[str, tuple]:
    rows = query(ledger, "select url, license, license_where, license_confidence, "
                         "[(f.spdx, f.\"where\", f.confidence) for f in licenses] as found from documents order by url")
    return {r["url"]: (r["license"], r["license_where"], r["license_confidence"],
                       sorted((tuple(x) if isinstance(x, list) else tuple(x.values()) for x in r["found"] or []),
                              key=str))
            for r in rows}


def check_filled(got: dict, urls) -> None:
    for url in urls:
        license, where, conf, found = got[url]
        assert (license, where) == EXPECTED[url], url
        if where is None:
            assert conf is None
        else:
            assert conf == (0.8 if license == lic.ALL_RIGHTS_RESERVED else lic.CONFIDENCE[where]), url
            # the document's place is one of its findings of that license
            assert (license, where, conf) in found, url
        for spdx, w, c in found:  # every finding has a place of the vocabulary and its confidence
            assert w in WHERE_VALUES and 0 < c <= 1, url


def datasheet_where(ledger: Path, out: Path) -> dict[str, int]:
    """The datasheet's 'where the license was found' table: first cell -> documents."""
    cli(["datasheet", "--out", str(out), "--ledger", str(ledger)], ledger.parent)
    md = (out / "datasheet.md").read_text()
    part = md.split("Where each document's license was found", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1:-1] for line in part.splitlines()[2:]]
    return {r[0].strip(): int(r[2].strip().replace(",", "")) for r in rows}


# -- the scanner agrees with the detector ---------------------------------------------------------------------
def test_the_scanner_keeps_what_scan_batch_primary_decides():
    """``licenses.scan_batch_findings`` (what the scanner calls: findings with where/confidence) and
    ``scan_batch_primary`` agree: the same
    findings (on LICENSE_TYPE's fields) and the same primary license, for text-only, HTML-only and both."""
    html = list(PAGES.values()) + [TEXTS_A["https://code.example/snippet"], None, ""]
    texts = [re.sub(r"<[^>]*>", " ", h) if h else h for h in html]  # roughly what a WARC reader extracts
    for cols in ({"text": texts}, {"html": html}, {"text": texts, "html": html},
                 {"text": list(TEXTS_A.values()) + list(TEXTS_B.values())}):
        batch = pa.RecordBatch.from_pydict(cols)
        found, primary = lic.scan_batch_primary(batch)
        rows, primary2 = lic.scan_batch_findings(batch)
        assert primary2 == primary
        stored = [f.name for f in lic.LICENSE_TYPE.value_type]
        assert [[{k: f[k] for k in stored} for f in r] for r in rows] == found.to_pylist()
        assert all(f["where"] in WHERE_VALUES for r in rows for f in r)


# -- new ledgers, both modes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("store", ["table", "parquet"])
def test_where_and_confidence_through_scan_query_and_datasheet(tmp_path, store):
    c = write_corpus(tmp_path / "in")
    ledger = tmp_path / "l.duckdb"
    cli(["scan", str(c["warc"]), str(c["a"]), str(c["b"]), "--ledger", str(ledger), "--documents-store", store,
         "--top", "0"], tmp_path)
    got = places(ledger)
    assert set(got) == set(EXPECTED)
    check_filled(got, EXPECTED)
    # credits and code blocks are stored with their place, and never decide the page's license
    assert ("CC-BY-4.0", "credit", lic.CONFIDENCE["credit"]) in got["https://credit.example/gallery"][3]
    assert ("GPL-2.0-or-later", "code", lic.CONFIDENCE["code"]) in got["https://code.example/snippet"][3]
    assert {w for _, w, _ in got["https://rel.example/post"][3]} >= {"rel-license", "credit"}
    # the query people write
    rows = query(ledger, "select license, license_where, license_confidence, count(*) as n from documents "
                         "where license is not null group by all order by all")
    assert {(r["license"], r["license_where"]): r["n"] for r in rows} == {
        v: sum(1 for e in EXPECTED.values() if e == v) for v in EXPECTED.values() if v[0] is not None}
    # the views
    by_where = {r["license_where"]: r["documents"] for r in query(ledger, "select * from license_by_where")}
    assert by_where == {"rel-license": 1, "meta": 1, "footer": 4, "inline": 1}
    lf = query(ledger, "select \"where\", count(*) as n from license_findings group by 1")
    assert {r["where"] for r in lf} <= set(WHERE_VALUES) and {"credit", "code"} <= {r["where"] for r in lf}
    # the datasheet counts documents by place, in the fixed vocabulary only
    assert datasheet_where(ledger, tmp_path / "ds") == by_where


# -- ledgers made by the previous schema ----------------------------------------------------------------------
class _OldLicenseScanner:
    """The scanner as it was with schema 8: findings as LICENSE_TYPE, the primary license, nothing more."""

    name = "licenses"
    fields = [pa.field("licenses", lic.LICENSE_TYPE), pa.field("license", pa.string())]

    def scan(self, batch, context):
        found, primary = lic.scan_batch_primary(batch)
        return {"licenses": found, "license": pa.array(primary, pa.string())}


def make_old_ledger(ledger: Path, store: str, inputs: list[Path], monkeypatch) -> None:
    """A ledger as the version before 0009 made it: every migration but 0009 (later ones stay, since today's
    scan needs their tables; 0009 must not depend on them), and the old scanner's columns."""
    import provenance.ledger as ledger_mod
    import provenance.scanners.license as scanner_mod
    from provenance.runs import scan_corpus

    with monkeypatch.context() as m:
        m.setattr(ledger_mod, "_migrations", lambda old=ledger_mod._migrations: [x for x in old() if x[0] != 9])
        m.setattr(scanner_mod, "LicenseScanner", _OldLicenseScanner)
        scan_corpus(inputs=[str(p) for p in inputs], ledger=str(ledger), documents_store=store, quiet=True)
    with Ledger(ledger, read_only=True) as led:
        assert 9 not in [r[0] for r in led.con.execute("SELECT version FROM schema_migrations").fetchall()]
        cols = {r[0]: r[1] for r in led.con.execute("DESCRIBE documents").fetchall()}
        assert "license_where" not in cols and "where" not in cols["licenses"].lower()


@pytest.mark.parametrize("store", ["table", "parquet"])
def test_an_old_ledger_migrates_keeps_its_rows_and_a_rescan_fills_them(tmp_path, store, monkeypatch):
    import provenance.ledger as ledger_mod

    c = write_corpus(tmp_path / "in")
    ledger = tmp_path / "old.duckdb"
    make_old_ledger(ledger, store, [c["warc"], c["a"], c["b"]], monkeypatch)
    before = query(ledger, "select url, license, [f.spdx for f in licenses] as found, words from documents order by url")
    assert {r["url"]: r["license"] for r in before} == {u: e[0] for u, e in EXPECTED.items()}
    files = sorted(p.name for p in Path(str(ledger) + ".documents").glob("shard_id=*/*.parquet"))

    # any writing command migrates it; the rows are kept, with NULL in the new fields
    cli(["verdicts", "--ledger", str(ledger)], tmp_path)
    with Ledger(ledger, read_only=True) as led:
        assert led.schema_version() == max(v for v, _, _ in ledger_mod._migrations()) >= 9
    assert query(ledger, "select url, license, [f.spdx for f in licenses] as found, words from documents "
                         "order by url") == before
    got = places(ledger)
    assert all(v[1] is None and v[2] is None and all(w is None and c is None for _, w, c in v[3])
               for v in got.values())
    if store == "parquet":  # carried over without rewriting a single shard file
        assert sorted(p.name for p in Path(str(ledger) + ".documents").glob("shard_id=*/*.parquet")) == files
    assert query(ledger, "select * from license_by_where") == [
        {"license_where": None, "documents": 7, "words": sum(r["words"] for r in before if r["license"]),
         "licenses": 5, "mean_confidence": None, "share_documents": 1.0}]
    assert datasheet_where(ledger, tmp_path / "ds0") == {"not recorded": 7}

    # rescanning one shard fills its rows; the others (in parquet mode: their old files) still read as NULL
    cli(["scan", str(c["b"]), "--ledger", str(ledger), "--top", "0"], tmp_path)
    got = places(ledger)
    check_filled(got, TEXTS_B)
    assert all(got[u][1] is None for u in list(PAGES) + list(TEXTS_A) if EXPECTED[u][0])
    # then every shard: the same as a new ledger
    cli(["scan", str(c["warc"]), str(c["a"]), str(c["b"]), "--ledger", str(ledger), "--top", "0"], tmp_path)
    got = places(ledger)
    check_filled(got, EXPECTED)
    fresh = tmp_path / "fresh.duckdb"
    cli(["scan", str(c["warc"]), str(c["a"]), str(c["b"]), "--ledger", str(fresh), "--documents-store", store,
         "--top", "0"], tmp_path)
    assert places(fresh) == got
    assert query(fresh, "select * from license_by_where order by all") == \
        query(ledger, "select * from license_by_where order by all")


def test_a_parquet_ledger_carries_a_column_change_over(tmp_path, monkeypatch):
    """The general mechanism: a later migration that adds, retypes or drops a documents column is carried
    to the template, the placeholder and the view; existing files read the new column as NULL."""
    import provenance.ledger as ledger_mod

    c = write_corpus(tmp_path / "in")
    p = tmp_path / "p.duckdb"
    cli(["scan", str(c["a"]), "--ledger", str(p), "--documents-store", "parquet", "--top", "0"], tmp_path)
    before = ledger_mod._migrations()
    n, k = before[-1][0], len(TEXTS_A)
    future = before + [(n + 1, "toxicity", "-- a new score\nALTER TABLE documents ADD COLUMN toxicity DOUBLE;\n"
                                           "ALTER TABLE documents ALTER COLUMN pii_count TYPE BIGINT;\n"
                                           "CREATE VIEW toxic AS SELECT url FROM documents WHERE toxicity > 0.5;")]
    monkeypatch.setattr(ledger_mod, "_migrations", lambda: future)
    with Ledger(p) as led:
        assert led.schema_version() == n + 1
        cols = {r[0]: r[1] for r in led.con.execute("DESCRIBE documents").fetchall()}
        assert cols["toxicity"] == "DOUBLE" and cols["pii_count"] == "BIGINT"
        assert led.query("SELECT count(*) AS n, count(toxicity) AS t FROM documents").to_pylist() == [{"n": k, "t": 0}]
        assert led.query("SELECT count(*) AS n FROM toxic").to_pylist() == [{"n": 0}]
    with Ledger(p, read_only=True) as led:  # the stored view, from a read-only open
        assert led.query("SELECT count(*) AS n FROM documents WHERE toxicity IS NULL").to_pylist() == [{"n": k}]
    future2 = future + [(n + 2, "drop", "ALTER TABLE documents DROP COLUMN toxicity;")]
    monkeypatch.setattr(ledger_mod, "_migrations", lambda: future2)
    with Ledger(p) as led:
        assert "toxicity" not in [r[0] for r in led.con.execute("DESCRIBE documents").fetchall()]
        assert led.query("SELECT count(*) AS n FROM documents").to_pylist() == [{"n": k}]


def test_a_license_only_in_a_code_block_of_the_html_is_not_the_pages_own():
    """A WARC page's extracted text loses its structure: a GPL header shown in <pre><code> reads as an inline
    statement there; the HTML, which finds it only in the code block, decides its place (no page license)."""
    import pyarrow as pa

    from provenance import licenses as lic

    code = ("This program is free software; you can redistribute it and/or modify it under the terms of the GNU "
            "General Public License as published by the Free Software Foundation; either version 2 of the License, "
            "or (at your option) any later version.")
    text = "How to build the driver\nHere is the header of the file:\n" + code + "\nThen run make."
    html = ("<html><body><h1>How to build the driver</h1><p>Here is the header of the file:</p><pre><code>/*\n * "
            + code + "\n */</code></pre><p>Then run make.</p></body></html>")
    rows, primary = lic.scan_batch_findings(pa.record_batch([pa.array([text, text]), pa.array([html, None])],
                                                            names=["text", "html"]))
    assert primary == [None, "GPL-2.0-or-later"]  # without the HTML the text is all there is
    assert [(f["spdx"], f["where"]) for f in rows[0]] == [("GPL-2.0-or-later", "code")]
    assert [f["where"] for f in rows[1]] == ["inline"]
