"""The Arrow schemas every part of the pipeline agrees on.

A reader yields RecordBatches whose first columns are ``CORE``; it may add source columns after them
(``SOURCE_OPTIONAL`` when it has them, plus anything prefixed ``src_``). Scanners append their own
columns. The sink keeps ``ANNOTATION`` columns (never the text) for the ledger.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

#: Every reader yields these, in this order.
CORE = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),  # line (JSONL, 1-based), row (Parquet, 0-based), byte offset (WARC)
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("crawl_date", TS),
    ]
)

#: Optional source columns a reader fills when the source has them (null otherwise).
SOURCE_OPTIONAL = pa.schema(
    [
        pa.field("language", pa.string()),
        pa.field("crawl", pa.string()),  # e.g. CC-MAIN-2020-16
        pa.field("http_headers", pa.string()),  # JSON object of response headers (WARC); for later scanners
        pa.field("html", pa.string()),  # raw HTML body (WARC); for page-signal scanners, never persisted
    ]
)

#: Columns a quarantine record carries.
QUARANTINE = pa.schema(
    [
        pa.field("position", pa.int64()),  # null when the problem concerns the whole shard (or its rest)
        pa.field("kind", pa.string(), nullable=False),  # 'record' | 'range' | 'shard' (docs/bad-input.md)
        pa.field("reason", pa.string(), nullable=False),  # a reason code, see provenance.errors
        pa.field("detail", pa.string()),  # human message; never the raw record (it may hold PII)
        pa.field("n_bytes", pa.int64()),
        pa.field("n_rows", pa.int64()),  # rows it stands for: 1 for a record, the row count of a range, or null
    ]
)

