"""Independent readers: what docs/bad-input.md says a shard must yield, computed without the product's code.

Nothing here imports provenance's readers, streams or salvage code; the only things taken from the product
are constants (the field candidates of ``mapping.DEFAULT_MAP``), with a copy as a fallback so that a
half-rewritten readers package cannot break the oracle.

- ``salvage``: the maximally salvaged stream of a gzip / zstd file (one byte at a time on damage).
- ``jsonl_expect``: the exact per-line outcome of a JSON Lines shard (plain, .gz, .zst).
- ``parquet_expect``: the outcome of the readable row groups of a Parquet shard.
- ``warc_records``: warcio's record offsets and lengths (and which records are rows) for WARC/WET/WAT.

Outcomes are plain tuples so they pickle across the oracle process: ``("doc", url_norm, sha256_hex, nbytes)``
or ``("q", reason)``; flexible positions hold a set of allowed kinds (``"doc"``, a reason, ``"absent"``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import zlib
from dataclasses import dataclass, field

try:  # the field candidates are a constant the brief allows us to share
    from provenance.readers.mapping import DEFAULT_MAP as _MAP
except Exception:  # noqa: BLE001 - a broken product must not break the oracle
    _MAP = None

DEFAULT_MAP: dict[str, list[str]] = _MAP or {
    "text": ["text", "content", "raw_content"],
    "url": ["url", "metadata.url", "meta.url", "metadata.warc_url", "WARC-Target-URI", "id"],
    "crawl_date": ["timestamp", "date", "crawl_date", "metadata.date_download", "metadata.timestamp",
                   "meta.timestamp", "created", "WARC-Date"],
    "doc_id": ["id", "doc_id", "metadata.id"],
    "language": ["language", "lang", "metadata.language", "meta.language"],
    "crawl": ["dump", "crawl", "metadata.dump", "metadata.cc_segment", "meta.dump"],
    "http_headers": ["http_headers"],
}
try:
    from provenance.readers.base import DEFAULT_MAX_DOC_BYTES
except Exception:  # noqa: BLE001
    DEFAULT_MAX_DOC_BYTES = 16 * 1024 * 1024

GZ_MAGIC = b"\x1f\x8b\x08"
ZS_MAGIC = b"\x28\xb5\x2f\xfd"
PROBE = 1024
WINDOW = 1 << 20
MAX_DEPTH = 1024
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Whitespace Python's str.strip() and Arrow's utf8_trim_whitespace both remove, and the union of both sets
# (characters only one of them removes are compared leniently).
COMMON_WS = " \t\n\r\x0b\x0c\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"
ALL_WS = COMMON_WS + "\x1c\x1d\x1e\x1f\x85\u2028\u2029\u180e\u200b\ufeff"


def line_cap(max_doc_bytes: int) -> int:
    return max(2 * max_doc_bytes + (1 << 20), 8 << 20)


def norm_url(u: str) -> str:
    return u.strip(ALL_WS)


# --------------------------------------------------------------------------------------------------
# Salvaged streams
# --------------------------------------------------------------------------------------------------
@dataclass
class Damage:
    out_offset: int  # offset in the salvaged stream at the damage point
    reason: str  # corrupt | truncated
    comp_offset: int  # compressed offset of the failing member / stray bytes
    either_reason: bool = False  # the contract does not decide between corrupt and truncated here


def _fresh(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


def _errors(kind: str):
    if kind == "gzip":
        return (zlib.error,)
    import zstandard

    return (zstandard.ZstdError,)


def _probe_ok(data: bytes, p: int, kind: str) -> bool:
    try:
        _fresh(kind).decompress(data[p : p + PROBE])
        return True
    except _errors(kind):
        return False


def _resync(data: bytes, s: int, detect: int, kind: str) -> int | None:
    magic = GZ_MAGIC if kind == "gzip" else ZS_MAGIC
    p = data.find(magic, max(s + 1, detect - WINDOW))
    while p >= 0:
        if _probe_ok(data, p, kind):
            return p
        p = data.find(magic, p + 1)
    return None


def _is_skippable(data: bytes, s: int) -> bool:
    return len(data) - s >= 4 and (data[s] & 0xF0) == 0x50 and data[s + 1 : s + 4] == b"\x2a\x4d\x18"


def _decode_member(data: bytes, s: int, kind: str, sink) -> tuple[str, int, int]:
    """Decode the member at ``s``; returns (state, end_or_detect_offset, bytes_out) with state
    'eof' (end = offset after the member), 'error' (offset of the byte that failed) or 'truncated'.

    Fast path: feed 4 KiB pieces; if a piece raises, replay the member one byte at a time from its start
    and hand on only the output not handed on before (the replay is deterministic)."""
    n = len(data)
    errs = _errors(kind)
    d = _fresh(kind)
    emitted = 0
    i = s
    step = 4096
    failed = False
    while i < n:
        piece = data[i : i + step]
        try:
            out = d.decompress(piece)
        except errs:
            failed = True
            break
        if out:
            sink(out)
            emitted += len(out)
        if d.eof:
            return "eof", i + len(piece) - len(d.unused_data), emitted
        i += len(piece)
    if not failed:
        return "truncated", n, emitted
    # one byte at a time from the member's start
    d = _fresh(kind)
    produced = 0
    mv = memoryview(data)
    j = s
    while j < n:
        try:
            out = d.decompress(mv[j : j + 1])
        except errs:
            return "error", j, produced
        if out:
            if produced + len(out) > emitted:
                new = out[max(0, emitted - produced) :]
                sink(new)
            produced += len(out)
        j += 1
        if d.eof:  # cannot happen (the fast path failed inside this member), but be safe
            return "eof", j, produced
    return "truncated", n, produced


class _DamageList(list):
    def __init__(self, on_damage):
        super().__init__()
        self.on_damage = on_damage

    def append(self, d):
        super().append(d)
        if self.on_damage is not None:
            self.on_damage(d)


def salvage(data: bytes, kind: str, sink, on_damage=None) -> list[Damage]:
    """Feed the salvaged stream of ``data`` (kind 'gzip' or 'zstd') to ``sink`` piece by piece; return the
    damage points (``on_damage`` is called at each, when the sink has had everything before it)."""
    damages: list[Damage] = _DamageList(on_damage)
    out = 0
    s = 0
    n = len(data)
    members = 0
    magic = GZ_MAGIC if kind == "gzip" else ZS_MAGIC

    def emit(b: bytes):
        nonlocal out
        out += len(b)
        sink(b)

    while s < n:
        if kind == "gzip" and not data[s:].strip(b"\0"):
            break  # trailing zero padding
        if kind == "zstd" and _is_skippable(data, s):
            if n - s < 8:
                damages.append(Damage(out, "truncated", s, either_reason=True))
                break
            size = int.from_bytes(data[s + 4 : s + 8], "little")
            if s + 8 + size > n:
                damages.append(Damage(out, "truncated", s))
                break
            s += 8 + size
            continue
        if data.startswith(magic, s):
            state, where, _ = _decode_member(data, s, kind, emit)
            if state == "eof":
                members += 1
                s = where
                continue
            if state == "truncated":
                # the file ends inside this member: damaged (not cut) when an intact member starts after it
                p = _resync(data, s, n, kind)
                if p is None:
                    damages.append(Damage(out, "truncated", s))
                    break
                damages.append(Damage(out, "corrupt", s))
                s = p
                continue
            damages.append(Damage(out, "corrupt", s))
            p = _resync(data, s, where, kind)
            if p is None:
                break
            s = p
            continue
        # bytes that are not a member
        rest = data[s:]
        ambiguous = len(rest) < len(magic) and magic.startswith(rest)
        damages.append(Damage(out, "corrupt", s, either_reason=ambiguous))
        p = _resync(data, s, s, kind)
        if p is None:
            break
        s = p
    return damages


def salvage_bytes(data: bytes, kind: str) -> tuple[bytes, list[Damage]]:
    buf = bytearray()
    dmg = salvage(data, kind, buf.extend)
    return bytes(buf), dmg


# --------------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------------
class _Lines:
    """Split a stream fed in pieces into lines, holding at most ``cap`` + 1 bytes of a line."""

    def __init__(self, cap: int, on_line):
        self.cap = cap
        self.on_line = on_line
        self.buf = bytearray()
        self.length = 0  # bytes of the current line seen so far
        self.over = False
        self.line_no = 1
        self.out = 0

    def feed(self, b: bytes) -> None:
        self.out += len(b)
        start = 0
        while True:
            nl = b.find(b"\n", start)
            seg = b[start:] if nl < 0 else b[start:nl]
            self.length += len(seg)
            if not self.over:
                self.buf += seg
                if len(self.buf) > self.cap:
                    self.over = True
                    self.buf = bytearray()
            if nl < 0:
                return
            self._finish()
            start = nl + 1

    def _finish(self) -> None:
        self.on_line(self.line_no, None if self.over else bytes(self.buf), self.length)
        self.line_no += 1
        self.buf = bytearray()
        self.length = 0
        self.over = False

    def close(self) -> None:
        if self.length or self.buf:
            self._finish()


def _max_depth_over(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (never asks json to recurse)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _has_lone_surrogate(obj) -> bool:
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(v, dict):
            for k, x in v.items():
                stack.append(k)
                stack.append(x)
        elif isinstance(v, list):
            stack.extend(v)
    return False


_MISSING = object()


def _get(obj, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def field_value(obj: dict, fld: str, colmap: dict[str, list[str]] | None = None):
    for p in (colmap or DEFAULT_MAP)[fld]:
        v = _get(obj, p)
        if v is _MISSING or v is None:
            continue
        if fld == "url" and p == "id" and not (isinstance(v, str) and URL_SCHEME.match(v)):
            continue
        return v
    return None


def fields_outcome(url, text, max_doc_bytes: int):
    """The field rules shared by JSON Lines and Parquet: an outcome or a flexible set."""
    if (url is not None and not isinstance(url, str)) or (text is not None and not isinstance(text, str)):
        return ("q", "wrong_type")
    if url is None or url.strip(ALL_WS) == "":
        if url is not None and url.strip(COMMON_WS) != "" or (url is not None and url.strip() != url.strip(COMMON_WS)):
            # Python's strip and Arrow's trim disagree on some character of this URL
            return {"no_url", "doc"}
        return ("q", "no_url")
    if text is None or text == "":
        return ("q", "no_text")
    raw = text.encode("utf-8")
    if len(raw) > max_doc_bytes:
        return ("q", "too_large")
    return ("doc", norm_url(url), hashlib.sha256(raw).hexdigest(), len(raw))


def jsonl_line_outcome(line: bytes | None, length: int, max_doc_bytes: int, cap: int):
    """Outcome of one line: None (blank: not a row), a tuple, or a flexible set (which may contain
    'absent' when the line may or may not be a row)."""
    if line is None or length > cap:
        return ("q", "too_large")
    if not line.strip(b" \t\r"):
        return None
    try:
        s = line.decode("utf-8")
    except UnicodeDecodeError:
        return ("q", "bad_utf8")
    bom_only = False
    if s.startswith("\ufeff"):
        s = s[1:]
        if not s.strip(" \t\r"):
            bom_only = True  # blank once the BOM is ignored: row (bad_json) or not a row, both readings fit
    if bom_only:
        return {"absent", "bad_json"}
    if _max_depth_over(s, MAX_DEPTH):
        if "\\ud" in s.lower():
            return {"bad_json", "bad_utf8"}
        return ("q", "bad_json")
    try:
        obj = json.loads(s)
    except RecursionError:
        return {"doc", "bad_json"}
    except (ValueError, TypeError):
        return ("q", "bad_json")
    if _has_lone_surrogate(obj):
        return ("q", "bad_utf8")
    if not isinstance(obj, dict):
        return ("q", "bad_json")
    return fields_outcome(field_value(obj, "url"), field_value(obj, "text"), max_doc_bytes)


@dataclass
class Expectation:
    """What a shard must give. ``docs``: position -> ("doc", url_norm, sha, nbytes); ``quarantine``:
    position -> reason; ``flex``: position -> allowed set; rows_min/rows_max; ``damages``: list of
    (position, reason, either_reason); ``status``: allowed statuses (None: not checked)."""

    fmt: str
    docs: dict = field(default_factory=dict)
    quarantine: dict = field(default_factory=dict)
    flex: dict = field(default_factory=dict)
    rows_min: int | None = None
    rows_max: int | None = None
    damages: list = field(default_factory=list)
    status: set | None = None
    exact: bool = True  # no other record positions may appear
    extra_ok_ranges: list = field(default_factory=list)  # (lo, hi): positions here may hold anything
    note: str = ""


class _Recursion:
    def __enter__(self):
        self.old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(self.old, 20000))
        self.old_digits = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
        if self.old_digits is not None:
            sys.set_int_max_str_digits(0)  # "numbers of any size are accepted"
        return self

    def __exit__(self, *exc):
        sys.setrecursionlimit(self.old)
        if self.old_digits is not None:
            sys.set_int_max_str_digits(self.old_digits)


def jsonl_expect(data: bytes, compression: str | None, max_doc_bytes: int) -> Expectation:
    cap = line_cap(max_doc_bytes)
    exp = Expectation("jsonl")
    rows_fixed = 0
    rows_optional = 0

    def on_line(no: int, line: bytes | None, length: int):
        nonlocal rows_fixed, rows_optional
        oc = jsonl_line_outcome(line, length, max_doc_bytes, cap)
        if oc is None:
            return
        if isinstance(oc, set):
            exp.flex[no] = oc
            if "absent" in oc:
                rows_optional += 1
            else:
                rows_fixed += 1
            return
        rows_fixed += 1
        if oc[0] == "doc":
            exp.docs[no] = oc
        else:
            exp.quarantine[no] = oc[1]

    lines = _Lines(cap, on_line)
    damages_at: list[tuple[int, Damage]] = []
    with _Recursion():
        if compression in ("gzip", "zstd"):
            # the line in progress at a damage point: the sink has had everything before it
            def on_damage(d):
                # the line in progress at the damage point; the damage then ends that line (contract)
                exp.damages.append((lines.line_no, d.reason, d.either_reason))
                if lines.length or lines.buf:
                    lines._finish()

            salvage(data, compression, lines.feed, on_damage=on_damage)
            lines.close()
        else:
            step = 1 << 20
            for i in range(0, len(data), step):
                lines.feed(data[i : i + step])
            lines.close()
    exp.rows_min = rows_fixed
    exp.rows_max = rows_fixed + rows_optional
    if exp.damages:
        exp.status = {"partial"} if rows_fixed else {"partial", "failed"}
    else:
        exp.status = {"done"}
    return exp


# --------------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------------
def _is_text_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "str"
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        return "str"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bin"
    if pa.types.is_dictionary(t) and (pa.types.is_binary(t.value_type) or pa.types.is_large_binary(t.value_type)):
        return "bin"
    return "other"


def _column_values(table, path: str):
    """(type kind, python values) of a candidate path in a table, or None when absent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = table.schema.names
    if path in names:
        arr = table.column(path).combine_chunks()
    else:
        parts = path.split(".")
        if parts[0] not in names:
            return None
        arr = table.column(parts[0]).combine_chunks()
        for part in parts[1:]:
            if not pa.types.is_struct(arr.type) or arr.type.get_field_index(part) < 0:
                return None
            arr = pc.struct_field(arr, part)
    kind = _is_text_type(arr.type)
    if kind == "bin":
        vals = arr.cast(pa.large_binary()).to_pylist() if pa.types.is_dictionary(arr.type) is False else \
            arr.dictionary_decode().cast(pa.large_binary()).to_pylist()
    elif kind == "str":
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        vals = arr.cast(pa.large_binary()).to_pylist()
    else:
        vals = [None if v is None else _Other(v) for v in arr.to_pylist()]
    return kind, vals


