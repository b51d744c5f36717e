"""Every output is written safely: temporary files are created exclusively (never through a symlink) beside
their target and renamed over it, output names made from untrusted names (shard file names, index names)
are plain names inside the folder the user gave. Each command that writes runs through the CLI with
symlinks planted at its outputs' names and at the predictable temporary names older versions used, all
pointing outside the output folder: the files outside stay untouched and the outputs are correct."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import run_cli

from provenance.safeio import (arrow_sink, atomic_output, fresh_dir, inside, open_new, open_temp, safe_name, temp_path,
                               write_bytes, write_text)

#: source shard names a corpus may hold: a newline and shell syntax; backslashes, dots and a space
HOSTILE = ["a\nb$(x).json.gz", "..\\..\\evil ..name.json.gz"]
PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SECRET = b"outside the output folder: never to be touched\n"


class Outside:
    """A folder outside every output folder; ``link(at)`` plants a symlink at ``at`` to a fresh file here."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        self.n = 0

    def link(self, at: Path, dangling: bool = False) -> Path:
        self.n += 1
        target = self.root / f"victim-{self.n}"
        if not dangling:
            target.write_bytes(SECRET)
        at.parent.mkdir(parents=True, exist_ok=True)
        at.symlink_to(target)
        return target

    def check(self) -> None:
        """Every victim is as planted (the dangling ones still do not exist), nothing else appeared."""
        for i in range(1, self.n + 1):
            p = self.root / f"victim-{i}"
            assert not p.exists() or p.read_bytes() == SECRET, p
        assert all(p.name.startswith("victim-") for p in self.root.iterdir()), sorted(self.root.iterdir())


@pytest.fixture()
def outside(tmp_path_factory):
    return Outside(tmp_path_factory.mktemp("outside") / "files")


def regular(p: Path) -> bool:
    return p.is_file() and not p.is_symlink()


# -- safeio ------------------------------------------------------------------------------------------
def test_safe_name_and_inside_keep_untrusted_names_to_one_plain_component(tmp_path):
    for bad in ["..", ".", "", "../../etc/passwd", "a/b", "a\\b", "a\nb$(x)", "\x00\x1b[31m", ".hidden", "é名", "-" * 500]:
        name = safe_name(bad)
        assert name and name not in (".", "..") and not name.startswith(".") and len(name) <= 120, (bad, name)
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", name), (bad, name)
        p = inside(tmp_path, bad)
        assert p.parent == tmp_path and p.name == name
    assert safe_name("c4-train.00001-of-01024.json.gz") == "c4-train.00001-of-01024.json.gz"
    assert inside(tmp_path, "../x", "..").parent.parent == tmp_path


