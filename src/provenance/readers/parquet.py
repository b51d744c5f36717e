"""Parquet shards (C4, FineWeb, RefinedWeb, Dolma column names out of the box), streamed by row group.

Only the columns the column map names are read. Positions are 0-based row numbers in the file.
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
from .base import ReadChunk, ReadOptions, finalize_resolved


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
            pf = pq.ParquetFile(f)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError, ValueError) as exc:
            raise ShardError(errors.UNREADABLE, f"not a readable Parquet file ({exc})") from exc
        schema = pf.schema_arrow
        cols = _columns_to_read(schema, colmap)
        if not any(p.split(".")[0] in cols for p in colmap["text"]):
            raise ShardError(
                errors.UNREADABLE,
                f"no text column: looked for {', '.join(colmap['text'])}; columns are {', '.join(schema.names)} (use --map text=COLUMN)",
            )
        row = 0
        # a batch bounded by rows and by bytes: average row size from the file metadata
        meta = pf.metadata
        avg = (sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) / meta.num_rows) if meta.num_rows else 1
        batch_rows = max(1, min(options.batch_rows, int(options.batch_bytes / max(avg, 1))))
        it = pf.iter_batches(batch_size=batch_rows, columns=cols, use_threads=True)
        while True:
            try:
                batch = next(it)
            except StopIteration:
                break
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
                raise ShardError(errors.TRUNCATED, f"Parquet data unreadable from row {row} on ({exc}); rows before it were kept") from exc
            n = batch.num_rows
            resolved = mapping.resolve(batch, colmap)
            positions = pa.array(np.arange(row, row + n, dtype=np.int64))
            row += n
            out, q = finalize_resolved(resolved, shard_id=shard.shard_id, positions=positions, options=options)
            yield ReadChunk(out, q, n)
    finally:
        f.close()
