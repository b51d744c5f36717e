"""Scan one shard: read -> scanners -> per-shard Parquet sinks. No Prefect here; the flow in
``pipelines/scan.py`` calls this once per shard and hands the result to the ledger's single writer.

A finished shard's sinks are named by shard fingerprint and configuration hash and completed by a small
JSON marker written last; when the marker exists, the shard is not read again (a rerun after a crash
between scan and ingest costs nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import errors, progress
from .errors import ShardError
from .ledger import ShardResult
from .readers import ReadOptions, read_shard
from .readers.base import quarantine_record, rows_of
from .safeio import arrow_sink, open_temp, safe_name, write_text
from .scanners import ScanContext, Scanner, apply, default_scanners, output_fields
from .schema import CORE, QUARANTINE, SOURCE_OPTIONAL
from .sources import Shard

#: core/source columns that go to the ledger (the text and raw HTML never do)
PERSISTED_SOURCE = ["position", "doc_id", "url", "crawl_date", "crawl", "language"]
HIGH_CARDINALITY = {"doc_id", "url"}
QUARANTINE_FLUSH = 10_000
#: rows per row group of an annotation sink (buffered across read batches: ~30 MB per worker at 900 B a row)
SINK_ROW_GROUP = 32_768
#: what the readers do with a given shard; bumped when that changes, so cached per-shard results are redone
READER_VERSION = 2
SUMMARY_LINES = 5


def config_hash(scanners: list[Scanner], options: ReadOptions) -> str:
    """What decides whether a finished shard must be scanned again: the scanners and the read options.
    Rules are not part of it: they are applied in the ledger (views, verdicts), so changing them never
    re-reads a shard; each run records the rules hash it used."""
    desc = {
        "scanners": [[s.name, [str(f) for f in s.fields], s.config_key() if hasattr(s, "config_key") else None]
                     for s in scanners],
        "read": asdict(options),
        "reader": READER_VERSION,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def annotation_schema(scanners: list[Scanner]) -> pa.Schema:
    base = pa.schema(list(CORE) + list(SOURCE_OPTIONAL))
    fields = [base.field(n) for n in PERSISTED_SOURCE] + output_fields(scanners)
    return pa.schema(fields)


def _paths(work_dir: Path, shard: Shard, chash: str) -> tuple[Path, Path, Path]:
    stem = safe_name(f"{shard.shard_id}-{shard.fingerprint[:12]}-{chash[:12]}", 80)  # hex digests: already plain
    d = work_dir / "shards"
    return d / f"{stem}.annotations.parquet", d / f"{stem}.quarantine.parquet", d / f"{stem}.done.json"


def scan_shard(
    shard: Shard,
    work_dir: str | os.PathLike,
    options: ReadOptions | None = None,
    scanners: list[Scanner] | None = None,
    context: ScanContext | None = None,
    chash: str | None = None,
    reuse: bool = True,
) -> ShardResult:
    """Read and scan one shard into Parquet sinks under ``work_dir``; never raises for bad input. A finished
    result of the same shard and configuration is reused unless ``reuse`` is false (``--force``: read again)."""
    options = options or ReadOptions()
    scanners = scanners if scanners is not None else default_scanners()
    context = context or ScanContext()
    chash = chash or config_hash(scanners, options)
    work_dir = Path(work_dir)
    ann_path, q_path, done_path = _paths(work_dir, shard, chash)
    if reuse and done_path.exists() and shard.error is None:
        try:
            r = ShardResult.from_json(done_path.read_text())
            if (r.annotations_path is None or Path(r.annotations_path).exists()) and (
                r.quarantine_path is None or Path(r.quarantine_path).exists()
            ):
                r.from_cache = True
                return r
        except (ValueError, TypeError):
            pass  # a damaged marker: scan again
    ann_path.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    schema = annotation_schema(scanners)
    # temporary files: random names beside the sinks, created exclusively (never through a symlink), written
    # through their own fds, renamed over the sinks' names when complete
    tmp_q = q_file = None
    result = ShardResult(shard_id=shard.shard_id, uri=shard.uri, format=shard.format, fingerprint=shard.fingerprint,
                         config_hash=chash, status="done")
    qbuf: list[dict] = []
    qwriter: pq.ParquetWriter | None = None
    ranges: list[dict] = []  # damaged stretches of the shard: they make it partial

    def note_quarantine(rows: list[dict]):
        result.quarantined += rows_of(rows)
        ranges.extend(q for q in rows if q["kind"] == "range")
        # the first few of each kind: damaged ranges are never crowded out by the records they garbled
        for q in rows:
            if sum(x["kind"] == q["kind"] for x in result.quarantine_summary) < SUMMARY_LINES:
                result.quarantine_summary.append(q)
        qbuf.extend(rows)
        flush_quarantine()

    def flush_quarantine(force: bool = False):
        nonlocal qwriter, qbuf, tmp_q, q_file
        if qbuf and (force or len(qbuf) >= QUARANTINE_FLUSH):
            if qwriter is None:
                tmp_q, q_file = open_temp(q_path)
                q_file = arrow_sink(q_file)
                qwriter = pq.ParquetWriter(q_file, QUARANTINE)
            qwriter.write_table(pa.Table.from_pylist(qbuf, schema=QUARANTINE))
            qbuf = []

    # dictionary-encode only repeated values (hosts, domains, ...): for unique ones (ids, URLs) it costs
    # time and bytes (measured: 4.0 -> 2.6 us/doc, 200 -> 170 KiB per 4,000 docs)
    dict_cols = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in HIGH_CARDINALITY]
    tmp_ann, ann_file = open_temp(ann_path)
    writer = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0

    def write_pending():
        # row groups of SINK_ROW_GROUP rows, not one per read batch: the sink is what a parquet-mode ledger's
        # documents view reads (linked, not copied), and DuckDB scans 2k-row groups 5x slower than 32k ones
        nonlocal pending, pending_rows
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=max(pending_rows, 1))
            pending, pending_rows = [], 0

    try:
        ann_file = arrow_sink(ann_file)
        writer = pq.ParquetWriter(ann_file, schema, compression="zstd", use_dictionary=dict_cols)
        watch = progress.reporter(shard.uri)
        try:
            for chunk in read_shard(shard, options):
                progress.check_cancelled()  # Ctrl-C: stop at a batch boundary (the finally removes the files)
                result.rows_read += chunk.rows_read
                if chunk.quarantine:
                    note_quarantine(chunk.quarantine)
                if chunk.batch is not None and chunk.batch.num_rows:
                    batch, failed = apply_guarded(scanners, chunk.batch, context)
                    if failed:
                        note_quarantine(failed)
                    if batch is None:
                        continue
                    out = pa.RecordBatch.from_arrays([batch.column(f.name) for f in schema], schema=schema)
                    pending.append(out)
                    pending_rows += out.num_rows
                    if pending_rows >= SINK_ROW_GROUP:
                        write_pending()
                    result.documents += out.num_rows
                    result.bytes += int(pa.compute.sum(batch.column("bytes")).as_py() or 0) if "bytes" in schema.names else 0
                    result.words += int(pa.compute.sum(batch.column("words")).as_py() or 0) if "words" in schema.names else 0
                if watch is not None:  # rows read and scanned so far
                    watch.rows, watch.text_bytes = result.rows_read, result.bytes
        except ShardError as exc:
            result.error, result.error_reason = exc.detail, exc.reason
            result.status = "partial" if result.rows_read else "failed"
            if exc.reason == errors.MISSING:
                result.status = "failed"
        except OSError:
            raise  # a read that failed (a remote file, a full disk): the task's retries are for this
        except Exception as exc:  # noqa: BLE001 - a bug on some input: keep what was read, say where
            result.error = f"internal error while reading: {errors.safe_message(exc)}; rows before it were kept"
            result.error_reason = errors.FAILED
            result.status = "partial" if result.rows_read else "failed"
        if result.status == "partial" and result.error:
            # the rest of the shard could not be read: a range of unknown size, from where reading stopped
            note_quarantine([quarantine_record(None, result.error_reason, result.error, kind="range")])
        if ranges and result.status == "done":
            first = ranges[0]
            result.status = "partial"
            result.error_reason = first["reason"]
            more = f" (and {len(ranges) - 1:,} more damaged range(s), see the quarantine table)" if len(ranges) > 1 else ""
            result.error = f"{first['detail']}{more}"
        write_pending()
        writer.close()
        ann_file.close()
        flush_quarantine(force=True)
        if qwriter is not None:
            qwriter.close()
            q_file.close()
        os.replace(tmp_ann, ann_path)
        result.annotations_path = str(ann_path)
        if qwriter is not None:
            os.replace(tmp_q, q_path)
            result.quarantine_path = str(q_path)
        result.seconds = time.perf_counter() - t0
        if shard.error is None and result.status != "failed" and result.error_reason != errors.FAILED:
            # (a result cut short by an internal error is not kept: the next run reads the shard again)
            write_text(done_path, result.to_json())
        return result
    finally:
        for w, f in ((writer, ann_file), (qwriter, q_file)):
            if f is not None and not f.closed:  # a failed write: close what is open; its file is removed below
                try:
                    if w is not None:
                        w.close()
                except Exception:  # noqa: BLE001 - the file is discarded anyway
                    pass
                f.close()
        for p in (tmp_ann, tmp_q):
            if p is not None and p.exists():
                p.unlink()


def apply_guarded(scanners: list[Scanner], batch: pa.RecordBatch, context: ScanContext
                  ) -> tuple[pa.RecordBatch | None, list[dict]]:
    """Run the scanners over a batch. When one raises, run the batch again record by record: only the
    records on which a scanner raises are quarantined (``scanner_error:<name>``), the rest are kept."""
    try:
        return apply(scanners, batch, context), []
    except Exception:  # noqa: BLE001 - any scanner bug on any input: narrowed down below
        pass
    kept: list[pa.RecordBatch] = []
    failed: list[dict] = []
    positions = batch.column("position")
    for i in range(batch.num_rows):
        one = batch.slice(i, 1)
        done = one
        try:
            for s in scanners:
                current = s
                done = apply([s], done, context)
        except Exception as exc:  # noqa: BLE001
            failed.append(quarantine_record(int(positions[i].as_py()), f"{errors.SCANNER_ERROR}:{current.name}",
                                            f"scanner {current.name} raised {errors.safe_message(exc)}"))
            continue
        kept.append(done)
    if not kept:
        return None, failed
    return pa.Table.from_batches(kept).combine_chunks().to_batches()[0], failed


def failed_result(shard: Shard, chash: str, exc: BaseException) -> ShardResult:
    """The result recorded for a shard whose task kept failing after its retries (its message never quotes
    record bytes: ``errors.safe_message``)."""
    return ShardResult(shard_id=shard.shard_id, uri=shard.uri, format=shard.format, fingerprint=shard.fingerprint,
                       config_hash=chash, status="failed", error=errors.safe_message(exc),
                       error_reason=errors.FAILED)


def forget_shard(shard: Shard, work_dir: str | os.PathLike, chash: str) -> None:
    """Delete a shard's cached result (sinks and marker), so that the next scan reads it again."""
    for p in _paths(Path(work_dir), shard, chash):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
