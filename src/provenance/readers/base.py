"""What every reader shares: the options, the unit it yields, and the columnar checks that turn raw source
columns into the core schema (or into quarantine records)."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import errors
from ..schema import CORE, SOURCE_OPTIONAL, TS
from ..lang import normalize_array as normalize_language

DEFAULT_MAX_DOC_BYTES = 16 * 1024 * 1024
DEFAULT_BATCH_BYTES = 8 * 1024 * 1024


#: sizes that must be positive whole numbers (checked when set, so also on ``options.max_doc_bytes = n``)
_POSITIVE = ("max_doc_bytes", "batch_bytes", "batch_rows")


@dataclass
class ReadOptions:
    """How shards are read. Sizes must be positive whole numbers: anything else raises ConfigError when it
    is set (a negative ``max_doc_bytes`` would quarantine every document, 0 used to mean the default)."""

    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES  # larger documents are quarantined as too_large
    batch_bytes: int = DEFAULT_BATCH_BYTES  # target size of a batch (uncompressed source bytes)
    batch_rows: int = 8192  # upper bound on rows per batch (Parquet)
    column_map: dict[str, list[str]] = field(default_factory=dict)  # overrides, see mapping.py
    keep_html: bool = True  # WARC: keep the HTML body in the batch for page-signal scanners

    def __setattr__(self, name, value):
        if name in _POSITIVE:
            value = positive_size(value, name)
        elif name == "column_map":
            from .mapping import effective_map

            effective_map(value)  # unknown fields, empty or malformed paths: ConfigError now, not per shard
        super().__setattr__(name, value)


def positive_size(value, what: str) -> int:
    """``value`` as an int if it is a whole number above 0, else ConfigError naming ``what``."""
    from ..errors import ConfigError

    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{what} must be a whole number above 0, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        n = operator.index(value)
    except TypeError:
        raise ConfigError(f"{what} must be a whole number above 0, not {value!r}") from None
    if n <= 0:
        raise ConfigError(f"{what} must be above 0, not {n:,}")
    return n


@dataclass
class ReadChunk:
    """One unit from a reader: the good rows as a batch, and the rows it had to quarantine."""

    batch: pa.RecordBatch | None
    quarantine: list[dict]
    rows_read: int


def quarantine_record(position: int | None, reason: str, detail: str, n_bytes: int | None = None, kind: str = "record",
                      n_rows: int | None = None) -> dict:
    """One quarantine row. A ``record`` stands for one row; a ``range`` for ``n_rows`` rows (None: unknown,
    they were never read); a ``shard`` for none (docs/bad-input.md)."""
    if kind == "record":
        n_rows = 1
    return {"position": position, "kind": kind, "reason": reason, "detail": detail, "n_bytes": n_bytes, "n_rows": n_rows}


def rows_of(quarantine: list[dict]) -> int:
    """How many rows a list of quarantine rows stands for (records and ranges of known size)."""
    return sum(q.get("n_rows") or 0 for q in quarantine if q["kind"] in ("record", "range"))


def crawl_from(values: pa.Array) -> pa.Array:
    """Extract a Common Crawl id (CC-MAIN-YYYY-WW) from strings such as WET segment paths; keep other
    non-empty values (e.g. a dataset's own dump name) as they are."""
    extracted = pc.extract_regex(values, r"(?P<crawl>CC-MAIN-\d{4}-\d{2})")
    crawl = pc.struct_field(extracted, [0])
    return pc.if_else(pc.is_null(crawl), values, crawl)


def parse_dates(values: pa.Array) -> pa.Array:
    """Parse crawl dates given as ISO 8601 strings, WARC dates or epoch numbers into UTC timestamps.

    Arrow's ISO 8601 cast handles the common shapes for a whole column at once; only when a column holds
    other shapes are the distinct values parsed one by one (and unparseable ones become null: a date is
    useful, not required).
    """
    if len(values) == 0:
        return pa.array([], TS)
    t = values.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            return pc.assume_timezone(values.cast(pa.timestamp("us")), "UTC").cast(TS)
        return values.cast(TS)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        # epoch seconds (or milliseconds when too large to be seconds); outside years 1..9999: no date
        arr = values.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        arr = np.where(np.abs(arr) > 1e11, arr / 1000.0, arr)
        mask = ~np.isfinite(arr) | (arr < -62135596800.0) | (arr > 253402300799.0)
        us = np.where(mask, 0, arr * 1e6).astype("int64")
        return pa.array(us, pa.int64(), mask=mask).cast(TS)
    try:
        values = _as_string(values, len(values))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.nulls(len(values), TS)  # dates of a type that is not text (a struct): no date
    try:
        return values.cast(TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # Slow path: one parse per distinct value.
    enc = values.dictionary_encode()
    parsed = [_parse_one(v) for v in enc.dictionary.to_pylist()]
    dictionary = pa.array(parsed, TS)
    return dictionary.take(enc.indices)


def _parse_one(value: str | None):
    if value is None:
        return None
    v = value.strip()
    if not v:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", v):
        x = float(v)
        if abs(x) > 1e11:
            x /= 1000.0
        try:
            return datetime.fromtimestamp(x, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        from dateutil import parser as dp

        d = dp.parse(v)
    except (ValueError, OverflowError, TypeError):
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.astimezone(timezone.utc)


def _as_string(arr: pa.Array | None, n: int) -> pa.Array:
    if arr is None:
        return pa.nulls(n, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:  # a Parquet string column is not checked on read: damaged pages can hold invalid UTF-8
            arr.validate(full=True)
            return arr.cast(pa.string()) if pa.types.is_large_string(arr.type) else arr
        except pa.ArrowInvalid:
            arr = arr.cast(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        arr = arr.cast(pa.binary())
        bad = invalid_utf8_rows(arr)
        if len(bad):  # url/text were checked before; an optional column's bad values are dropped
            mask = np.zeros(len(arr), dtype=bool)
            mask[bad] = True
            arr = pc.if_else(pa.array(mask), pa.scalar(None, pa.binary()), arr)
        return arr.cast(pa.string())
    return arr.cast(pa.string())


def invalid_utf8_rows(arr: pa.Array) -> np.ndarray:
    """Indices of rows whose bytes are not valid UTF-8 (a rare path: validate the whole column first)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    as_bin = arr.cast(pa.binary()) if not pa.types.is_binary(arr.type) else arr
    try:
        as_bin.cast(pa.string()).validate(full=True)
        return np.array([], dtype=np.int64)
    except pa.ArrowInvalid:
        pass
    bad = []
    for i, v in enumerate(as_bin.to_pylist()):
        if v is None:
            continue
        try:
            v.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(i)
    return np.array(bad, dtype=np.int64)


def finalize(
    *,
    shard_id: str,
    positions: pa.Array,
    text: pa.Array | None,
    url: pa.Array | None,
    doc_id: pa.Array | None = None,
    crawl_date: pa.Array | None = None,
    optional: dict[str, pa.Array | None] | None = None,
    options: ReadOptions,
    raw_bytes: pa.Array | None = None,
    allow_empty_text: bool = False,
    wrong_type: dict[str, tuple[np.ndarray, list[str | None]]] | None = None,
) -> tuple[pa.RecordBatch | None, list[dict]]:
    """Validate and shape one batch of raw columns into the core schema.

    Rows with no URL, no text, invalid UTF-8 or more than ``max_doc_bytes`` of text become quarantine
    records; the rest are returned as a RecordBatch with CORE + SOURCE_OPTIONAL columns.
    """
    n = len(positions)
    positions = positions.cast(pa.int64())
    quarantine: list[dict] = []
    bad = np.zeros(n, dtype=bool)

    # Invalid UTF-8 (Parquet binary columns, WARC payloads decoded elsewhere).
    def unchecked_text(arr) -> bool:
        t = arr.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return True
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            try:
                arr.validate(full=True)
                return False
            except pa.ArrowInvalid:
                return True
        return False

    for name, arr in (("text", text), ("url", url)):
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr is not None and unchecked_text(arr):
            why = f"{name} is not valid UTF-8"
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                arr = arr.cast(pa.large_binary())
                why += " (in a string column: the file is damaged there)"
            for i in invalid_utf8_rows(arr):
                if not bad[i]:
                    bad[i] = True
                    quarantine.append(quarantine_record(int(positions[i].as_py()), errors.BAD_UTF8, why))
            if bad.any():
                arr = pc.if_else(pa.array(bad), pa.scalar(None, arr.type), arr)
            if name == "text":
                text = arr
            else:
                url = arr

    # url / text of a type that is not text (mapping.resolve found it): wrong_type
    for name, (mask, types) in (wrong_type or {}).items():
        for i in np.flatnonzero(mask & ~bad):
            bad[i] = True
            quarantine.append(quarantine_record(int(positions[i].as_py()), errors.WRONG_TYPE,
                                                f"{name} is {types[i]}, not text"))
    text_s = _as_string(text, n)
    url_s = _as_string(url, n)
    if pa.types.is_large_string(text_s.type):
        text_s = text_s.cast(pa.string())

    url_stripped = pc.utf8_trim_whitespace(url_s)
    no_url = pc.fill_null(pc.equal(pc.utf8_length(url_stripped), 0), True).to_numpy(zero_copy_only=False)
    if allow_empty_text:
        no_text = pc.is_null(text_s).to_numpy(zero_copy_only=False)
        text_s = pc.fill_null(text_s, "")
    else:
        no_text = pc.fill_null(pc.equal(pc.binary_length(text_s), 0), True).to_numpy(zero_copy_only=False)
    nbytes = pc.fill_null(pc.binary_length(text_s), 0).to_numpy(zero_copy_only=False)
    too_large = nbytes > options.max_doc_bytes

    for mask, reason, detail in (
        (no_url, errors.NO_URL, "record has no URL"),
        (no_text, errors.NO_TEXT, "record has no text"),
        (too_large, errors.TOO_LARGE, None),
    ):
        new = mask & ~bad
        if new.any():
            for i in np.flatnonzero(new):
                d = detail or f"document of {int(nbytes[i]):,} bytes exceeds --max-doc-bytes {options.max_doc_bytes:,}"
                quarantine.append(quarantine_record(int(positions[i].as_py()), reason, d, int(nbytes[i]) if reason == errors.TOO_LARGE else None))
            bad |= new

    good = ~bad
    n_good = int(good.sum())
    if n_good == 0:
        return None, quarantine
    keep = None if n_good == n else pa.array(good)

    def sel(a: pa.Array) -> pa.Array:
        return a if keep is None else a.filter(keep)

    pos_g = sel(positions)
    if doc_id is not None:
        doc_id_s = _as_string(doc_id, n)
        missing_id = pc.is_null(doc_id_s)
    else:
        doc_id_s = None
    generated = pc.binary_join_element_wise(pa.scalar(shard_id + ":"), pc.cast(positions, pa.string()), "")
    if doc_id_s is None:
        ids = generated
    else:
        ids = pc.if_else(missing_id, generated, doc_id_s)
    dates = parse_dates(crawl_date) if crawl_date is not None else pa.nulls(n, TS)

    cols = {
        "position": pos_g,
        "doc_id": sel(ids),
        "url": sel(url_stripped),
        "text": sel(text_s),
        "crawl_date": sel(dates),
    }
    optional = optional or {}
    for f in SOURCE_OPTIONAL:
        a = optional.get(f.name)
        cols[f.name] = sel(_as_string(a, n)) if a is not None else pa.nulls(n_good, f.type)
    if optional.get("language") is not None:  # one code system for every source (provenance.lang)
        cols["language"] = normalize_language(cols["language"])
    schema = pa.schema(list(CORE) + list(SOURCE_OPTIONAL))
    return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema), quarantine


def finalize_resolved(resolved: dict[str, pa.Array | None], *, shard_id: str, positions: pa.Array,
                      options: ReadOptions, wrong_type=None) -> tuple[pa.RecordBatch | None, list[dict]]:
    """``finalize`` for columns found through the column map (``mapping.resolve``)."""
    crawl = resolved.get("crawl")
    return finalize(
        wrong_type=wrong_type,
        shard_id=shard_id,
        positions=positions,
        text=resolved["text"],
        url=resolved["url"],
        doc_id=resolved["doc_id"],
        crawl_date=resolved["crawl_date"],
        optional={
            "language": resolved.get("language"),
            "crawl": crawl_from(crawl.cast(pa.string())) if crawl is not None else None,
            "http_headers": resolved.get("http_headers"),
        },
        options=options,
    )
