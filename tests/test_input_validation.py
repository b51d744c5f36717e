"""Validation that protects data: what the user named must exist (one line, exit 2, before any work); the
same shards in two formats are said; a --map that finds nothing is refused before a scan replaces anything;
sizes are positive. Real files in tmp_path, no network."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance import errors
from provenance.errors import ConfigError, ShardError
from provenance.readers import ReadOptions, check_column_map, read_shard
from provenance.readers.mapping import effective_map, parse_map_args
from provenance.sample import generate
from provenance.sources import discover, duplicate_stems, format_twins, split_name, twin_groups


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """`provenance sample`'s layout: 4 shards as .json.gz and as .parquet side by side, plus robots.jsonl.gz,
    MANIFEST.json and near_duplicates.json."""
    out = tmp_path_factory.mktemp("corpus") / "sample"
    generate(out, docs=4000, shards=4, seed=3)
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


# -- 1. missing inputs are a usage error, found before any work ------------------------------------------

def test_a_named_path_that_does_not_exist_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        discover(["nothere.json.gz"])
    assert str(e.value) == "nothere.json.gz: no such file or folder"
    # also among other, good inputs: nothing is discovered, the whole command stops
    write_jsonl(tmp_path / "good.jsonl", [{"url": "https://a.org/", "text": "t"}])
    with pytest.raises(ConfigError, match=r"^gone/: no such file or folder$"):
        discover(["good.jsonl", "gone/"])
    # a link to nothing, named: it does not exist either
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    with pytest.raises(ConfigError, match=r"^dangling\.jsonl: no such file or folder$"):
        discover(["dangling.jsonl"])


def test_a_glob_that_matches_nothing_is_one_line(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(sample.parent)
    with pytest.raises(ConfigError) as e:
        discover(["sample/*.jsonl"])  # the sample has .json.gz and .parquet, no .jsonl
    assert str(e.value) == "sample/*.jsonl: no file matches"
    with pytest.raises(ConfigError, match=r"^nofolder/\*\.parquet: no file matches$"):
        discover(["nofolder/*.parquet"])
    # a glob that matches is fine, and a file whose name holds glob characters can still be named literally
    assert len(discover(["sample/*.json.gz"])) == 4
    lit = write_jsonl(tmp_path / "part[1].jsonl", [{"url": "https://a.org/", "text": "t"}])
    assert [s.name for s in discover([str(lit)])] == ["part[1].jsonl"]


def test_a_folder_with_no_shard_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: no shard in this folder \(files named \*\.jsonl"):
        discover([str(tmp_path / "empty")])
    # only files a folder does not take (a manifest, a robots.txt capture, a marker): no shard either
    (tmp_path / "meta").mkdir()
    for name in ("MANIFEST.json", "robots.jsonl.gz", "_SUCCESS"):
        (tmp_path / "meta" / name).write_bytes(b"")
    with pytest.raises(ConfigError, match=r"meta: no shard in this folder"):
        discover([str(tmp_path / "meta")])


def test_remote_urls_that_do_not_exist_are_one_line():
    fs = fsspec.filesystem("memory")
    with fs.open("/validation/part-0.jsonl", "wb") as f:
        f.write(b'{"url": "https://m.net/", "text": "x"}\n')
    try:
        assert [s.uri for s in discover(["memory://validation/part-0.jsonl"])] == ["memory:///validation/part-0.jsonl"]
        with pytest.raises(ConfigError) as e:
            discover(["memory://validation/nothere.jsonl"])
        assert str(e.value) == "memory://validation/nothere.jsonl: no such file or folder"
        with pytest.raises(ConfigError) as e:
            discover(["memory://validation/*.parquet"])
        assert str(e.value) == "memory://validation/*.parquet: no file matches"
        with pytest.raises(ConfigError, match=r"^nosuchprotocol://x/y\.jsonl: Protocol not known: nosuchprotocol$"):
            discover(["nosuchprotocol://x/y.jsonl"])
    finally:
        fs.rm("/validation", recursive=True)


def test_a_remote_that_cannot_be_reached_is_one_line(monkeypatch):
    """Other errors of a remote store (a timeout, no permission) stop the command with one line too."""
    from fsspec.implementations.memory import MemoryFileSystem

    def refuse(self, path, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(MemoryFileSystem, "info", refuse)
    with pytest.raises(ConfigError) as e:
        discover(["memory://private/part-0.jsonl"])
    assert str(e.value) == "memory://private/part-0.jsonl: cannot open: PermissionError: Permission denied"


def test_a_file_gone_between_listing_and_reading_is_quarantined_as_missing(tmp_path):
    """What was listed and then disappeared is not a usage error: the reader quarantines it (``missing``)
    and the run goes on with the other shards."""
    d = tmp_path / "c"
    d.mkdir()
    for i in range(2):
        write_jsonl(d / f"part-{i}.jsonl.gz", [{"url": f"https://a.org/{i}", "text": "words"}])
    shards = discover([str(d)])
    assert [s.name for s in shards] == ["part-0.jsonl.gz", "part-1.jsonl.gz"]
    os.remove(d / "part-0.jsonl.gz")
    with pytest.raises(ShardError) as e:
        list(read_shard(shards[0]))
    assert e.value.reason == errors.MISSING and "part-0.jsonl.gz" in e.value.detail
    assert sum(ch.rows_read for ch in read_shard(shards[1])) == 1


def test_redact_of_a_missing_input_is_one_line(tmp_path, capsys, monkeypatch):
    from provenance.cli import main
    from provenance.redact import redact_files

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^nothere\.json\.gz: no such file or folder$"):
        redact_files(["nothere.json.gz"], "o1")
    assert main(["redact", "nothere.json.gz", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "nothere.json.gz" in err and "no such file or folder" in err, err


# -- 2. the same shards in two formats --------------------------------------------------------------------

def test_split_name():
    assert split_name("c4.00000.json.gz") == ("c4.00000", "json.gz")
    assert split_name("c4.00000.parquet") == ("c4.00000", "parquet")
    assert split_name("CC-MAIN-1-00000.warc.wet.gz") == ("CC-MAIN-1-00000", "warc.wet.gz")
    assert split_name("part.JSONL.ZST") == ("part", "JSONL.ZST")
    assert split_name("notes.txt") is None and split_name(".parquet") is None


def test_a_folder_with_two_formats_of_the_same_shards_is_said(sample):
    shards = discover([str(sample)])
    assert len(shards) == 8  # scanned as named: every file of both formats
    groups = twin_groups(shards)
    assert len(groups) == 4
    assert all(sorted(s.name.split(".", 2)[-1] for s in g) == ["json.gz", "parquet"] for g in groups.values())
    lines = format_twins(shards, cwd=str(sample.parent))
    assert lines == [
        "warning: 4 shard(s) are in sample/ in two formats (c4-sample.00000-of-00004: json.gz and parquet, "
        "c4-sample.00001-of-00004: json.gz and parquet, ...): both are scanned and their documents count twice; "
        "name one format (e.g. sample/*.json.gz)"]
    assert duplicate_stems(shards, cwd=str(sample.parent)) == lines
    # the suggestion works: one format, no warning
    one = discover([str(sample / "*.json.gz")])
    assert len(one) == 4 and format_twins(one) == []
    assert format_twins(discover([str(sample / "*.parquet")])) == []


def test_twins_are_per_folder_and_outside_the_working_directory_absolute(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write_jsonl(tmp_path / sub / "x.jsonl", [{"url": "https://a.org/", "text": "t"}])
    pq.write_table(pa.table({"url": ["https://a.org/"], "text": ["t"]}), tmp_path / "a" / "x.parquet")
    shards = discover([str(tmp_path / "a"), str(tmp_path / "b")])
    assert [(folder.rsplit("/", 1)[-1], stem) for folder, stem in twin_groups(shards)] == [("a", "x")]
    (line,) = format_twins(shards, cwd="/nonexistent-elsewhere")
    assert line.startswith(f"warning: 1 shard(s) are in {tmp_path / 'a'}/ in two formats (x: jsonl and parquet)")
    assert line.endswith(f"name one format (e.g. {tmp_path / 'a'}/*.jsonl)")
    # three formats of one stem
    write_jsonl(tmp_path / "a" / "x.json.gz", [{"url": "https://a.org/", "text": "t"}])
    (line,) = format_twins(discover([str(tmp_path / "a")]), cwd=str(tmp_path))
    assert "in a/ in three formats (x: json.gz and jsonl and parquet): all are scanned and their documents count " \
           "once per format" in line


# -- 3. a --map that finds nothing stops the scan before it replaces anything -------------------------------

def test_map_paths_with_empty_names_are_refused():
    for bad in ("text=a..b", "text=.a", "url=a.", "url=link,meta..url", "text=."):
        with pytest.raises(ConfigError, match=r"is not a field path"):
            parse_map_args([bad])
    with pytest.raises(ConfigError, match=r"--map text is given twice"):
        parse_map_args(["text=body", "text=content"])
    assert parse_map_args(["text=body", "url=meta.link,url"]) == {"text": ["body"], "url": ["meta.link", "url"]}
    # the library refuses them too, as soon as they are set
    with pytest.raises(ConfigError, match=r"is not a field path"):
        ReadOptions(column_map={"text": ["a..b"]})
    with pytest.raises(ConfigError, match=r"^--map url=: empty path$"):
        effective_map({"url": [""]})


def opts(*items: str) -> ReadOptions:
    return ReadOptions(column_map=parse_map_args(list(items)))


@pytest.mark.parametrize("fmt", ["json.gz", "parquet"])
def test_a_map_path_in_no_record_is_refused_with_the_fields_seen(sample, fmt):
    shards = discover([str(sample / f"*.{fmt}")])
    with pytest.raises(ConfigError) as e:
        check_column_map(shards, opts("text=body"))
    assert str(e.value) == (f"--map text=body: no record of the first batch (1,000 records) of "
                            f"c4-sample.00000-of-00004.{fmt} has a field body (fields seen: text, timestamp, url)")
    with pytest.raises(ConfigError, match=r"^--map language=lang,meta\.lang: no record .* has a field lang or meta\.lang"):
        check_column_map(shards, opts("language=lang,meta.lang"))
    with pytest.raises(ConfigError, match=r"^--map url=url\.host: no record"):
        check_column_map(shards, opts("url=url.host"))  # url is text, not an object
    # paths that exist pass, each field passing when one of its paths finds something
    assert check_column_map(shards, opts("text=text", "url=link,url", "crawl_date=timestamp")) is shards[0]


def test_the_check_reads_little_and_is_cheap(sample):
    """The first batch only: well under 0.2 s on a sample shard, and nothing at all without --map."""
    for fmt in ("json.gz", "parquet"):
        shards = discover([str(sample / f"*.{fmt}")])
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            with pytest.raises(ConfigError):
                check_column_map(shards, opts("text=body"))
            best = min(best, time.perf_counter() - t)
        assert best < 0.2, (fmt, best)
    # only the user's overrides are checked: the defaults name fields most corpora lack
    assert check_column_map(discover([str(sample)]), ReadOptions()) is None


def test_values_of_the_wrong_kind_are_refused_and_never_quoted(tmp_path):
    p = write_jsonl(tmp_path / "c.jsonl", [
        {"url": "https://secret.example/a", "body": {"html": "SECRET TEXT"}, "n": 42, "empty": "", "tags": ["x"]}
        for _ in range(3)])
    shards = discover([str(p)])
    with pytest.raises(ConfigError) as e:
        check_column_map(shards, opts("text=body"))
    msg = str(e.value)
    assert msg == ("--map text=body: in the first batch (3 records) of c.jsonl, body never holds text (it is an object); "
                   "map text to another field (fields seen: url, body, n, empty, tags, body.html)")
    with pytest.raises(ConfigError, match=r"text=empty: .* empty never holds text \(it is empty text\)"):
        check_column_map(shards, opts("text=empty"))
    with pytest.raises(ConfigError, match=r"url=n: .* n never holds a URL \(it is a number\)"):
        check_column_map(shards, opts("url=n", "text=body.html"))
    with pytest.raises(ConfigError, match=r"language=tags: .* tags never holds a value that can be read as text \(it is an array\)"):
        check_column_map(shards, opts("language=tags"))
    assert check_column_map(shards, opts("text=body.html", "language=n")) is shards[0]
    for m in ("text=body", "text=empty", "url=n"):
        with pytest.raises(ConfigError) as e:
            check_column_map(shards, opts(m))
        assert "SECRET" not in str(e.value) and "secret.example" not in str(e.value) and "42" not in str(e.value)


def test_parquet_nested_and_null_columns(tmp_path):
    t = pa.table({
        "meta": pa.array([{"link": "https://a.org/1", "lang": None}, {"link": "https://a.org/2", "lang": None}]),
        "content": ["one", "two"],
        "nothing": pa.nulls(2, pa.string()),
    })
    pq.write_table(t, tmp_path / "n.parquet")
    shards = discover([str(tmp_path / "n.parquet")])
    assert check_column_map(shards, opts("url=meta.link", "text=content")) is shards[0]
    with pytest.raises(ConfigError, match=r"^--map text=nothing: no record of the first batch \(2 records\) of n\.parquet "
                                          r"has a field nothing \(fields seen: meta, content, nothing, meta\.link, meta\.lang\)$"):
        check_column_map(shards, opts("text=nothing"))
    with pytest.raises(ConfigError, match=r"--map language=meta\.lang: no record"):
        check_column_map(shards, opts("language=meta.lang"))  # present in the schema, null in every row
    with pytest.raises(ConfigError, match=r"--map text=meta: .* meta never holds text \(it is an object\)"):
        check_column_map(shards, opts("text=meta"))


def test_unreadable_empty_and_warc_shards_are_passed_over(tmp_path, sample):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a-broken.parquet").write_bytes(b"PAR1 not a parquet file")
    (d / "b-empty.jsonl").write_bytes(b"")
    write_jsonl(d / "c-good.jsonl", [{"url": "https://a.org/", "text": "t"}])
    shards = discover([str(d)])
    assert check_column_map(shards, opts("text=text")).name == "c-good.jsonl"
    with pytest.raises(ConfigError, match=r"of c-good\.jsonl has a field body"):
        check_column_map(shards, opts("text=body"))
    # nothing readable: nothing to say (the scan quarantines those shards as usual)
    assert check_column_map(shards[:2], opts("text=body")) is None
    # a single shard may be given too
    assert check_column_map(shards[2], opts("text=text")).name == "c-good.jsonl"


def test_a_scan_with_a_map_that_finds_nothing_replaces_nothing(sample, tmp_path):
    """Through the command line: a forced rescan with a --map that finds nothing stops with one line (exit 2)
    and the ledger keeps its documents; missing inputs and malformed paths stop before a ledger is made."""
    from conftest import run_cli, sql

    ledger = tmp_path / "l.duckdb"
    for args in (["nothere.json.gz"], [str(sample / "*.jsonl")], [str(sample / "*.json.gz"), "--map", "text=a..b"]):
        res = run_cli(["scan", *args, "--ledger", str(ledger)], cwd=tmp_path, timeout=120)
        assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, (args, res.stderr)
        assert not ledger.exists()
    res = run_cli(["scan", str(sample / "*.json.gz"), "--ledger", str(ledger)], cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    assert sql(ledger, "SELECT count(*) FROM documents") == [(4000,)]
    res = run_cli(["scan", str(sample / "*.json.gz"), "--force", "--map", "text=body", "--ledger", str(ledger)],
                  cwd=tmp_path, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines()[-1] == (
        "provenance: error: --map text=body: no record of the first batch (1,000 records) of "
        "c4-sample.00000-of-00004.json.gz has a field body (fields seen: text, timestamp, url)")
    assert sql(ledger, "SELECT count(*) FROM documents") == [(4000,)]
    assert sql(ledger, "SELECT count(*) FROM quarantine") == [(0,)]


# -- 4. sizes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, 1.5, "100", None, True])
def test_max_doc_bytes_must_be_a_positive_whole_number(bad):
    with pytest.raises(ConfigError, match=r"^max_doc_bytes must be"):
        ReadOptions(max_doc_bytes=bad)
    o = ReadOptions()
    with pytest.raises(ConfigError, match=r"^max_doc_bytes must be"):
        o.max_doc_bytes = bad  # set later, as a caller does with a command-line value
    assert o.max_doc_bytes == 16 * 1024 * 1024


def test_sizes_that_are_fine(tmp_path):
    assert ReadOptions(max_doc_bytes=1).max_doc_bytes == 1
    assert ReadOptions(max_doc_bytes=2048.0).max_doc_bytes == 2048  # a whole float (from JSON)
    with pytest.raises(ConfigError, match=r"^batch_rows must be above 0"):
        ReadOptions(batch_rows=0)
    # a small limit still reads: larger documents are quarantined as too_large
    p = write_jsonl(tmp_path / "s.jsonl", [{"url": "https://a.org/1", "text": "short"}, {"url": "https://a.org/2", "text": "x" * 100}])
    chunks = list(read_shard(discover([str(p)])[0], ReadOptions(max_doc_bytes=10)))
    assert sum(c.batch.num_rows for c in chunks if c.batch is not None) == 1
    assert [q["reason"] for c in chunks for q in c.quarantine] == ["too_large"]
