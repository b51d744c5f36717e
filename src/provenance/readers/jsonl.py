"""JSON Lines (plain, gzip, zstd), streamed in blocks.

Fast path: each block of whole lines is parsed by Arrow's multithreaded JSON reader against an explicit
schema built from the column map (fields not in the map are skipped by the parser). When a block has a
problem — a line that is not JSON, invalid UTF-8, blank lines, a field of an unexpected type — that block
alone is re-parsed line by line with orjson, so the good lines are kept and each bad one is quarantined
with its line number and reason.
"""

from __future__ import annotations

import io
from typing import Iterator

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from .. import errors
from ..errors import ShardError
from ..sources import Shard
from . import mapping
from .base import ReadChunk, ReadOptions, finalize_resolved, quarantine_record
from .stream import open_decompressed


def _blocks(stream, options: ReadOptions) -> Iterator[tuple[bytes, int, list[dict]]]:
    """Yield (block of whole lines, 1-based line number of its first line, oversize-line quarantines).

    A line longer than the cap is never held whole: it is skipped while streaming and reported as too
    large, so memory stays bounded whatever the input.
    """
    cap = max(2 * options.max_doc_bytes + (1 << 20), options.batch_bytes)
    read_size = options.batch_bytes
    carry = b""
    line_no = 1  # line number of the first line in `carry`
    skipping = False  # inside an oversize line
    skip_bytes = 0
    skip_line = 0
    pending_q: list[dict] = []
    while True:
        try:
            data = stream.read(read_size)
        except (OSError, EOFError, ValueError) as exc:
            raise _Truncated(carry, line_no, pending_q, exc) from exc
        if not data:
            break
        if skipping:
            nl = data.find(b"\n")
            if nl < 0:
                skip_bytes += len(data)
                continue
            skip_bytes += nl
            pending_q.append(quarantine_record(skip_line, errors.TOO_LARGE, f"line of {skip_bytes:,}+ bytes exceeds the line cap of {cap:,} bytes (max_doc_bytes={options.max_doc_bytes:,})", skip_bytes))
            skipping = False
            line_no = skip_line + 1
            data = data[nl + 1 :]
        buf = carry + data if carry else data
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            if len(buf) > cap:
                skipping, skip_bytes, skip_line, carry = True, len(buf), line_no, b""
            else:
                carry = buf
            continue
        block, carry = buf[: last_nl + 1], buf[last_nl + 1 :]
        n_lines = block.count(b"\n")
        yield block, line_no, pending_q
        pending_q = []
        line_no += n_lines
        if len(carry) > cap:
            skipping, skip_bytes, skip_line, carry = True, len(carry), line_no, b""
    if skipping:
        pending_q.append(quarantine_record(skip_line, errors.TOO_LARGE, f"line of {skip_bytes:,}+ bytes exceeds the line cap of {cap:,} bytes (max_doc_bytes={options.max_doc_bytes:,})", skip_bytes))
    if carry.strip():
        yield carry + b"\n", line_no, pending_q
    elif pending_q:
        yield b"", line_no, pending_q


class _Truncated(Exception):
    def __init__(self, carry: bytes, line_no: int, pending_q: list[dict], cause: BaseException):
        super().__init__(str(cause))
        self.carry, self.line_no, self.pending_q, self.cause = carry, line_no, pending_q, cause


def _fast(block: bytes, first_line: int, schema: pa.Schema) -> tuple[pa.Table, pa.Array] | None:
    """Parse a block with Arrow; None when the block needs the line-by-line path."""
    n_lines = block.count(b"\n")
    try:
        table = pj.read_json(
            io.BytesIO(block),
            read_options=pj.ReadOptions(block_size=len(block) + 1, use_threads=True),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n_lines:  # blank lines: positions would not line up, take the careful path
        return None
    positions = pa.array(np.arange(first_line, first_line + n_lines, dtype=np.int64))
    return table, positions


def _get(obj: dict, path: str):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
        if cur is None:
            return None
    return cur


def _to_str(v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float, bool)):
        return str(v)
    return orjson.dumps(v).decode()


