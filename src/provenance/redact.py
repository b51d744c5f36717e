"""Standalone redaction: read shards, find PII and secrets, write the text with typed placeholders (or
format-preserving fakes) as Parquet. No ledger needed; ``provenance export --redact-pii`` does the same
from the findings a scan stored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ProvenanceError, ShardError
from .pii import PiiConfig, redact_batch, scan_batch
from .readers import ReadOptions, read_shard
from .readers.base import rows_of
from .safeio import arrow_sink, inside, open_temp, safe_name
from .sources import discover

OUT_SCHEMA = pa.schema([("doc_id", pa.string()), ("url", pa.string()), ("text", pa.string()),
                        ("source_position", pa.int64()), ("pii_count", pa.int32())])


def _name(uri: str, shard_id: str) -> str:
    """The source file's name without its format ending (as export names its files), + shard id."""
    from .export import _safe_stem

    return f"{_safe_stem(uri)}-{safe_name(shard_id[:16])}.redacted.parquet"


def redact_files(inputs: list[str], out_dir: str | os.PathLike, *, style: str = "placeholder",
                 config: PiiConfig | None = None, salt: bytes | None = None, options: ReadOptions | None = None,
                 progress: Callable[[dict], None] | None = None) -> dict:
    """Redact every document of ``inputs`` into ``out_dir`` (one Parquet file per shard). ``salt`` makes
    the fakes of style ``fake`` unguessable from the value (default: random per call)."""
    if style not in ("placeholder", "fake"):
        raise ProvenanceError(f"style must be 'placeholder' or 'fake', not {style!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ProvenanceError(f"{out} is not empty; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    salt = salt if salt is not None else os.urandom(32)
    config = config or PiiConfig()
    options = options or ReadOptions()
    totals = {"shards": 0, "documents": 0, "findings": 0, "documents_with_pii": 0, "failed_shards": [],
              "partial_shards": [], "quarantined": 0}
    by_type: dict[str, int] = {}
    for shard in discover(inputs):
        target = inside(out, _name(shard.uri, shard.shard_id))
        tmp = fh = writer = None  # an exclusively created temporary file beside target, made at the first rows
        n = found = with_pii = 0
        partial = None  # the first damaged stretch of this shard (its rows were not read)
        try:
            for chunk in read_shard(shard, options):
                totals["quarantined"] += rows_of(chunk.quarantine)
                partial = partial or next((q for q in chunk.quarantine if q["kind"] != "record"), None)
                b = chunk.batch
                if b is None or b.num_rows == 0:
                    continue
                _, findings = scan_batch(b, config, salt)
                counts = pc.list_value_length(findings).cast(pa.int32())
                text = redact_batch(b.column("text"), findings, style=style, salt=salt)
                t = pa.table([b.column("doc_id").cast(pa.string()), b.column("url").cast(pa.string()),
                              text.cast(pa.string()),
                              b.column("position").cast(pa.int64()), counts], schema=OUT_SCHEMA)
                if writer is None:
                    tmp, fh = open_temp(target)
                    fh = arrow_sink(fh)
                    writer = pq.ParquetWriter(fh, OUT_SCHEMA, compression="zstd")
                writer.write_table(t)
                n += t.num_rows
                found += int(pc.sum(counts).as_py() or 0)
                with_pii += int(pc.sum(pc.greater(counts, 0)).as_py() or 0)
                for ty in pc.list_flatten(findings).field("type").to_pylist():
                    by_type[ty] = by_type.get(ty, 0) + 1
        except ShardError as exc:
            totals["failed_shards"].append({"uri": shard.uri, "reason": exc.reason, "detail": exc.detail})
            partial = None
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise
        finally:
            try:
                if writer is not None:
                    writer.close()
            finally:
                if fh is not None:
                    fh.close()
        if tmp is not None:
            if n:
                os.replace(tmp, target)
            else:
                tmp.unlink(missing_ok=True)
        if partial is not None:
            totals["partial_shards"].append({"uri": shard.uri, "reason": partial["reason"], "detail": partial["detail"]})
        totals["shards"] += 1
        totals["documents"] += n
        totals["findings"] += found
        totals["documents_with_pii"] += with_pii
        if progress:
            progress({"uri": shard.uri, "file": target.name if n else None, "documents": n, "findings": found})
    totals["by_type"] = dict(sorted(by_type.items(), key=lambda kv: -kv[1]))
    totals["salt_digest"] = hashlib.sha256(salt).hexdigest()[:16]
    return totals


__all__ = ["redact_files"]
