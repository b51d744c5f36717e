"""Turn what the user typed (paths, globs, directories, fsspec URLs) into shards.

A shard is one file. Its ``shard_id`` is derived from its canonical URI, so a rescan of the same file
replaces its ledger rows; its ``fingerprint`` (URI + size + modification time or ETag) says whether the
file changed since the last scan, so an unchanged, finished shard is skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

from .errors import ConfigError

#: file name endings -> (format, compression)
_SUFFIXES: list[tuple[str, str, str | None]] = [
    (".warc.wet.gz", "wet", None),
    (".wet.gz", "wet", None),
    (".warc.wat.gz", "wat", None),
    (".wat.gz", "wat", None),
    (".warc.gz", "warc", None),
    (".warc", "warc", None),
    (".wet", "wet", None),
    (".wat", "wat", None),
    (".jsonl.gz", "jsonl", "gzip"),
    (".json.gz", "jsonl", "gzip"),
    (".ndjson.gz", "jsonl", "gzip"),
    (".jsonl.zst", "jsonl", "zstd"),
    (".json.zst", "jsonl", "zstd"),
    (".jsonl.zstd", "jsonl", "zstd"),
    (".jsonl", "jsonl", None),
    (".json", "jsonl", None),
    (".ndjson", "jsonl", None),
    (".parquet", "parquet", None),
    (".pq", "parquet", None),
]

FORMATS = ("jsonl", "parquet", "warc", "wet", "wat")
_AMBIGUOUS_IN_DIRS = (".json",)


@dataclass(frozen=True)
class Shard:
    uri: str  # canonical: absolute local path or protocol://path
    format: str  # jsonl | parquet | warc | wet | wat
    compression: str | None  # gzip | zstd | None (WARC handles its own per-record gzip)
    size: int | None
    fingerprint: str
    shard_id: str
    error: str | None = None  # set when the shard could not even be listed (missing file)

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


def detect_format(path: str) -> tuple[str, str | None] | None:
    low = path.lower()
    for suffix, fmt, comp in _SUFFIXES:
        if low.endswith(suffix):
            return fmt, comp
    return None


def shard_id_for(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def _canonical(fs, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return os.path.abspath(path)
    return fs.unstrip_protocol(path)


def _fingerprint(uri: str, info: dict) -> str:
    stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag") or info.get("created") or ""
    h = hashlib.sha256()
    h.update(f"{uri}\0{info.get('size')}\0{stamp}".encode())
    return h.hexdigest()[:32]


def _make(fs, path: str, info: dict, fmt: str | None, comp: str | None) -> Shard:
    uri = _canonical(fs, path)
    return Shard(
        uri=uri,
        format=fmt,
        compression=comp,
        size=info.get("size"),
        fingerprint=_fingerprint(uri, info),
        shard_id=shard_id_for(uri),
    )


def _missing(spec: str, fmt: str | None, comp: str | None, why: str) -> Shard:
    uri = os.path.abspath(spec) if "://" not in spec else spec
    return Shard(uri=uri, format=fmt or "unknown", compression=comp, size=None, fingerprint="missing",
                 shard_id=shard_id_for(uri), error=why)


_ROBOTS_CAPTURES = re.compile(r"robots[^/]*\.jsonl(\.gz|\.zst)?")


def discover(specs: list[str], format: str | None = None) -> list[Shard]:
    """Expand user input into shards, sorted and de-duplicated.

    A spec that matches nothing becomes a shard with ``error`` set, so the run records it in the ledger's
    quarantine instead of silently dropping it. ``format`` forces a format for files without a known
    ending.
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    shards: dict[str, Shard] = {}
    for spec in specs:
        fs, path = url_to_fs(spec)
        has_glob = any(c in path for c in "*?[")
        if has_glob:
            matches = sorted(fs.glob(path, detail=False))
            if not matches:
                s = _missing(spec, format, None, f"no file matches {spec}")
                shards.setdefault(s.uri, s)
                continue
        else:
            matches = [path]
        for match in matches:
            try:
                info = fs.info(match)
            except (FileNotFoundError, OSError) as exc:
                det = detect_format(match) or (format, None)
                s = _missing(spec if not has_glob else match, det[0], det[1], f"cannot open {spec}: {exc.__class__.__name__}: {exc}")
                shards.setdefault(s.uri, s)
                continue
            if info.get("type") == "directory":
                for sub, subinfo in sorted(fs.find(match, detail=True).items()):
                    det = detect_format(sub)
                    base = sub.rsplit("/", 1)[-1]
                    if (det is None or base.startswith((".", "_")) or base.lower().endswith(_AMBIGUOUS_IN_DIRS)
                            or _ROBOTS_CAPTURES.fullmatch(base.lower())):
                        # files of unknown kind, hidden/marker files, plain .json (manifests, configs) and
                        # robots.txt captures (robots*.jsonl[.gz|.zst], as `provenance sample` writes them
                        # beside the shards) inside a directory are not shards; name them explicitly to scan them
                        continue
                    s = _make(fs, sub, subinfo, *det)
                    shards.setdefault(s.uri, s)
                continue
            det = detect_format(match)
            if format is not None:
                det = (format, det[1] if det and det[0] == format else _compression_of(match))
            if det is None:
                raise ConfigError(
                    f"{spec}: unknown file type; name it *.jsonl[.gz|.zst], *.json.gz, *.parquet, *.warc[.gz], "
                    f"*.wet.gz or *.wat.gz, or pass --format"
                )
            s = _make(fs, match, info, *det)
            shards.setdefault(s.uri, s)
    return sorted(shards.values(), key=lambda s: s.uri)


def _compression_of(path: str) -> str | None:
    low = path.lower()
    if low.endswith(".gz"):
        return "gzip"
    if low.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def open_binary(shard: Shard):
    """Open the raw (still compressed) bytes of a shard as a file object."""
    return fsspec.open(shard.uri, "rb").open()