def test_atomic_writes_replace_a_symlink_at_the_name_and_never_follow_one(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    outside.link(out / "a.txt")
    outside.link(out / ".a.txt.tmp")  # the old predictable temporary name
    dangling = outside.link(out / "b.bin", dangling=True)
    write_text(out / "a.txt", "hello\n")
    write_bytes(out / "b.bin", b"\x00\x01")
    assert regular(out / "a.txt") and (out / "a.txt").read_text() == "hello\n"
    assert regular(out / "b.bin") and (out / "b.bin").read_bytes() == b"\x00\x01" and not dangling.exists()
    outside.check()
    assert sorted(os.listdir(out)) == [".a.txt.tmp", "a.txt", "b.bin"]  # no temporary file left
    # a failing block leaves the target as it was and no temporary file
    with pytest.raises(RuntimeError):
        with atomic_output(out / "a.txt", "w", encoding="utf-8") as f:
            f.write("half")
            raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "hello\n" and sorted(os.listdir(out)) == [".a.txt.tmp", "a.txt", "b.bin"]


def test_open_new_open_temp_temp_path_are_exclusive_and_never_follow_a_symlink(tmp_path, outside):
    victim = outside.link(tmp_path / "x.parquet")
    with pytest.raises(FileExistsError):
        open_new(tmp_path / "x.parquet")
    outside.link(tmp_path / "d.parquet", dangling=True)
    with pytest.raises(FileExistsError):
        open_new(tmp_path / "d.parquet")
    with open_new(tmp_path / "n.txt", "w") as f:
        f.write("é")
    assert (tmp_path / "n.txt").read_text(encoding="utf-8") == "é"
    tmp, f = open_temp(tmp_path / "x.parquet")
    with f:
        f.write(b"data")
    assert tmp.parent == tmp_path and tmp.name.startswith(".x.parquet.") and tmp.name.endswith(".tmp")
    os.replace(tmp, tmp_path / "x.parquet")
    assert regular(tmp_path / "x.parquet") and victim.read_bytes() == SECRET
    names = {temp_path(tmp_path / "y") for _ in range(20)}
    assert len(names) == 20 and all(regular(p) and p.stat().st_size == 0 and p.parent == tmp_path for p in names)
    outside.check()


def test_arrow_sink_writes_the_file_it_was_given_even_when_its_name_is_swapped(tmp_path, outside):
    import pyarrow as pa

    table = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    p = tmp_path / "x.parquet"
    with pq.ParquetWriter(sink := arrow_sink(open_new(p)), table.schema) as w:
        w.write_table(table)
    sink.close()
    assert pq.read_table(p).equals(table)
    # a symlink swapped in at the temporary file's name after it was made: the writes still go to the file
    tmp, f = open_temp(tmp_path / "y.parquet")
    os.rename(tmp, tmp_path / "moved.parquet")
    outside.link(tmp)
    with pq.ParquetWriter(sink := arrow_sink(f), table.schema) as w:
        w.write_table(table)
    sink.close()
    outside.check()
    assert pq.read_table(tmp_path / "moved.parquet").equals(table)


def test_fresh_dir_removes_a_planted_symlink_not_what_it_points_to(tmp_path, outside):
    target_dir = outside.root / "victim-dir"
    target_dir.mkdir()
    (target_dir / "keep.txt").write_bytes(SECRET)
    (tmp_path / "work").symlink_to(target_dir)
    w = fresh_dir(tmp_path / "work")
    assert w.is_dir() and not w.is_symlink() and not any(w.iterdir())
    assert (target_dir / "keep.txt").read_bytes() == SECRET
    (w / "leftover").write_text("x")
    (w / "link").symlink_to(target_dir)  # a leftover with a symlink inside: removed, not followed
    fresh_dir(w)
    assert not any(w.iterdir()) and (target_dir / "keep.txt").read_bytes() == SECRET


# -- a corpus with hostile shard names, scanned through the CLI -----------------------------------------
@pytest.fixture(scope="module")
def corpus(small_sample, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-corpus")
    for i, name in enumerate(HOSTILE):
        shutil.copy(small_sample / f"c4-sample.{i:05d}-of-00003.json.gz", d / name)
    assert sorted(os.listdir(d)) == sorted(HOSTILE)
    return d


def inputs(corpus) -> list[str]:
    """The shards by name (a folder's listing skips names starting with a dot, as hidden files)."""
    return [str(corpus / n) for n in HOSTILE]


@pytest.fixture(scope="module")
def scanned(corpus, prefect_api, tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile-scan")
    ledger = d / "l.duckdb"
    res = run_cli(["scan", *inputs(corpus), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=d, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    return ledger


def _documents(ledger) -> int:
    import duckdb

    con = duckdb.connect(str(ledger), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM documents").fetchone()[0]
    finally:
        con.close()


def test_scan_sinks_replace_planted_symlinks(scanned, prefect_api, corpus, outside):
    shards = scanned.parent / (scanned.name + ".parts") / "shards"
    sinks = sorted(p for p in shards.iterdir() if not p.name.startswith("."))
    assert {p.name.rsplit(".", 2)[-2] for p in sinks} >= {"annotations", "done"}
    assert all(PLAIN.fullmatch(p.name) for p in sinks)
    for p in sinks:  # each sink and marker becomes a symlink to a file outside
        p.unlink()
        outside.link(p)
        outside.link(p.with_name(f".{p.name}.tmp"))
    res = run_cli(["scan", *inputs(corpus), "--ledger", str(scanned), "--top", "0", "--quiet", "--force"],
                  cwd=scanned.parent, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    outside.check()
    for p in sinks:
        assert regular(p), p
        if p.name.endswith(".annotations.parquet"):
            assert pq.read_metadata(p).num_rows == 1000
        elif p.name.endswith(".done.json"):
            assert json.loads(p.read_text())["documents"] == 1000
    assert _documents(scanned) == 2000
    # no temporary file left beside the sinks (only the planted links, untouched)
    assert all(p.is_symlink() for p in shards.iterdir() if p.name.startswith("."))


def test_scan_shard_never_writes_through_the_old_temporary_names(corpus, tmp_path, outside):
    from provenance.pipeline import _paths, config_hash, scan_shard
    from provenance.readers import ReadOptions
    from provenance.scanners import default_scanners
    from provenance.sources import discover

    shard = [s for s in discover(inputs(corpus)) if s.uri.endswith(HOSTILE[0])][0]
    scanners, options = default_scanners(), ReadOptions()
    chash = config_hash(scanners, options)
    work = tmp_path / "work"
    for p in _paths(work, shard, chash):
        assert p.parent == work / "shards" and PLAIN.fullmatch(p.name)
        outside.link(p.with_suffix(f".tmp{os.getpid()}"))  # what older versions wrote through
        outside.link(p)
    r = scan_shard(shard, work, options=options, scanners=scanners, chash=chash)
    assert r.status == "done" and r.documents == 1000
    outside.check()
    ann, _, done = _paths(work, shard, chash)
    assert regular(ann) and pq.read_metadata(ann).num_rows == 1000 and regular(done)
    assert r.annotations_path == str(ann)


def test_export_through_planted_symlinks_and_hostile_shard_names(scanned, tmp_path, outside):
    out = tmp_path / "export"
    out.mkdir()
    staging_target = outside.root / "victim-staging"
    staging_target.mkdir()
    (staging_target / "keep.parquet").write_bytes(SECRET)
    (out / ".provenance-export.staging").symlink_to(staging_target)  # a staging folder planted as a symlink
    res = run_cli(["export", "--ledger", str(scanned), "--out", str(out), "--quiet"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (staging_target / "keep.parquet").read_bytes() == SECRET and os.listdir(staging_target) == ["keep.parquet"]
    manifest = json.loads((out / "manifest.json").read_text())
    names = [f["name"] for f in manifest["files"]]
    assert len(names) == 2 and all(PLAIN.fullmatch(n) for n in names)
    assert {n.rsplit("-", 1)[0] for n in names} == {"a_b_x", "evil_..name"}
    assert sorted(os.listdir(out)) == sorted(names + ["manifest.json"])
    rows = {n: pq.read_metadata(out / n).num_rows for n in names}
    assert sum(rows.values()) == manifest["totals"]["exported"] > 0
    # again over the same folder: the outputs are symlinks now, and the temporary names too
    for n in names:
        (out / n).unlink()
        outside.link(out / n)
        outside.link(out / f".{n}.tmp")
    outside.link(out / ".manifest.json.tmp")
    res = run_cli(["export", "--ledger", str(scanned), "--out", str(out), "--overwrite", "--quiet"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    outside.check()
    assert all(regular(out / n) and pq.read_metadata(out / n).num_rows == rows[n] for n in names)
    assert regular(out / "manifest.json")
    assert not (out / ".provenance-export.staging").exists()


def test_redact_names_its_outputs_safely_and_refuses_a_planted_folder(corpus, tmp_path, outside):
    out = tmp_path / "red"
    res = run_cli(["redact", *inputs(corpus), "--out", str(out), "--quiet"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    names = sorted(os.listdir(out))
    assert len(names) == 2 and all(PLAIN.fullmatch(n) and n.endswith(".redacted.parquet") for n in names), names
    assert {n.rsplit("-", 1)[0] for n in names} == {"a_b_x", "evil_..name"}
    assert sum(pq.read_metadata(out / n).num_rows for n in names) == 2000
    # a folder with anything in it (here a symlink planted at an output's name) is refused, nothing written
    again = tmp_path / "red2"
    outside.link(again / names[0])
    res = run_cli(["redact", *inputs(corpus), "--out", str(again), "--quiet"], cwd=tmp_path)
    assert res.returncode != 0 and "not empty" in res.stderr
    outside.check()


def test_datasheet_replaces_planted_symlinks(scanned, prefect_api, tmp_path, outside):
    from provenance.reports import OUTPUTS

    out = tmp_path / "sheet"
    for name in OUTPUTS:
        outside.link(out / name)
        outside.link(out / f".{name}.tmp")  # the bug: `provenance datasheet` wrote through this one
    res = run_cli(["datasheet", "--ledger", str(scanned), "--out", str(out)], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    outside.check()
    for name in OUTPUTS:
        assert regular(out / name) and (out / name).stat().st_size > 0, name
        assert (out / f".{name}.tmp").is_symlink()  # left alone
    assert sorted(os.listdir(out)) == sorted(list(OUTPUTS) + [f".{n}.tmp" for n in OUTPUTS])
    assert "| documents | 2,000 |" in (out / "datasheet.md").read_text()


def test_excluded_out_replaces_a_planted_symlink(scanned, tmp_path, outside):
    f = tmp_path / "excluded.csv"
    outside.link(f)
    outside.link(tmp_path / ".excluded.csv.tmp")
    res = run_cli(["excluded", "--ledger", str(scanned), "--verdict", "all", "--out", str(f)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    outside.check()
    assert regular(f)
    t = pcsv.read_csv(f)
    assert t.column_names[:3] == ["url", "registered_domain", "verdict"]
    assert f"wrote {t.num_rows:,} " in res.stdout


def test_write_excluded_never_writes_through_the_old_temporary_name(scanned, tmp_path, outside):
    from provenance.export import write_excluded

    for name in ("x.jsonl", "x.parquet"):
        outside.link(tmp_path / f".{name}.tmp{os.getpid()}")
        outside.link(tmp_path / name)
        w = write_excluded(scanned, tmp_path / name, verdict=None)
        assert regular(tmp_path / name)
        if name.endswith(".jsonl"):
            assert len((tmp_path / name).read_text().splitlines()) == w["rows"]
        else:
            assert pq.read_metadata(tmp_path / name).num_rows == w["rows"]
    outside.check()


def test_index_build_default_folder_from_a_hostile_name_and_planted_symlinks(prefect_api, tmp_path, outside):
    from provenance.codeindex import load_index

    src = tmp_path / "code"
    src.mkdir()
    (src / "buffer.c").write_text("#include <stdlib.h>\n" + "\n".join(
        f"int f{i}(int *buf, int want) {{ for (int j = 0; j < want; j++) {{ buf[j] ^= j * {i} + 31; }} return want % {i + 7}; }}"
        for i in range(40)) + "\n")
    name = "../../escape\nme"
    folder = tmp_path / "indexes" / safe_name(name)
    files = ("refs.parquet", "fingerprints.parquet", "common_fingerprints.parquet", "meta.json")
    for f in files:
        outside.link(folder / f)
        outside.link(folder / f".{f}.tmp")
    res = run_cli(["index", "build", name, str(src)], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    outside.check()
    assert sorted(os.listdir(tmp_path / "indexes")) == [safe_name(name)]
    assert not (tmp_path.parent / "escape\nme").exists() and not (tmp_path / "escape\nme").exists()
    assert all(regular(folder / f) for f in files)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["name"] == name and meta["refs"] == 1
    assert load_index(folder).meta["refs"] == 1


def test_rules_import_categories_and_agents_import_replace_a_planted_symlink(tmp_path, outside):
    from provenance.ruleset import import_ai_robots_json, write_agents_yaml

    csv = tmp_path / "dpi.csv"
    csv.write_text("Domain,Content Domain I\nexample.com,News\nwiki.example,Education/Knowledge\n")
    out = tmp_path / "layer" / "categories.yaml"
    outside.link(out)
    outside.link(out.with_name(".categories.yaml.tmp"))
    res = run_cli(["rules", "import-categories", str(csv), "--out", str(out)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert regular(out) and yaml.safe_load(out.read_text())["domains"] == {"example.com": "News & Media",
                                                                          "wiki.example": "Education & Reference"}
    robots = tmp_path / "robots.json"
    robots.write_text(json.dumps({"NewBot": {"operator": "Someone", "function": "training data"}}))
    agents = tmp_path / "layer" / "agents.yaml"
    outside.link(agents)
    write_agents_yaml(import_ai_robots_json(robots), agents)  # what `provenance robots agents-import --out` does
    assert regular(agents) and [a["token"] for a in yaml.safe_load(agents.read_text())["agents"]] == ["NewBot"]
    outside.check()


def test_sample_replaces_planted_symlinks(tmp_path, outside):
    from provenance.sample import shard_name

    out = tmp_path / "sample"
    shards = [shard_name(i, 2, fmt) for i in range(2) for fmt in ("jsonl.gz", "parquet")]
    for name in shards + ["MANIFEST.json", "near_duplicates.json", "robots.jsonl.gz"]:
        outside.link(out / name)
    for name in ("MANIFEST.json.tmp", "near_duplicates.json.tmp", ".robots.jsonl.gz.tmp"):
        outside.link(out / name)  # MANIFEST.json.tmp: the name older versions wrote through
    res = run_cli(["sample", "--out", str(out), "--docs", "300", "--shards", "2"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    outside.check()
    for name in shards + ["MANIFEST.json", "near_duplicates.json", "robots.jsonl.gz"]:
        assert regular(out / name), name
    assert json.loads((out / "MANIFEST.json").read_text())["docs"] == 300
    with gzip.open(out / shards[0]) as f:
        assert sum(1 for _ in f) == 150
    assert pq.read_metadata(out / shards[3]).num_rows == 150
    with gzip.open(out / "robots.jsonl.gz") as f:
        assert json.loads(f.readline())["host"]
