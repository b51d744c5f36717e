"""Before a scan: does the user's ``--map`` find anything?

A column map whose path exists in no record (a typo, ``--map text=body`` on a corpus whose text is
``content``) does not fail a record or a shard: every record is quarantined (``no_text``/``no_url``), and with
``--force`` a rescan replaces a shard's documents by none. ``check_column_map`` reads the first batch of the
first readable JSON Lines or Parquet shard (at most ``PEEK_RECORDS`` records, ``PEEK_BYTES`` of decompressed
lines, only the columns the map names) and refuses the map with one line when a field's paths find nothing
there. Only the user's overrides are checked: the default candidates are expected to be missing from most
corpora.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Iterable

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError
from ..sources import Shard
from . import mapping
from .base import ReadOptions

PEEK_RECORDS = 2048  # records of the first batch looked at, at most
PEEK_BYTES = 4 << 20  # decompressed bytes of JSON Lines read for them, about (whole lines)
MAX_SHARDS_TRIED = 8  # shards that cannot be read (or are empty) passed over before giving up
MAX_NAMES = 200  # distinct field names collected (the message shows fewer)
SHOWN_NAMES = 15
_FORMATS = ("jsonl", "parquet")  # WARC, WET and WAT records have fixed fields: --map does not apply


def check_column_map(shards: Shard | Iterable[Shard], options: ReadOptions) -> Shard | None:
    """Refuse, with a ConfigError of one line, a ``--map`` that finds nothing in the data.

    Call it once per scan, after ``sources.discover`` and before any shard is scanned or the ledger is
    written (``scan`` with ``--map`` then stops with exit 2 instead of quarantining every record). It reads
    the first batch of the first readable JSON Lines or Parquet shard of ``shards`` (bounded: at most
    ``PEEK_RECORDS`` records, ~``PEEK_BYTES`` of decompressed JSON, only the mapped Parquet columns; a few
    tens of milliseconds) and, for every field of ``options.column_map`` (the user's overrides only, never
    the defaults), raises when

    - no record of that batch has any of the field's paths with a value (no such column, or all null):
      ``--map text=body: no record of the first batch (1,000 records) of c4.00000.json.gz has a field body
      (fields seen: text, url, timestamp)``, or
    - the paths hold values, but none the reader can use (``url``/``text`` that are never a non-empty
      string, an optional field that is only objects or lists).

    A field with several paths (``--map url=link,url``) passes when one of them finds something. The message
    names fields, never values. Shards with ``error`` set, WARC/WET/WAT shards (``--map`` does not apply to
    them), shards that cannot be read and empty shards are passed over (at most ``MAX_SHARDS_TRIED`` are
    tried); when none can be read, nothing is said: the scan quarantines them as usual. Returns the shard
    it looked at, or None.
    """
    overrides = dict(options.column_map or {})
    if not overrides:
        return None
    mapping.effective_map(overrides)  # field names and path syntax
    if isinstance(shards, Shard):
        shards = [shards]
    tried = 0
    for shard in shards:
        if shard.error is not None or shard.format not in _FORMATS:
            continue
        if tried >= MAX_SHARDS_TRIED:
            return None
        tried += 1
        try:
            sample = _peek_jsonl(shard, options) if shard.format == "jsonl" else _peek_parquet(shard, options, overrides)
        except ConfigError:
            raise
        except Exception:  # noqa: BLE001 - an unreadable shard: the scan quarantines it; try the next one
            continue
        if sample is None or sample.n == 0:
            continue
        for fld, paths in overrides.items():
            _judge(sample, fld, list(paths), shard)
        return shard
    return None


# -- what a first batch holds ---------------------------------------------------------------------------

@dataclasses.dataclass
class _Finding:
    present: bool  # some record has a value (not null) at one of the paths
    usable: bool  # some record has a value the reader takes (text for url/text, a scalar for the rest)
    kinds: list[str]  # what the present values are, when none is usable


class _Sample:
    n: int
    names: list[str]

    def find(self, fld: str, paths: list[str]) -> _Finding:  # pragma: no cover - interface
        raise NotImplementedError


class _JsonSample(_Sample):
    def __init__(self, objs: list[dict]):
        self.objs = objs
        self.n = len(objs)
        self.names = _json_names(objs)

    def find(self, fld: str, paths: list[str]) -> _Finding:
        from .jsonl import _Plan, _scalar_text, _what

        extract = _Plan({fld: paths}).extract
        present = usable = False
        kinds: list[str] = []
        for obj in self.objs:
            hit = False
            for p in paths:
                v = _walk(obj, p)
                if v is not None:
                    hit = True
                    kind = "empty text" if type(v) is str else _what(v)
                    if not usable and len(kinds) < 5 and kind not in kinds:
                        kinds.append(kind)
            if not hit:
                continue
            present = True
            (v,) = extract(obj)
            if fld == "text":
                ok = type(v) is str and len(v) > 0
            elif fld == "url":
                ok = type(v) is str and bool(v.strip())
            elif fld == "http_headers":
                ok = v is not None
            else:
                ok = _scalar_text(v) is not None
            if ok:
                usable = True
                break
        return _Finding(present, usable, kinds)


class _ArrowSample(_Sample):
    def __init__(self, batch: pa.RecordBatch | None, n: int, names: list[str]):
        self.batch = batch
        self.n = n
        self.names = names

    def find(self, fld: str, paths: list[str]) -> _Finding:
        if self.batch is None:
            return _Finding(False, False, [])
        arrays = [a for a in (mapping.get_path(self.batch, p) for p in paths) if a is not None]
        present = any(a.null_count < len(a) for a in arrays)
        if not present:
            return _Finding(False, False, [])
        resolved, _wrong = mapping.resolve(self.batch, {fld: paths})
        out = resolved.get(fld)
        if out is None:
            usable = False
        elif fld in mapping.REQUIRED:
            n_ok = pc.sum(pc.fill_null(pc.greater(pc.binary_length(out), 0), False)).as_py() if len(out) else 0
            usable = bool(n_ok)
        else:
            usable = out.null_count < len(out)
        kinds = [] if usable else list(dict.fromkeys(_arrow_kind(a.type) for a in arrays if a.null_count < len(a)))
        return _Finding(True, usable, kinds)


def _walk(obj: dict, path: str):
    parts = path.split(".")
    v = obj.get(parts[0])
    for part in parts[1:]:
        v = v.get(part) if type(v) is dict else None
    return v


def _json_names(objs: list[dict]) -> list[str]:
    """Field names in order of first appearance: top-level names, then ``a.b`` for names inside objects."""
    top: dict[str, None] = {}
    nested: dict[str, None] = {}

    def visit(d: dict, prefix: str, depth: int) -> None:
        for k, v in d.items():
            if len(top) + len(nested) >= MAX_NAMES:
                return
            name = prefix + str(k)
            (top if not prefix else nested).setdefault(name, None)
            if type(v) is dict and depth < 3:
                visit(v, name + ".", depth + 1)

    for obj in objs:
        visit(obj, "", 1)
    return list(top) + list(nested)


def _arrow_names(schema: pa.Schema) -> list[str]:
    top = list(schema.names)
    nested: list[str] = []

    def visit(t: pa.DataType, prefix: str, depth: int) -> None:
        if not pa.types.is_struct(t) or depth >= 3:
            return
        for i in range(t.num_fields):
            f = t.field(i)
            if len(top) + len(nested) >= MAX_NAMES:
                return
            nested.append(prefix + f.name)
            visit(f.type, prefix + f.name + ".", depth + 1)

    for f in schema:
        visit(f.type, f.name + ".", 1)
    return (top + nested)[:MAX_NAMES]


def _arrow_kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "an object"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "an array"
    if pa.types.is_boolean(t):
        return "a boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "a number"
    if mapping.is_text_type(t):
        return "empty text"
    return str(t)


def _peek_jsonl(shard: Shard, options: ReadOptions) -> _JsonSample | None:
    from .jsonl import _BLANK, _blocks, _careful
    from .stream import open_decompressed

    opts = dataclasses.replace(options, batch_bytes=min(options.batch_bytes, PEEK_BYTES))
    objs: list[dict] = []
    with open_decompressed(shard) as stream:
        for block, _first, _pending in _blocks(stream, opts):
            for line in block.split(b"\n"):
                if not line.strip(_BLANK):
                    continue
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError:
                    obj, reason, _ = _careful(line)
                    if reason:
                        continue
                if type(obj) is dict:
                    objs.append(obj)
                    if len(objs) >= PEEK_RECORDS:
                        break
            if objs:
                break  # the first block with records is the first batch
    return _JsonSample(objs)


def _peek_parquet(shard: Shard, options: ReadOptions, overrides: dict[str, list[str]]) -> _ArrowSample | None:
    import pyarrow.parquet as pq

    from ..sources import open_binary

    f = open_binary(shard)
    try:
        pf = pq.ParquetFile(f, buffer_size=1 << 20, pre_buffer=False)
        schema = pf.schema_arrow
        n_rows = pf.metadata.num_rows
        if n_rows <= 0:
            return None
        names = set(schema.names)
        cols: list[str] = []
        for paths in overrides.values():
            for p in paths:
                root = p if p in names else p.split(".")[0]
                if root in names and root not in cols:
                    cols.append(root)
        batch = None
        n = min(n_rows, PEEK_RECORDS, options.batch_rows)
        if cols:
            batch = next(pf.iter_batches(batch_size=n, columns=cols, use_threads=True), None)
            if batch is None or batch.num_rows == 0:
                return None
            n = batch.num_rows
        return _ArrowSample(batch, n, _arrow_names(schema))
    finally:
        f.close()


# -- the message -------------------------------------------------------------------------------------------

def _judge(sample: _Sample, fld: str, paths: list[str], shard: Shard) -> None:
    found = sample.find(fld, paths)
    if found.usable:
        return
    given = f"--map {fld}={','.join(paths)}"
    where = f"the first batch ({sample.n:,} record{'s' if sample.n != 1 else ''}) of {_show(shard.name, 80)}"
    either = " or ".join(paths)
    if not found.present:
        raise ConfigError(f"{given}: no record of {where} has a field {either} (fields seen: {_names(sample.names)})")
    what = {"text": "text", "url": "a URL"}.get(fld, "a value that can be read as text")
    raise ConfigError(f"{given}: in {where}, {either} never holds {what} (it is {' or '.join(found.kinds) or 'empty'}); "
                      f"map {fld} to another field (fields seen: {_names(sample.names)})")


def _show(name: str, limit: int = 40) -> str:
    """A field (or file) name fit for one line: control and other invisible characters escaped, long names cut."""
    out = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else ascii(ch)[1:-1] for ch in name)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _names(names: list[str]) -> str:
    if not names:
        return "none"
    shown = [_show(n) for n in names[:SHOWN_NAMES]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", ... ({more:,} more)" if more > 0 else "")
