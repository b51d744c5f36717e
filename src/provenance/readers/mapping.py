"""Where the core fields live in the common corpora.

Each core field has an ordered list of candidate paths (``a.b`` means field ``b`` inside object ``a``);
the first candidate that is present and non-null in a row wins. The defaults cover:

| corpus            | text          | url              | date                     | id      | crawl                |
|-------------------|---------------|------------------|--------------------------|---------|----------------------|
| C4 (allenai/c4)   | text          | url              | timestamp                | —       | —                    |
| C4 (wimbd copy)   | text          | url              | date                     | —       | —                    |
| Dolma / CCNet     | text          | metadata.url, id | metadata.date_download, created | id | metadata.cc_segment |
| FineWeb           | text          | url              | date                     | id      | dump                 |
| RefinedWeb        | content       | url              | timestamp                | —       | dump                 |
| RedPajama         | raw_content   | url, meta.url    | timestamp, meta.timestamp| —       | —                    |
| CC WARC columns   | content       | WARC-Target-URI  | WARC-Date                | —       | —                    |

Override with ``--map FIELD=PATH[,PATH...]`` on the command line or ``ReadOptions.column_map``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ConfigError

DEFAULT_MAP: dict[str, list[str]] = {
    "text": ["text", "content", "raw_content"],
    "url": ["url", "metadata.url", "meta.url", "metadata.warc_url", "WARC-Target-URI", "id"],
    "crawl_date": [
        "timestamp", "date", "crawl_date", "metadata.date_download", "metadata.timestamp", "meta.timestamp",
        "created", "WARC-Date",
    ],
    "doc_id": ["id", "doc_id", "metadata.id"],
    "language": ["language", "lang", "metadata.language", "meta.language"],
    "crawl": ["dump", "crawl", "metadata.dump", "metadata.cc_segment", "meta.dump"],
    "http_headers": ["http_headers"],
}

FIELDS = tuple(DEFAULT_MAP)

# candidates that only count when they look like a URL (Dolma's `id` is the URL for CC documents,
# but in other corpora `id` is an opaque identifier)
URL_LIKE_ONLY = {("url", "id")}


def check_path(field: str, path: str) -> None:
    """A path must be field names joined by single dots: ``a..b``, ``.a`` and ``a.`` name nothing (and a
    column map that finds nothing quarantines every record), so they are refused."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"--map {field}=: empty path")
    if any(not part for part in path.split(".")):
        raise ConfigError(f"--map {field}={path}: {path!r} is not a field path (an empty name between, before or "
                          f"after a dot); write FIELD=NAME or FIELD=OBJECT.NAME, e.g. url=metadata.url")


def effective_map(overrides: dict[str, list[str]] | None) -> dict[str, list[str]]:
    m = {k: list(v) for k, v in DEFAULT_MAP.items()}
    for k, v in (overrides or {}).items():
        if k not in m:
            raise ConfigError(f"--map: unknown field {k!r}; expected one of {', '.join(FIELDS)}")
        if isinstance(v, str):
            raise ConfigError(f"--map: the paths of {k!r} must be a list, not the string {v!r}")
        if not v:
            raise ConfigError(f"--map: no path given for {k!r}")
        for p in v:
            check_path(k, p)
        m[k] = list(v)
    return m


def parse_map_args(items: list[str] | None) -> dict[str, list[str]]:
    """Parse ``FIELD=PATH[,PATH...]`` items from the command line.

    Refused with ConfigError: an item without ``=``, an unknown field, a field given twice, no path, and a
    path with an empty name in it (``a..b``, ``.a``, ``a.``). Whether the paths exist in the data is for
    ``readers.check_column_map`` to say, before the scan."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--map {item!r}: expected FIELD=PATH, e.g. url=metadata.link")
        k, v = item.split("=", 1)
        k = k.strip()
        if k in out:
            raise ConfigError(f"--map {k} is given twice; give its paths once, comma-separated: "
                              f"--map {k}=PATH,PATH")
        out[k] = [p.strip() for p in v.split(",") if p.strip()]
    effective_map(out)  # validates field names and paths
    return out


def get_path(table: pa.Table | pa.RecordBatch, path: str) -> pa.Array | None:
    """The column at ``path``: a column named exactly so (flat tables, Parquet names with dots), else
    ``a.b`` as field ``b`` of struct column ``a``."""
    names = table.schema.names
    if path in names:
        arr = table.column(path)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    parts = path.split(".")
    if parts[0] not in names:
        return None
    arr = table.column(parts[0])
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    for part in parts[1:]:
        if not pa.types.is_struct(arr.type) or arr.type.get_field_index(part) < 0:
            return None
        arr = pc.struct_field(arr, part)
    return arr


_NESTED = (pa.types.is_struct, pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list,
           pa.types.is_map, pa.types.is_union)
REQUIRED = ("url", "text")


def is_text_type(t: pa.DataType) -> bool:
    """Types that hold text: strings, string dictionaries, and binary (checked for UTF-8 row by row)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)
            or getattr(pa.types, "is_binary_view", lambda _: False)(t))


