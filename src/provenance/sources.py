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
    error: str | None = None  # set when a listed file could not be looked at (gone, refused): quarantined

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


_SHARD_NAMES = "*.jsonl[.gz|.zst], *.json.gz, *.parquet, *.warc[.gz], *.wet.gz or *.wat.gz"


def _why(exc: BaseException) -> str:
    """One line for an error of listing or opening a path (never more than the error's type and errno text)."""
    from .errors import safe_message

    return safe_message(exc)


def discover(specs: list[str], format: str | None = None) -> list[Shard]:
    """Expand user input into shards, sorted and de-duplicated.

    What the user named must exist: a path that does not exist (local or remote), a glob that matches
    nothing, a folder with no shard in it, or a remote URL that cannot be reached raises ConfigError with
    one line naming it, before any work is done (a usage error, exit 2). A file that was listed (found in
    a folder or by a glob) but is gone when it is looked at becomes a shard with ``error`` set, and one
    that is gone by the time it is read is quarantined by the reader as ``missing``: both are recorded in
    the ledger's quarantine instead of silently dropped. ``format`` forces a format for files without a
    known ending.

    Same-named shards in two formats (``x.json.gz`` and ``x.parquet`` side by side) are all returned: see
    ``format_twins`` for the warning a caller should print (``twin_groups`` for the shards themselves).
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    shards: dict[str, Shard] = {}
    for spec in specs:
        try:
            fs, path = url_to_fs(spec)
        except (ValueError, ImportError) as exc:  # an unknown protocol, or its package not installed
            raise ConfigError(f"{spec}: {' '.join(str(exc).split())}") from None
        has_glob = any(c in path for c in "*?[")
        if has_glob:
            try:
                matches = sorted(fs.glob(path, detail=False))
            except Exception as exc:  # noqa: BLE001 - a remote store raises its own kinds (timeouts, auth)
                raise ConfigError(f"{spec}: cannot list: {_why(exc)}") from None
            if not matches:
                if _exists(fs, path):  # a file whose name holds glob characters, named literally
                    matches, has_glob = [path], False
                else:
                    raise ConfigError(f"{spec}: no file matches")
        else:
            matches = [path]
        found = 0
        for match in matches:
            try:
                info = fs.info(match)
            except FileNotFoundError as exc:
                if not has_glob:
                    raise ConfigError(f"{spec}: no such file or folder") from None
                # listed by the glob, gone now: recorded as a missing shard
                det = detect_format(match) or (format, None)
                s = _missing(_canonical(fs, match), det[0], det[1], f"cannot open {match}: {_why(exc)}")
                shards.setdefault(s.uri, s)
                found += 1
                continue
            except Exception as exc:  # noqa: BLE001 - permission, timeout, auth: the input cannot be used
                if has_glob:  # listed, then refused: recorded as a missing shard, as the other listed files
                    det = detect_format(match) or (format, None)
                    s = _missing(_canonical(fs, match), det[0], det[1], f"cannot open {match}: {_why(exc)}")
                    shards.setdefault(s.uri, s)
                    found += 1
                    continue
                raise ConfigError(f"{match if has_glob else spec}: cannot open: {_why(exc)}") from None
            if info.get("type") == "directory":
                try:
                    listing = sorted(fs.find(match, detail=True).items())
                except Exception as exc:  # noqa: BLE001
                    raise ConfigError(f"{match if has_glob else spec}: cannot list: {_why(exc)}") from None
                for sub, subinfo in listing:
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
                    found += 1
                continue
            det = detect_format(match)
            if format is not None:
                det = (format, det[1] if det and det[0] == format else _compression_of(match))
            if det is None:
                raise ConfigError(
                    f"{spec}: unknown file type; name it {_SHARD_NAMES}, or pass --format"
                )
            s = _make(fs, match, info, *det)
            shards.setdefault(s.uri, s)
            found += 1
        if not found:
            what = "this folder" if not has_glob else f"the {len(matches):,} folder(s) it matches"
            raise ConfigError(f"{spec}: no shard in {what} (files named {_SHARD_NAMES}; "
                              f"plain *.json, hidden and robots*.jsonl files are only taken when named)")
    return sorted(shards.values(), key=lambda s: s.uri)


def _exists(fs, path: str) -> bool:
    try:
        return bool(fs.exists(path))
    except Exception:  # noqa: BLE001
        return False


# -- the same shard in two formats ------------------------------------------------------------------------

def split_name(name: str) -> tuple[str, str] | None:
    """``(stem, suffix)`` of a shard file name: ``c4.00000.json.gz`` -> ``("c4.00000", "json.gz")``; None for a
    name without a known ending."""
    low = name.lower()
    for suffix, _fmt, _comp in _SUFFIXES:
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], name[-len(suffix) + 1 :]
    return None


def _folder(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[0] if "/" in uri else ""


def twin_groups(shards: list[Shard]) -> dict[tuple[str, str], list[Shard]]:
    """Shards that are one shard in several formats: ``{(folder, stem): [shards]}`` for every folder and
    file name stem (the name without its format and compression endings) that more than one shard shares,
    e.g. ``c4.00000.json.gz`` and ``c4.00000.parquet``. Their documents would be counted once per format."""
    groups: dict[tuple[str, str], list[Shard]] = {}
    for s in shards:
        parts = split_name(s.name)
        if parts is None:
            continue
        groups.setdefault((_folder(s.uri), parts[0]), []).append(s)
    return {k: sorted(v, key=lambda s: s.uri) for k, v in sorted(groups.items()) if len(v) > 1}


def _show_folder(folder: str, cwd: str | None) -> str:
    """A folder as the user would type it: relative to the working directory when inside it."""
    if "://" in folder:
        return folder + "/"
    cwd = os.path.abspath(cwd or os.getcwd())
    try:
        rel = os.path.relpath(folder, cwd)
    except ValueError:  # another drive (Windows)
        rel = folder
    if rel == ".":
        return "./"
    return (folder if rel.startswith("..") else rel) + "/"


def format_twins(shards: list[Shard], cwd: str | None = None, examples: int = 2) -> list[str]:
    """One warning line per folder holding the same shards in several formats (``twin_groups``), e.g.::

        warning: 4 shard(s) are in sample/ in two formats (c4-sample.00000-of-00004: json.gz and parquet, ...):
        both are scanned and their documents count twice; name one format (e.g. sample/*.json.gz)

    (one line). Every shard stays in the scan: the user named them; the warning says what that does. []
    when there are none. Folders are shown relative to ``cwd`` (default: the working directory)."""
    by_folder: dict[str, list[tuple[str, list[str]]]] = {}
    for (folder, stem), group in twin_groups(shards).items():
        suffixes = sorted({split_name(s.name)[1] for s in group})
        if len(suffixes) < 2:
            continue  # the same name twice in one folder cannot happen; be safe
        by_folder.setdefault(folder, []).append((stem, suffixes))
    lines = []
    for folder, stems in by_folder.items():
        shown = _show_folder(folder, cwd)
        counts = {len(sfx) for _, sfx in stems}
        n_formats = {2: "two", 3: "three"}.get(max(counts), f"{max(counts)}") if len(counts) == 1 else "several"
        both = "both are" if counts == {2} else "all are"
        twice = "twice" if counts == {2} else "once per format"
        listed = ", ".join(f"{stem}: {' and '.join(sfx)}" for stem, sfx in stems[:examples])
        if len(stems) > examples:
            listed += ", ..."
        # suggest the format most of the twins share (the first in name order on a tie)
        votes: dict[str, int] = {}
        for _, sfx in stems:
            for x in sfx:
                votes[x] = votes.get(x, 0) + 1
        pick = sorted(votes, key=lambda x: (-votes[x], x))[0]
        lines.append(f"warning: {len(stems):,} shard(s) are in {shown} in {n_formats} formats ({listed}): {both} "
                     f"scanned and their documents count {twice}; name one format (e.g. {shown}*.{pick})")
    return lines


#: the same function under the name the issue gave it
duplicate_stems = format_twins


def _compression_of(path: str) -> str | None:
    low = path.lower()
    if low.endswith(".gz"):
        return "gzip"
    if low.endswith((".zst", ".zstd")):
        return "zstd"
    return None


def open_binary(shard: Shard):
    """Open the raw (still compressed) bytes of a shard as a file object. When a scan's progress watches the
    shard, it is told the file, whose position says how much of the shard was read."""
    from .progress import reporter

    f = fsspec.open(shard.uri, "rb").open()
    watch = reporter(shard.uri)
    if watch is not None:
        watch.raw = f
    return f
