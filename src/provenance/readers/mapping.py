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


def effective_map(overrides: dict[str, list[str]] | None) -> dict[str, list[str]]:
    m = {k: list(v) for k, v in DEFAULT_MAP.items()}
    for k, v in (overrides or {}).items():
        if k not in m:
            raise ConfigError(f"--map: unknown field {k!r}; expected one of {', '.join(FIELDS)}")
        if not v:
            raise ConfigError(f"--map: no path given for {k!r}")
        m[k] = list(v)
    return m


def parse_map_args(items: list[str] | None) -> dict[str, list[str]]:
    """Parse ``FIELD=PATH[,PATH...]`` items from the command line."""
    out: dict[str, list[str]] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--map {item!r}: expected FIELD=PATH, e.g. url=metadata.link")
        k, v = item.split("=", 1)
        out[k.strip()] = [p.strip() for p in v.split(",") if p.strip()]
    effective_map(out)  # validates field names
    return out


def json_schema(colmap: dict[str, list[str]]) -> pa.Schema:
    """The explicit Arrow schema used to parse JSON Lines: every candidate path as a string, nested paths as
    structs. Fields not named here are ignored by the parser, which keeps it fast and schema-stable."""
    top: dict[str, dict | None] = {}
    for paths in colmap.values():
        for p in paths:
            parts = p.split(".")
            node = top
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if last:
                    if part not in node:
                        node[part] = None
                else:
                    child = node.get(part)
                    if child is None:
                        child = {}
                        node[part] = child
                    node = child

    def to_fields(d: dict) -> list[pa.Field]:
        return [pa.field(k, pa.string() if v is None else pa.struct(to_fields(v))) for k, v in d.items()]

    return pa.schema(to_fields(top))


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


def resolve(table: pa.Table | pa.RecordBatch, colmap: dict[str, list[str]]) -> dict[str, pa.Array | None]:
    """For each core field, coalesce its candidate columns (first non-null wins)."""
    out: dict[str, pa.Array | None] = {}
    for fld, paths in colmap.items():
        arrays = []
        for p in paths:
            a = get_path(table, p)
            if a is None:
                continue
            if (fld, p) in URL_LIKE_ONLY:
                s = a.cast(pa.string()) if not pa.types.is_string(a.type) else a
                looks = pc.match_substring_regex(s, r"^[A-Za-z][A-Za-z0-9+.-]*://")
                a = pc.if_else(pc.fill_null(looks, False), s, pa.scalar(None, pa.string()))
            arrays.append(a)
        if not arrays:
            out[fld] = None
        elif len(arrays) == 1:
            out[fld] = arrays[0]
        else:
            types = {a.type for a in arrays}
            if len(types) > 1:
                arrays = [a.cast(pa.string()) for a in arrays]
            out[fld] = pc.coalesce(*arrays)
    return out
