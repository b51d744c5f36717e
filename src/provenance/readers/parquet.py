"""Parquet shards (C4, FineWeb, RefinedWeb, Dolma column names out of the box), streamed row group by row
group, in batches.

Only the columns the column map names are read. Positions are 0-based row numbers in the file. A row group
that fails to decode (a damaged page, lying metadata) ends there: the rows not read are one ``range``
quarantine row with their count, and reading goes on with the next row group (docs/bad-input.md). A ``url``
or ``text`` column of a type that is not text quarantines its rows as ``wrong_type``; an optional column of a
nested type is ignored.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import errors
from ..errors import ShardError
from ..sources import Shard, open_binary
from . import mapping
from .base import ReadChunk, ReadOptions, finalize_resolved, quarantine_record


def _columns_to_read(schema: pa.Schema, colmap: dict[str, list[str]]) -> list[str]:
    top = set(schema.names)
    wanted = []
    for paths in colmap.values():
        for p in paths:
            root = p.split(".")[0]
            if root in top and root not in wanted:
                wanted.append(root)
    return wanted


def read_parquet(shard: Shard, options: ReadOptions) -> Iterator[ReadChunk]:
    colmap = mapping.effective_map(options.column_map)
    f = open_binary(shard)
    try:
        try:
            # buffered column reads: pages stream in, so memory does not follow the size of a row group
            pf = pq.ParquetFile(f, buffer_size=1 << 20, pre_buffer=False)
            schema = pf.schema_arrow
            meta = pf.metadata
            groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged footer
            raise ShardError(errors.UNREADABLE, f"not a readable Parquet file ({errors.safe_message(exc)})") from exc
        cols = _columns_to_read(schema, colmap)
        if not any(p.split(".")[0] in cols for p in colmap["text"]):
            raise ShardError(
                errors.UNREADABLE,
                f"no text column: looked for {', '.join(colmap['text'])}; columns are {', '.join(schema.names)} (use --map text=COLUMN)",
            )
        # a batch bounded by rows and by bytes: average row size from the file metadata
        total = sum(groups)
        avg = (sum(max(s, 0) for s in sizes) / total) if total > 0 else 1
        batch_rows = max(1, min(options.batch_rows, int(options.batch_bytes / max(avg, 1))))
        row = 0
        for g, n_group in enumerate(groups):
            done = 0
            try:
                for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[g], columns=cols, use_threads=True):
                    n = min(batch.num_rows, max(n_group - done, 0))
                    if n < batch.num_rows:
                        batch = batch.slice(0, n)  # more rows than the metadata says: they are not counted
                    if n == 0:
                        break
                    resolved, wrong = mapping.resolve(batch, colmap)
                    positions = pa.array(np.arange(row + done, row + done + n, dtype=np.int64))
                    out, q = finalize_resolved(resolved, shard_id=shard.shard_id, positions=positions,
                                               options=options, wrong_type=wrong)
                    done += n
                    yield ReadChunk(out, q, n)
            except Exception as exc:  # noqa: BLE001 - any decoding failure ends this row group, not the file
                missing = n_group - done
                yield ReadChunk(None, [quarantine_record(
                    row + done, errors.CORRUPT,
                    f"row group {g:,} unreadable from its row {done:,} on ({errors.safe_message(exc)}); "
                    f"{missing:,} row(s) not read, reading went on with the next row group", kind="range",
                    n_rows=missing)], missing)
            else:
                if done < n_group:
                    missing = n_group - done
                    yield ReadChunk(None, [quarantine_record(
                        row + done, errors.CORRUPT, f"row group {g:,} holds {done:,} of the {n_group:,} rows its "
                        f"metadata promises", kind="range", n_rows=missing)], missing)
            row += n_group
    finally:
        f.close()
