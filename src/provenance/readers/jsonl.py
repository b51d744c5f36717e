"""JSON Lines (plain, gzip, zstd), streamed in blocks of whole lines over the salvaged stream.

The rules are in docs/bad-input.md ("JSON Lines"). Each line is parsed with orjson, which validates UTF-8,
refuses lone surrogates and stops at 1,024 levels of nesting; the rare line orjson refuses is looked at again
by ``_careful`` (a byte order mark, NaN or Infinity, or the reason it is bad, in the order the contract
gives). Why not Arrow's JSON reader: one line that is JSON but not an object (``null``) at the start of a
block crashes the process (pyarrow 26, SIGSEGV), it accepts `{...} null` as two rows and leaves invalid UTF-8
in ignored fields unchecked; and orjson line by line is as fast here (bench/bench_readers.py).

Damage in a compressed stream never stops the reader: it becomes a ``range`` quarantine row at the line in
progress, and reading goes on with what the stream salvaged after it.
"""

from __future__ import annotations

import json
import re
from typing import Iterator

import orjson
import pyarrow as pa

from .. import errors
from ..sources import Shard
from . import mapping
from .base import ReadChunk, ReadOptions, crawl_from, finalize, quarantine_record
from .stream import open_decompressed

MAX_DEPTH = 1024  # orjson's limit, and the contract's
BOM = b"\xef\xbb\xbf"
_URL_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_BLANK = b" \t\r"
_TYPE_NAMES = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}


def line_cap(options: ReadOptions) -> int:
    """Lines longer than this are skipped while streaming (``too_large``), never held in memory."""
    return max(2 * options.max_doc_bytes + (1 << 20), options.batch_bytes)


def _blocks(stream, options: ReadOptions) -> Iterator[tuple[bytes, int, list[dict]]]:
    """Yield (block of whole lines, 1-based number of its first line, quarantine rows found meanwhile).

    Quarantine rows here are the lines over the cap and the damage the stream reported (``range`` rows at
    the line in progress)."""
    cap = line_cap(options)
    read_size = options.batch_bytes
    buf = bytearray()
    line_no = 1  # number of the first line in buf (or of the line being skipped)
    skipping = False  # inside a line over the cap
    skip_bytes = 0
    pending: list[dict] = []

    def too_large(n: int) -> dict:
        return quarantine_record(line_no, errors.TOO_LARGE, f"line of {n:,}+ bytes exceeds the line cap of {cap:,} "
                                 f"bytes (--max-doc-bytes {options.max_doc_bytes:,})", n)

    def damage(ev) -> None:
        nonlocal skipping, line_no, buf
        at = line_no if skipping else line_no + buf.count(b"\n")
        pending.append(quarantine_record(at, ev.reason, ev.detail, ev.skipped, kind="range"))
        # the damage ends the line in progress: what follows (the next intact member) starts a new line
        if skipping:
            pending.append(too_large(skip_bytes))
            skipping = False
            line_no += 1
        elif buf and not buf.endswith(b"\n"):
            buf += b"\n"

    while True:
        start = stream.tell()
        data = stream.read(read_size)
        eof = not data  # the salvaged stream returns b"" only at its end (damage is an event, not an end)
        events = stream.take_events()
        for ev in events:  # damage where this read began (the read went on after it)
            if ev.out_offset <= start:
                damage(ev)
        if data and skipping:
            nl = data.find(b"\n")
            if nl < 0:
                skip_bytes += len(data)
                data = b""
            else:
                skip_bytes += nl
                pending.append(too_large(skip_bytes))
                skipping = False
                line_no += 1
                data = data[nl + 1 :]
        buf += data
        # whole lines go out as a block; a line in progress over the cap is dropped and skipped from here on
        last_nl = buf.rfind(b"\n")
        in_progress = len(buf) - (last_nl + 1)
        if last_nl >= 0 and (eof or len(buf) >= read_size or pending or in_progress > cap or
                             any(ev.out_offset > start for ev in events)):
            block = bytes(buf[: last_nl + 1])
            del buf[: last_nl + 1]
            yield block, line_no, pending
            pending = []
            line_no += block.count(b"\n")
        if len(buf) > cap:
            skipping, skip_bytes = True, len(buf)
            buf = bytearray()
        for ev in events:  # damage where this read ended
            if ev.out_offset > start:
                damage(ev)
        if eof:
            break
    if skipping:
        pending.append(too_large(skip_bytes))
    elif buf:
        yield bytes(buf) + b"\n", line_no, pending  # the last line, without its newline
        pending = []
    if pending:
        yield b"", line_no, pending


# -- one line ----------------------------------------------------------------------------------------------

def _depth_over(text: bytes, limit: int) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit`` (a string-aware bracket count)."""
    depth = 0
    in_str = False
    esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == 0x5C:
                esc = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif c in (0x5D, 0x7D):
            depth -= 1
    return False


def _has_surrogate(obj) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, str):
            if any("\ud800" <= ch <= "\udfff" for ch in o):
                return True
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list):
            stack.extend(o)
    return False


def _careful(line: bytes):
    """A line orjson refused: (object, None, None) or (None, reason, detail), per the contract's order."""
    if line.startswith(BOM):
        line = line[len(BOM):]
        try:
            return orjson.loads(line), None, None
        except orjson.JSONDecodeError:
            pass
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, errors.BAD_UTF8, f"invalid UTF-8 at byte {exc.start:,} of the line"
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _depth_over(line, MAX_DEPTH):
        return None, errors.BAD_JSON, f"JSON nested deeper than {MAX_DEPTH:,} levels"
    try:
        obj = json.loads(text, parse_int=_Number)
    except json.JSONDecodeError as exc:
        return None, errors.BAD_JSON, f"not valid JSON: {exc.msg} at column {exc.colno:,}"
    except RecursionError:
        return None, errors.BAD_JSON, "JSON nested too deeply for the parser"
    if _has_surrogate(obj):
        return None, errors.BAD_UTF8, "a lone surrogate escape (\\ud800-\\udfff without its pair) cannot be UTF-8"
    return obj, None, None