def _slow(block: bytes, first_line: int, colmap: dict[str, list[str]]) -> tuple[pa.Table | None, pa.Array, list[dict], int]:
    """Line-by-line parse of a block that the fast path refused."""
    paths = sorted({p for ps in colmap.values() for p in ps})
    cols: dict[str, list] = {p: [] for p in paths}
    positions: list[int] = []
    quarantine: list[dict] = []
    rows = 0
    for i, line in enumerate(block.split(b"\n")):
        if not line.strip():
            continue
        ln = first_line + i
        rows += 1
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            quarantine.append(quarantine_record(ln, errors.BAD_UTF8, f"invalid UTF-8 at byte {exc.start} of the line", len(line)))
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            quarantine.append(quarantine_record(ln, errors.BAD_JSON, f"not valid JSON: {exc}", len(line)))
            continue
        if not isinstance(obj, dict):
            quarantine.append(quarantine_record(ln, errors.BAD_JSON, f"a JSON {type(obj).__name__}, not an object", len(line)))
            continue
        positions.append(ln)
        for p in paths:
            cols[p].append(_to_str(_get(obj, p)))
    pos = pa.array(positions, pa.int64())
    if not positions:
        return None, pos, quarantine, rows
    # flat table whose column names are the dotted paths; resolve() sees them as top-level names
    table = pa.table({p: pa.array(v, pa.string()) for p, v in cols.items()})
    return table, pos, quarantine, rows


def read_jsonl(shard: Shard, options: ReadOptions) -> Iterator[ReadChunk]:
    colmap = mapping.effective_map(options.column_map)
    schema = mapping.json_schema(colmap)
    with open_decompressed(shard) as stream:
        blocks = _blocks(stream, options)
        while True:
            try:
                block, first_line, pending_q = next(blocks)
            except StopIteration:
                return
            except _Truncated as t:
                # keep every whole line before the break, then report the rest of the shard as lost
                if t.carry.strip():
                    nl = t.carry.rfind(b"\n")
                    if nl >= 0:
                        yield from _parse_block(t.carry[: nl + 1], t.line_no, colmap, schema, shard, options, t.pending_q)
                        lost_line = t.line_no + t.carry[: nl + 1].count(b"\n")
                    else:
                        lost_line = t.line_no
                elif t.pending_q:
                    yield ReadChunk(None, t.pending_q, len(t.pending_q))
                    lost_line = t.line_no
                else:
                    lost_line = t.line_no
                truncated = getattr(t.cause, "truncated", True)
                raise ShardError(
                    errors.TRUNCATED if truncated else errors.CORRUPT,
                    f"compressed stream is {'truncated' if truncated else 'corrupt'} from line {lost_line} on "
                    f"({t.cause}); lines before it were kept",
                ) from t.cause
            yield from _parse_block(block, first_line, colmap, schema, shard, options, pending_q)


def _parse_block(block, first_line, colmap, schema, shard, options, pending_q) -> Iterator[ReadChunk]:
    if not block:
        if pending_q:
            yield ReadChunk(None, pending_q, len(pending_q))
        return
    fast = _fast(block, first_line, schema)
    if fast is not None:
        table, positions = fast
        resolved = mapping.resolve(table, colmap)
        rows = table.num_rows
        quarantine: list[dict] = []
    else:
        table, positions, quarantine, rows = _slow(block, first_line, colmap)
        # the slow path's columns are named by full path ("metadata.url"), which resolve() finds as is
        resolved = mapping.resolve(table, colmap) if table is not None else None
    quarantine = pending_q + quarantine
    rows += len(pending_q)
    if resolved is None:
        yield ReadChunk(None, quarantine, rows)
        return
    batch, q2 = finalize_resolved(resolved, shard_id=shard.shard_id, positions=positions, options=options)
    yield ReadChunk(batch, quarantine + q2, rows)