def _is_nested(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(f(t) for f in _NESTED)


def _as_text(a: pa.Array) -> pa.Array:
    t = a.type
    if pa.types.is_dictionary(t):
        a = a.cast(t.value_type)
        t = a.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or getattr(pa.types, "is_binary_view", lambda _: False)(t):
        return a.cast(pa.large_binary()) if not pa.types.is_large_binary(t) else a
    return a.cast(pa.large_string())


def resolve(table: pa.Table | pa.RecordBatch, colmap: dict[str, list[str]]
            ) -> tuple[dict[str, pa.Array | None], dict[str, tuple[np.ndarray, list[str | None]]]]:
    """For each core field, coalesce its candidate columns (the first non-null wins, row by row).

    ``url`` and ``text`` must be text: rows where the winning candidate holds anything else are reported in
    the second result, ``{field: (mask, type name per row)}``, and are null in the first. Optional fields
    ignore candidates of nested types (structs, lists, maps): they cannot be read as text.
    """
    n = table.num_rows
    out: dict[str, pa.Array | None] = {}
    wrong: dict[str, tuple[np.ndarray, list[str | None]]] = {}
    for fld, paths in colmap.items():
        arrays = []
        for p in paths:
            a = get_path(table, p)
            if a is None:
                continue
            if (fld, p) in URL_LIKE_ONLY:
                if _is_nested(a.type):
                    continue
                s = _as_text(a) if is_text_type(a.type) else a.cast(pa.large_string())
                if pa.types.is_large_binary(s.type):
                    continue  # raw bytes are not an identifier we can trust to be a URL
                looks = pc.match_substring_regex(s, r"^[A-Za-z][A-Za-z0-9+.-]*://")
                a = pc.if_else(pc.fill_null(looks, False), s, pa.scalar(None, s.type))
            arrays.append(a)
        if not arrays:
            out[fld] = None
            continue
        if fld in REQUIRED:
            out[fld], bad = _coalesce_text(arrays, n)
            if bad is not None:
                wrong[fld] = bad
            continue
        arrays = [a for a in arrays if not _is_nested(a.type)]
        if not arrays:
            out[fld] = None
        elif len(arrays) == 1:
            out[fld] = arrays[0]
        else:
            if len({a.type for a in arrays}) > 1:
                arrays = [a.cast(pa.large_string()) for a in arrays]
            out[fld] = pc.coalesce(*arrays)
    return out, wrong


def _coalesce_text(arrays: list[pa.Array], n: int):
    """Row by row, the first non-null candidate; text candidates as text, others as a wrong type."""
    if all(is_text_type(a.type) for a in arrays):
        texts = [_as_text(a) for a in arrays]
        if len({a.type for a in texts}) > 1:
            texts = [a.cast(pa.large_binary()) for a in texts]
        return (texts[0] if len(texts) == 1 else pc.coalesce(*texts)), None
    unresolved = np.ones(n, dtype=bool)
    chosen = None
    wrong = np.zeros(n, dtype=bool)
    names: list[str | None] = [None] * n
    texts = []
    for a in arrays:
        valid = ~np.asarray(pc.is_null(a).to_numpy(zero_copy_only=False), dtype=bool) & unresolved
        if is_text_type(a.type):
            texts.append((a, valid))
        elif valid.any():
            wrong |= valid
            for i in np.flatnonzero(valid):
                names[i] = str(a.type)
        unresolved &= ~valid
    for a, valid in texts:
        t = _as_text(a).cast(pa.large_binary())
        t = pc.if_else(pa.array(valid), t, pa.scalar(None, pa.large_binary()))
        chosen = t if chosen is None else pc.coalesce(chosen, t)
    if chosen is None:
        chosen = pa.nulls(n, pa.large_string())
    return chosen, ((wrong, names) if wrong.any() else None)