class _Number(str):
    """An integer as the standard library's parser saw it, kept as its decimal text: Python refuses to turn
    more than 4,300 digits into an int, and no field needs the value (a number is text or wrong_type)."""


def _what(v) -> str:
    if isinstance(v, _Number):
        return "a number"
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _scalar_text(v):
    """A non-core field's value as text: strings as they are, numbers as decimal text, the rest ignored."""
    if v is None or isinstance(v, str):
        return str(v) if isinstance(v, _Number) else v
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return None


def _json_text(v):
    if v is None or isinstance(v, str):
        return str(v) if isinstance(v, str) else v
    try:
        return orjson.dumps(v).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(v)  # _Number is a str: its digits come out quoted, which is fine for headers


class _Plan:
    """The column map compiled once per shard into one function that takes a parsed line (a dict) and
    returns the value of every core field: the first candidate path present and not null. (A function
    generated from the map runs ~4x faster than walking the map for every line: the per-line Python work is
    most of what JSON Lines reading costs, orjson being fast.)"""

    def __init__(self, colmap: dict[str, list[str]]):
        self.names = list(colmap)
        body = ["def extract(obj):", "    get = obj.get"]
        for i, (fld, paths) in enumerate(colmap.items()):
            var = f"v{i}"
            body.append(f"    {var} = None")
            for path in paths:
                parts = path.split(".")
                indent = "    "
                if path != paths[0]:
                    body.append(f"    if {var} is None:")
                    indent = "        "
                if len(parts) == 1:
                    body.append(f"{indent}t = get({parts[0]!r})")
                else:
                    body.append(f"{indent}t = get({parts[0]!r})")
                    for part in parts[1:]:
                        body.append(f"{indent}t = t.get({part!r}) if type(t) is dict else None")
                if fld == "url" and path == "id":  # `id` is a URL only when it looks like one
                    body.append(f"{indent}if isinstance(t, str) and URL_LIKE(t):")
                    body.append(f"{indent}    {var} = t")
                else:
                    body.append(f"{indent}{var} = t")
        body.append("    return (" + ", ".join(f"v{i}" for i in range(len(self.names))) + ",)")
        scope = {"URL_LIKE": _URL_LIKE.match}
        exec(compile("\n".join(body), "<column map>", "exec"), scope)  # noqa: S102 - code made from repr()'d keys
        self.extract = scope["extract"]


def _parse_block(block: bytes, first_line: int, plan: _Plan, shard: Shard, options: ReadOptions,
                 pending: list[dict]) -> Iterator[ReadChunk]:
    names = plan.names
    i_url, i_text = names.index("url"), names.index("text")
    kinds = [("core" if f in ("url", "text") else "json" if f == "http_headers" else "scalar") for f in names]
    cols: list[list] = [[] for _ in names]
    positions: list[int] = []
    quarantine: list[dict] = list(pending)
    rows = 0
    loads = orjson.loads
    extract = plan.extract
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    for i, line in enumerate(lines):
        if not line.strip(_BLANK):
            continue  # blank: not a row
        ln = first_line + i
        rows += 1
        try:
            obj = loads(line)
        except orjson.JSONDecodeError:
            obj, reason, detail = _careful(line)
            if reason:
                quarantine.append(quarantine_record(ln, reason, detail, len(line)))
                continue
        if type(obj) is not dict:
            quarantine.append(quarantine_record(ln, errors.BAD_JSON, f"JSON {_what(obj) if obj is not None else 'null'}, "
                                                f"not an object", len(line)))
            continue
        vals = extract(obj)
        url, text = vals[i_url], vals[i_text]
        if (url is not None and type(url) is not str) or (text is not None and type(text) is not str):
            f, v = ("url", url) if url is not None and type(url) is not str else ("text", text)
            quarantine.append(quarantine_record(ln, errors.WRONG_TYPE, f"{f} is {_what(v)}, not a string", len(line)))
            continue
        positions.append(ln)
        for c, kind, v in zip(cols, kinds, vals):
            if kind == "core" or v is None or type(v) is str:
                c.append(v)
            elif kind == "json":
                c.append(_json_text(v))
            else:
                c.append(_scalar_text(v))
    if not positions:
        if quarantine or rows:
            yield ReadChunk(None, quarantine, rows + _range_rows(pending))
        return
    arr = {f: pa.array(v, pa.string()) for f, v in zip(names, cols)}
    crawl = arr.get("crawl")
    batch, q2 = finalize(
        shard_id=shard.shard_id,
        positions=pa.array(positions, pa.int64()),
        text=arr["text"],
        url=arr["url"],
        doc_id=arr.get("doc_id"),
        crawl_date=arr.get("crawl_date"),
        optional={"language": arr.get("language"), "crawl": crawl_from(crawl) if crawl is not None else None,
                  "http_headers": arr.get("http_headers")},
        options=options,
    )
    yield ReadChunk(batch, quarantine + q2, rows + _range_rows(pending))


def _range_rows(pending: list[dict]) -> int:
    """Rows that stand in the pending quarantine outside the block's own lines (lines over the cap)."""
    return sum(1 for q in pending if q["kind"] == "record")


def read_jsonl(shard: Shard, options: ReadOptions) -> Iterator[ReadChunk]:
    plan = _Plan(mapping.effective_map(options.column_map))
    with open_decompressed(shard) as stream:
        for block, first_line, pending in _blocks(stream, options):
            yield from _parse_block(block, first_line, plan, shard, options, pending)
