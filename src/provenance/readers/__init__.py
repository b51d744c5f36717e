"""Readers: one shard in, a stream of ReadChunks (RecordBatches of the core schema + quarantine) out."""

from __future__ import annotations

from typing import Iterator

from ..errors import ShardError
from .. import errors
from ..sources import Shard
from .base import ReadChunk, ReadOptions
from .check import check_column_map
from .jsonl import read_jsonl
from .parquet import read_parquet
from .warc import read_warc

_READERS = {"jsonl": read_jsonl, "parquet": read_parquet, "warc": read_warc, "wet": read_warc, "wat": read_warc}


def read_shard(shard: Shard, options: ReadOptions | None = None) -> Iterator[ReadChunk]:
    """Stream a shard. Raises ShardError when the shard (or its rest) cannot be read; every chunk yielded
    before that stays valid."""
    options = options or ReadOptions()
    if shard.error:
        raise ShardError(errors.MISSING, shard.error)
    try:
        reader = _READERS[shard.format]
    except KeyError:
        raise ShardError(errors.UNREADABLE, f"unknown format {shard.format!r}") from None
    try:
        yield from reader(shard, options)
    except FileNotFoundError as exc:
        raise ShardError(errors.MISSING, f"cannot open {shard.uri}: {exc}") from exc


__all__ = ["ReadChunk", "ReadOptions", "check_column_map", "read_shard"]