class _Other:
    """A value of a column type that cannot be text (wrong_type when it is the first non-null)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


def parquet_needed_columns(schema_names: list[str]) -> list[str]:
    wanted = []
    for paths in DEFAULT_MAP.values():
        for p in paths:
            root = p.split(".")[0]
            if root in schema_names and root not in wanted:
                wanted.append(root)
    return wanted


def _pick(cols: list, i: int, fld: str):
    """First candidate value of row i that is present and not null: (kind, value) or (None, None)."""
    for path, kind, vals in cols:
        v = vals[i]
        if v is None:
            continue
        if fld == "url" and path == "id":
            if kind == "other":
                continue
            try:
                sv = v.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if not URL_SCHEME.match(sv):
                continue
        return kind, v
    return None, None


def parquet_expect(path: str, max_doc_bytes: int) -> Expectation:
    import pyarrow.parquet as pq

    exp = Expectation("parquet", exact=False)
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        names = pf.schema_arrow.names
        n_groups = meta.num_row_groups
        group_rows = [meta.row_group(i).num_rows for i in range(n_groups)]
        total = meta.num_rows
    except Exception as exc:  # noqa: BLE001 - an unreadable footer
        exp.status = {"failed"}
        exp.rows_min = exp.rows_max = 0
        exp.note = f"footer unreadable: {type(exc).__name__}"
        return exp
    exp.rows_min = min(total, sum(group_rows))
    exp.rows_max = max(total, sum(group_rows))
    cols_needed = parquet_needed_columns(names)
    start = 0
    damaged = False
    suspects = False  # invalid UTF-8 in a string column: per-row bad_utf8 (contract), the status may say done
    for g in range(n_groups):
        nrows = group_rows[g]
        try:
            table = pf.read_row_group(g, columns=cols_needed, use_threads=False)
            if table.num_rows != nrows:
                raise ValueError("row count differs from the metadata")
            cand = {}
            for fld in ("url", "text"):
                cols = []
                for p in DEFAULT_MAP[fld]:
                    got = _column_values(table, p)
                    if got is not None:
                        cols.append((p, got[0], got[1]))
                cand[fld] = cols
        except Exception:  # noqa: BLE001 - a damaged row group: anything within it is allowed
            damaged = True
            exp.extra_ok_ranges.append((start, start + max(nrows, 0)))
            start += max(nrows, 0)
            continue
        group = {}
        suspect = False  # a string column holding invalid UTF-8: damaged data pyarrow did not notice
        for i in range(nrows):
            uk, uv = _pick(cand["url"], i, "url")
            tk, tv = _pick(cand["text"], i, "text")
            oc = _parquet_row(uk, uv, tk, tv, max_doc_bytes)
            suspect = suspect or (isinstance(oc, set) and "doc" in oc and "bad_utf8" in oc)
            group[start + i] = oc
        for pos, oc in group.items():
            if suspect:  # a reader whose decoding validates UTF-8 may call the whole group unreadable
                exp.flex[pos] = (set(oc) if isinstance(oc, set) else {"doc" if oc[0] == "doc" else oc[1]}) | {"absent"}
            elif isinstance(oc, set):
                exp.flex[pos] = oc
            elif oc[0] == "doc":
                exp.docs[pos] = oc
            else:
                exp.quarantine[pos] = oc[1]
        if suspect:
            suspects = True
        start += nrows
    exp.status = {"done", "partial"} if not damaged else {"partial", "failed"}
    if not damaged:
        exp.status = {"done", "partial"}  # damage pyarrow does not notice may still be noticed by a reader
    if suspects and not damaged:
        exp.status = {"done", "partial", "failed"}
    return exp


def _parquet_row(uk, uv, tk, tv, max_doc_bytes: int):
    bad_utf8 = False
    url = text = None
    wrong = False
    for kind, v, name in ((uk, uv, "url"), (tk, tv, "text")):
        if kind is None:
            continue
        if kind == "other":
            wrong = True
            continue
        try:
            s = v.decode("utf-8")
        except UnicodeDecodeError:
            if kind == "bin":
                bad_utf8 = True
                continue
            return {"bad_utf8", "doc", "wrong_type"}  # a string column holding invalid UTF-8
        if name == "url":
            url = s
        else:
            text = s
    if bad_utf8 and wrong:
        return {"bad_utf8", "wrong_type"}
    if bad_utf8:
        return ("q", "bad_utf8")
    if wrong:
        return ("q", "wrong_type")
    return fields_outcome(url, text, max_doc_bytes)


# --------------------------------------------------------------------------------------------------
# WARC / WET / WAT
# --------------------------------------------------------------------------------------------------
@dataclass
class WarcRecord:
    offset: int
    length: int
    rtype: str
    is_row: bool
    url: str | None = None


def warc_records(path: str, fmt: str) -> list[WarcRecord]:
    """Every record of a clean WARC/WET/WAT file with its offset and length in file bytes (warcio), and
    whether the contract makes it a row."""
    from warcio.archiveiterator import ArchiveIterator

    out: list[WarcRecord] = []
    with open(path, "rb") as f:
        it = ArchiveIterator(f, no_record_parse=False, arc2warc=False)
        for rec in it:
            rtype = rec.rec_type
            url = rec.rec_headers.get_header("WARC-Target-URI")
            body = rec.raw_stream.read()
            off = it.get_record_offset()
            ln = it.get_record_length()
            if fmt == "warc":
                is_row = rtype == "response"
            elif fmt == "wet":
                is_row = rtype == "conversion"
            else:
                is_row = False
                if rtype == "metadata":
                    try:
                        env = json.loads(body)
                        is_row = isinstance(env, dict) and "HTTP-Response-Metadata" in (
                            env.get("Envelope", {}).get("Payload-Metadata", {}))
                    except Exception:  # noqa: BLE001
                        is_row = False
            out.append(WarcRecord(off, ln, rtype, is_row, url))
    # warcio's lengths on plain files stop before the record's trailing CRLFs; make ranges contiguous
    for a, b in zip(out, out[1:]):
        if a.offset + a.length < b.offset:
            a.length = b.offset - a.offset
    return out
