"""The embedded default corpus (provenance.sample): real files, read back with the ordinary tools."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import statistics
from collections import Counter
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from provenance.sample import SampleInfo, generate, iban_valid, luhn_valid

DOCS, SHARDS, SEED, DOC_BYTES = 3000, 3, 7, 3500


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> SampleInfo:
    return generate(tmp_path_factory.mktemp("sample"), docs=DOCS, shards=SHARDS, seed=SEED, doc_bytes=DOC_BYTES)


@pytest.fixture(scope="module")
def manifest(corpus) -> dict:
    return json.loads((corpus.out_dir / "MANIFEST.json").read_text(encoding="utf-8"))


def _jsonl_shards(info: SampleInfo) -> list[Path]:
    return sorted(p for p in info.files if p.name.endswith(".json.gz"))


def _parquet_shards(info: SampleInfo) -> list[Path]:
    return sorted(p for p in info.files if p.name.endswith(".parquet"))


def _read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def rows(corpus) -> list[dict]:
    out: list[dict] = []
    for p in _jsonl_shards(corpus):
        out.extend(_read_jsonl(p))
    return out


@pytest.fixture(scope="module")
def texts(rows) -> list[str]:
    return [r["text"] for r in rows]


def _sha256_all(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


# --- files, formats ------------------------------------------------------------------------------------------


def test_writes_every_shard_of_every_format_and_the_manifests(corpus, manifest):
    names = sorted(p.name for p in corpus.out_dir.iterdir())
    expected = [f"c4-sample.{i:05d}-of-{SHARDS:05d}.{ext}" for i in range(SHARDS) for ext in ("json.gz", "parquet")]
    assert names == sorted(expected + ["MANIFEST.json", "near_duplicates.json"])
    assert sorted(p.name for p in corpus.files) == sorted(expected)
    assert all(p.is_file() and p.stat().st_size > 0 for p in corpus.files)
    assert corpus.docs == manifest["docs"] == DOCS
    assert corpus.bytes == manifest["bytes"]
    assert corpus.seed == manifest["seed"] == SEED
    assert sorted(manifest["files"]) == sorted(expected)


def test_jsonl_records_have_exactly_the_c4_keys(corpus, rows, manifest):
    assert len(rows) == DOCS
    ts = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
    for r in rows:
        assert set(r) == {"text", "url", "timestamp"}
        assert isinstance(r["text"], str) and r["text"]
        assert ts.fullmatch(r["timestamp"])
        assert r["url"].startswith(("http://", "https://"))
    # documents are split across shards contiguously, in the sizes the manifest states
    sizes = [len(_read_jsonl(p)) for p in _jsonl_shards(corpus)]
    assert sizes == [s["docs"] for s in manifest["shard_docs"]]
    assert sum(sizes) == DOCS and max(sizes) - min(sizes) <= 1


def test_parquet_holds_the_same_rows_in_the_same_order(corpus, rows):
    got: list[dict] = []
    for p in _parquet_shards(corpus):
        f = pq.ParquetFile(p)
        assert f.schema_arrow.names == ["text", "timestamp", "url"]
        md = f.metadata
        assert all(md.row_group(i).column(0).compression == "ZSTD" for i in range(md.num_row_groups))
        got.extend(f.read().to_pylist())
    assert got == rows


def test_parquet_row_groups_hold_about_ten_thousand_rows(tmp_path):
    info = generate(tmp_path, docs=23000, shards=1, seed=1, formats=("parquet",), doc_bytes=300)
    md = pq.ParquetFile(info.files[0]).metadata
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [10000, 10000, 3000]


def test_a_corpus_of_several_chunks_copies_across_chunk_and_shard_boundaries(tmp_path):
    from provenance.sample import CHUNK_DOCS

    docs = 2 * CHUNK_DOCS + 1234
    info = generate(tmp_path, docs=docs, shards=5, seed=2, formats=("parquet",), doc_bytes=400)
    texts = []
    for p in _parquet_shards(info):
        texts.extend(pq.read_table(p, columns=["text"]).column(0).to_pylist())
    assert len(texts) == docs
    nd = json.loads((tmp_path / "near_duplicates.json").read_text())
    pairs = nd["near_duplicates"] + nd["exact_duplicates"]
    assert any(src < CHUNK_DOCS <= doc for doc, src in pairs)  # a source in the previous chunk
    for doc, src in nd["exact_duplicates"]:
        assert texts[doc] == texts[src]
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    for feature, pattern in [("aws_access_key_id", r"\bAKIA[A-Z2-7]{16}\b"), ("github_token", r"\bghp_[A-Za-z0-9]{36}\b")]:
        docs_found, values = _docs_and_values(texts, re.compile(pattern))
        assert (docs_found, values) == (manifest["features"][feature]["docs"], manifest["features"][feature]["values"])


def test_same_arguments_give_byte_identical_files(corpus, tmp_path):
    again = generate(tmp_path / "again", docs=DOCS, shards=SHARDS, seed=SEED, doc_bytes=DOC_BYTES)
    assert _sha256_all(again.out_dir) == _sha256_all(corpus.out_dir)
    assert again.bytes == corpus.bytes


def test_another_seed_gives_another_corpus(corpus, rows, tmp_path):
    other = generate(tmp_path / "other", docs=DOCS, shards=SHARDS, seed=SEED + 1, doc_bytes=DOC_BYTES)
    a, b = _sha256_all(corpus.out_dir), _sha256_all(other.out_dir)
    assert all(a[name] != b[name] for name in a)
    other_rows = _read_jsonl(_jsonl_shards(other)[0])
    assert not {r["text"] for r in other_rows} & {r["text"] for r in rows}


def test_documents_do_not_depend_on_sharding_or_formats(rows, tmp_path):
    one = generate(tmp_path, docs=DOCS, shards=1, seed=SEED, doc_bytes=DOC_BYTES, formats=("parquet",))
    assert [p.name for p in one.files] == ["c4-sample.00000-of-00001.parquet"]
    assert pq.read_table(one.files[0]).to_pylist() == rows


def test_more_shards_than_documents_gives_empty_but_valid_shards(tmp_path):
    info = generate(tmp_path, docs=2, shards=4, seed=0)
    assert len(info.files) == 8
    counts = [len(_read_jsonl(p)) for p in _jsonl_shards(info)]
    assert sum(counts) == 2
    assert [pq.read_table(p).num_rows for p in _parquet_shards(info)] == counts


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, docs=10, formats=("csv",))
    with pytest.raises(ValueError):
        generate(tmp_path, docs=10, shards=0)
    with pytest.raises(ValueError):
        generate(tmp_path, docs=-1)


# --- what the corpus looks like ------------------------------------------------------------------------------

_MULTI_SUFFIXES = {"co.uk", "ac.uk", "com.au", "co.jp", "com.br", "github.io", "blogspot.com"}
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")  # hostname is lower-cased and port-free


def _registered_domain(host: str) -> str | None:
    """A deliberately simple registered-domain rule, good for the suffixes this corpus uses."""
    if _IPV4.fullmatch(host) or not host.isascii():
        return None
    labels = host.split(".")
    n = 3 if ".".join(labels[-2:]) in _MULTI_SUFFIXES else 2
    return ".".join(labels[-n:])


def test_registered_domains_are_heavy_tailed(rows, manifest):
    doms = Counter(d for d in (_registered_domain(_host(r["url"])) for r in rows) if d)
    counts = sorted(doms.values(), reverse=True)
    median = statistics.median(counts)
    assert counts[0] >= 30 * median  # a Zipf head ...
    assert counts[0] / DOCS > 0.05
    assert len(doms) >= 300  # ... and a long tail
    assert sum(c for c in counts if c <= 2) / DOCS > 0.05
    # the manifest's top list is what a reader finds
    top = manifest["registered_domains"]["top"]
    assert [[d, c] for d, c in top] == [[d, doms[d]] for d, _ in top]
    assert top[0][1] == counts[0]


def test_urls_mix_suffixes_platforms_subdomains_and_quirks(rows, manifest):
    urls = [r["url"] for r in rows]
    assert len(set(urls)) == len(urls)
    hosts = [_host(u) for u in urls]
    suffixes = Counter()
    for h in hosts:
        d = _registered_domain(h)
        if d:
            suffixes[d.split(".", 1)[1]] += 1
    assert suffixes.most_common(1)[0][0] == "com"
    for s in ("org", "net", "co.uk", "de", "com.au", "io", "edu", "gov", "co.jp", "com.br", "info"):
        assert suffixes[s] > 0, s
    assert suffixes["github.io"] > 0 and suffixes["blogspot.com"] > 0
    assert sum(h.endswith(".wordpress.com") for h in hosts) > 0
    assert sum(h.startswith(("www.", "blog.", "news.", "m.", "shop.", "en.")) for h in hosts) > DOCS // 3
    schemes = Counter(urlsplit(u).scheme for u in urls)
    assert schemes["https"] > schemes["http"] > 0
    assert schemes["http"] == manifest["features"]["url_http"]["docs"]
    # each quirk, as found in the URL text, matches the manifest
    netlocs = [urlsplit(u).netloc for u in urls]
    found = {
        "url_uppercase_host": sum(n != n.lower() for n in netlocs),
        "url_port": sum(urlsplit(u).port is not None for u in urls),
        "url_trailing_dot": sum(n.endswith(".") for n in netlocs),
        "url_idn_host": sum(not h.isascii() for h in hosts),
        "url_ipv4_host": sum(bool(_IPV4.fullmatch(h)) for h in hosts),
    }
    for k, n in found.items():
        assert 0 < n == manifest["features"][k]["docs"], k
        assert n < DOCS * 0.01, k  # rare on purpose


def test_crawl_dates_span_a_decade(rows, manifest):
    years = Counter(datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ").year for r in rows)
    assert len(years) >= 10
    assert min(years) >= 2013 and max(years) <= 2024
    assert {str(y): n for y, n in years.items()} == manifest["crawl_years"]


def test_texts_are_prose_of_about_doc_bytes(corpus, texts):
    sizes = [len(t.encode("utf-8")) for t in texts]
    assert sum(sizes) == corpus.bytes
    assert abs(statistics.mean(sizes) / DOC_BYTES - 1) < 0.25
    assert statistics.pstdev(sizes) > 0.3 * statistics.mean(sizes)  # lengths vary
    assert sum("\n" in t for t in texts) / len(texts) > 0.5  # paragraphs
    firsts = [t.split("\n")[0] for t in texts]
    assert sum(f[0].isupper() and f[-1] in ".?!" for f in firsts) / len(firsts) > 0.9  # sentence-cased
    words = Counter(w.strip(".,?!").lower() for t in texts[:300] for w in t.split())
    assert words.most_common(1)[0][0] == "the"  # Zipf: function words dominate


def test_every_injected_feature_is_present(manifest):
    for name, c in manifest["features"].items():
        assert c["docs"] > 0, name
        assert c["values"] >= c["docs"], name
    assert len(manifest["cc_licenses"]) >= 5 and "CC0-1.0" in manifest["cc_licenses"]
    assert {"MIT", "Apache-2.0", "GPL-2.0-or-later"} <= set(manifest["code_spdx"])
    assert set(manifest["code_languages"]) == {"c", "python", "javascript"}
    assert sum(manifest["cc_licenses"].values()) == manifest["features"]["creative_commons"]["docs"]
    assert sum(manifest["code_spdx"].values()) == manifest["features"]["code_license"]["docs"]
    f = manifest["features"]
    assert 0.03 < f["near_duplicate"]["docs"] / DOCS < 0.08
    assert 0.004 < f["exact_duplicate"]["docs"] / DOCS < 0.02
    for kind in manifest["feature_groups"]["pii"]:
        assert 0.005 < f[kind]["docs"] / DOCS < 0.08, kind


def _docs_and_values(texts: list[str], pattern: re.Pattern, keep=lambda m: True) -> tuple[int, int]:
    docs = values = 0
    for t in texts:
        n = sum(1 for m in pattern.finditer(t) if keep(m))
        docs += n > 0
        values += n
    return docs, values


# 16-digit cards in groups of four, or 15-digit (Amex) 4-6-5, with one separator throughout; not the digit
# groups inside an IBAN (those follow another group and a space).
_CARD = re.compile(r"(?<!\d )(?<![\w-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}|\d{4}([ -]?)\d{6}\2\d{5})(?![\w-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b")


@pytest.mark.parametrize(
    "feature, pattern, keep",
    [
        ("card_luhn_valid", _CARD, lambda m: luhn_valid(m.group(0))),
        ("card_luhn_invalid", _CARD, lambda m: not luhn_valid(m.group(0))),
        ("iban", _IBAN, lambda m: iban_valid(m.group(0))),
        ("ssn", re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), lambda m: True),
        ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), lambda m: True),
        ("email_obfuscated", re.compile(r"\S+ [\[(]?at[\])]? \w+ [\[(]?dot[\])]? \w+", re.I), lambda m: True),
        ("aws_access_key_id", re.compile(r"\bAKIA[A-Z2-7]{16}\b"), lambda m: True),
        ("github_token", re.compile(r"\bghp_[A-Za-z0-9]{36}\b"), lambda m: True),
        ("private_key", re.compile(r"-----BEGIN RSA PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END RSA PRIVATE KEY-----"),
         lambda m: True),
        ("jwt", re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+"), lambda m: True),
        ("password_assignment", re.compile(r"password\"?\s*[:=]\s*[\"']", re.I), lambda m: True),
        ("isbn", re.compile(r"ISBN 978-\d+-\d+-\d+-\d"), lambda m: True),
        ("creative_commons", re.compile(r"creativecommons\.org/(?:licenses|publicdomain)/[a-z-]+/\d\.\d/"),
         lambda m: True),
    ],
)
def test_manifest_counts_match_what_a_regex_finds(texts, manifest, feature, pattern, keep):
    docs, values = _docs_and_values(texts, pattern, keep)
    assert docs == manifest["features"][feature]["docs"] > 0
    if feature not in ("creative_commons",):  # a CC notice may carry its URL twice (the HTML fragment)
        assert values == manifest["features"][feature]["values"]


def test_license_notices_and_spdx_lines_match_the_manifest(texts, manifest):
    f = manifest["features"]
    spdx = Counter()
    notice_docs = 0
    for t in texts:
        ids = set(re.findall(r"SPDX-License-Identifier: ([\w.+-]+)", t))
        spdx.update(ids)
        if not ids and re.search(r"GNU General Public License|Apache License, Version 2\.0|Permission is hereby granted", t):
            notice_docs += 1
    assert sum(spdx.values()) == f["code_spdx_line"]["docs"] > 0
    assert notice_docs == f["code_license_notice"]["docs"] > 0
    assert all(spdx[k] <= n for k, n in manifest["code_spdx"].items())
    html = sum('<a rel="license" href="' in t for t in texts)
    assert html == f["cc_html_fragment"]["docs"] > 0
    # per-license counts from the URLs
    by_license = Counter()
    for t in texts:
        for kind, ver in set(re.findall(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)/", t)):
            by_license[f"CC-{kind.upper()}-{ver}"] += 1
        if "creativecommons.org/publicdomain/zero/1.0/" in t:
            by_license["CC0-1.0"] += 1
    assert dict(by_license) == manifest["cc_licenses"]


def test_distractors_are_not_the_real_thing(texts, manifest):
    isbns = [m.group(0) for t in texts for m in re.finditer(r"978-\d+-\d+-\d+-\d", t)]
    assert isbns
    for isbn in isbns:  # valid ISBN-13 check digits
        digits = [int(c) for c in isbn if c.isdigit()]
        assert sum(d * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10 == 0
    assert any(re.search(r"\bv\d+\.\d+\.\d+\b", t) for t in texts)
    assert any(re.search(r"[$£€]\d", t) for t in texts)
    assert manifest["features"]["card_luhn_invalid"]["docs"] > 0


def test_near_and_exact_duplicates_are_recorded(corpus, rows, manifest):
    nd = json.loads((corpus.out_dir / "near_duplicates.json").read_text())
    near, exact = nd["near_duplicates"], nd["exact_duplicates"]
    assert len(near) == manifest["near_duplicates"] == manifest["features"]["near_duplicate"]["docs"]
    assert len(exact) == manifest["exact_duplicates"] == manifest["features"]["exact_duplicate"]["docs"]
    for doc, src in exact:
        assert src < doc
        assert rows[doc]["text"] == rows[src]["text"]
        assert rows[doc]["url"] != rows[src]["url"]

    def shingles(t: str) -> set[str]:
        w = t.split()
        return {" ".join(w[i:i + 5]) for i in range(max(1, len(w) - 4))}

    def jaccard(a: str, b: str) -> float:
        x, y = shingles(a), shingles(b)
        return len(x & y) / len(x | y)

    sims = []
    for doc, src in near:
        assert src < doc
        assert rows[doc]["text"] != rows[src]["text"]
        assert rows[doc]["url"] != rows[src]["url"]
        sims.append(jaccard(rows[doc]["text"], rows[src]["text"]))
    assert min(sims) > 0.5 and statistics.median(sims) > 0.8
    # other domains, mostly
    other = sum(_registered_domain(_host(rows[d]["url"])) != _registered_domain(_host(rows[s]["url"])) for d, s in near)
    assert other / len(near) > 0.5
    # unrelated documents share (almost) nothing
    assert max(jaccard(rows[i]["text"], rows[i + 1]["text"]) for i in range(0, 400, 2)
               if [i + 1, i] not in near and [i + 1, i] not in exact) < 0.05


def test_check_digit_helpers():
    assert luhn_valid("4111 1111 1111 1111") and luhn_valid("3782-822463-10005")
    assert not luhn_valid("4111 1111 1111 1112")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89 3704 0044 0532 0130 01")
