"""Export the compliant subset: the documents of a verdict (``include`` by default), with their text, as
Parquet, plus a manifest that says which evaluation, policy and scans produced it.

The ledger holds no text, so every source shard that has selected documents is read again with the
project's own readers and the read options its scan used (``runs.config``). Rows are kept by position
(Arrow ``is_in``; no per-row Python), and each kept row is checked against the ledger (doc id, URL and
UTF-8 size of the text): a source that changed since the scan never yields rows under its old facts.

* one output file per source shard, ``<source stem>-<shard_id>.parquet`` (zstd), rows in position order,
  row groups cut at fixed row/byte bounds that depend only on the rows, never on read batching;
* ``manifest.json`` last: evaluation (id, policy, purpose, rules hash), scan runs, verdicts exported,
  per file name / source / rows / sha256, totals. It carries no wall-clock time of the export, so
  exporting the same ledger again gives the same bytes, file by file;
* memory follows the read batch and the row groups, not the shard: the ledger side is one DuckDB query
  ordered by (shard, position), sorted out of core under ``memory_limit``, streamed and merged with the
  reader's batches.

What is checked per row is the doc id, the URL and the text's UTF-8 length (the ledger keeps no hash of
the text): an edit that keeps all three under an unchanged size and modification time goes unnoticed.

Everything is staged in a hidden folder inside ``out_dir`` and moved into place when every shard has
been written; a failed export leaves ``out_dir`` as it was. Nothing is written outside ``out_dir``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import __version__, budget
from .errors import ProvenanceError, ShardError
from .ledger import Ledger, sql_str
from .readers import ReadOptions, read_shard
from .safeio import arrow_sink, atomic_output, fresh_dir, open_new, safe_name, write_text
from .schema import TS
from .sources import Shard, detect_format, discover

VERDICTS = ("include", "exclude", "review")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "provenance-export/1"
STAGING = ".provenance-export.staging"

#: row groups end at whichever bound comes first (both depend only on the rows written)
ROW_GROUP_ROWS = 8192
ROW_GROUP_BYTES = 32 * 1024 * 1024
LEDGER_BATCH_ROWS = 16384
MISSING_SAMPLE = 10  # positions listed in the manifest for rows a re-read did not find

OUT_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("crawl_date", TS),
        pa.field("crawl", pa.string()),
        pa.field("language", pa.string()),
        pa.field("host", pa.string()),
        pa.field("registered_domain", pa.string()),
        pa.field("license", pa.string()),  # effective: found in the document, else its domain's (licenses.yaml)
        pa.field("license_source", pa.string()),  # document | domain | none
        pa.field("words", pa.int64()),
        pa.field("bytes", pa.int64()),
        pa.field("verdict", pa.string(), nullable=False),
        pa.field("reasons", pa.list_(pa.string())),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("source_position", pa.int64(), nullable=False),
    ]
)
#: low-cardinality columns: dictionary pages; ids, URLs and text: plain
DICT_COLUMNS = ["crawl", "language", "host", "registered_domain", "license", "license_source", "verdict",
                "source_uri"]
WRITER_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=DICT_COLUMNS, write_statistics=True,
                      version="2.6", data_page_size=1 << 20, store_schema=True)

LEDGER_COLUMNS = [f.name for f in OUT_SCHEMA if f.name not in ("text", "source_uri", "source_position")]
KEY_SHIFT = 40  # ledger rows are streamed ordered by (shard ordinal << 40) + position
ROWS_SQL = """
SELECT (p.ord::BIGINT << {shift}) + d.position AS _key,
       d.position, d.doc_id, d.url, d.crawl_date, d.crawl, d.language, d.host, d.registered_domain,
       l.license, l.license_source, d.words, d.bytes, v.verdict, v.reasons, d.pii
FROM documents d
JOIN _export_shards p ON p.shard_id = d.shard_id
JOIN document_verdicts v ON v.shard_id = d.shard_id AND v.position = d.position
LEFT JOIN document_licenses l ON l.shard_id = d.shard_id AND l.position = d.position
WHERE v.verdict IN ({marks})
ORDER BY _key
"""


class ExportError(ProvenanceError):
    """The export cannot be done as asked (no verdicts, changed sources, a non-empty output folder, ...)."""


class _ContentChanged(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


# -- helpers ------------------------------------------------------------------------------------------
def _verdicts(verdict: str | Iterable[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """``"include"``, ``"exclude,review"`` or an iterable of verdicts -> a sorted tuple of valid ones."""
    if verdict is None:
        return default
    items = verdict.split(",") if isinstance(verdict, str) else list(verdict)
    wanted = {str(v).strip() for v in items if v is not None and str(v).strip()}
    bad = sorted(wanted - set(VERDICTS))
    if bad or not wanted:
        raise ExportError(f"verdict {', '.join(bad) or '(none)'}: expected one or more of {', '.join(VERDICTS)}")
    return tuple(v for v in VERDICTS if v in wanted)


def _has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchall()[0][0])


def _no_verdicts(ledger_path) -> ExportError:
    return ExportError(f"the ledger {ledger_path} has no verdicts yet: run `provenance verdicts --ledger {ledger_path}` "
                       f"first (it evaluates the policy and fills document_verdicts)")


def _open(ledger_path) -> Ledger:
    led = Ledger(ledger_path, read_only=True)
    led.con.execute("SET TimeZone = 'UTC'")
    return led


def _check_verdicts(led: Ledger, ledger_path) -> dict:
    con = led.con
    if not (_has_table(con, "document_verdicts") and _has_table(con, "verdict_runs")):
        raise _no_verdicts(ledger_path)
    n = con.execute("SELECT count(*) FROM document_verdicts").fetchall()[0][0]
    runs = con.execute(
        "SELECT evaluation_id, evaluated_at, policy, purpose, rules_hash "
        "FROM verdict_runs ORDER BY evaluated_at DESC, evaluation_id DESC LIMIT 1").fetchall()
    if n == 0 or not runs:
        raise _no_verdicts(ledger_path)
    dup = con.execute("SELECT count(*) FROM (SELECT 1 FROM document_verdicts GROUP BY shard_id, position HAVING count(*) > 1)"
                      ).fetchall()[0][0]
    if dup:
        raise ExportError(f"the ledger's document_verdicts holds {dup:,} document(s) more than once; run "
                          f"`provenance verdicts --ledger {ledger_path}` again")
    bad = con.execute("SELECT DISTINCT verdict FROM document_verdicts WHERE verdict NOT IN ('include', 'exclude', 'review')"
                      ).fetchall()
    if bad:
        raise ExportError(f"document_verdicts holds unknown verdict(s) {', '.join(repr(b[0]) for b in bad)}")
    (eid, at, policy, purpose, rhash) = runs[0]
    return {"evaluation_id": eid, "evaluated_at": at.isoformat() if at is not None else None, "policy": policy,
            "purpose": purpose, "rules_hash": rhash}


def _safe_stem(uri: str) -> str:
    """The source file's name without its format ending, reduced to safe characters."""
    from .sources import _SUFFIXES

    base = uri.rstrip("/").rsplit("/", 1)[-1]
    for suffix, _, _ in _SUFFIXES:  # longest endings first
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "shard"
    return base[:80]


def output_name(uri: str, shard_id: str) -> str:
    """The output file of a source shard: deterministic, unique per source (shard_id), a plain file name."""
    return f"{_safe_stem(uri)}-{safe_name(shard_id, 64)}.parquet"


def _locate(uri: str, fmt: str, forced: str | None) -> Shard:
    """The source shard as it is now (size, fingerprint), or a Shard with ``error`` when it is gone."""
    if any(c in uri.split("://", 1)[-1] for c in "*?["):
        # a literal file name with glob characters: look it up directly, never as a pattern
        from fsspec.core import url_to_fs

        from .sources import _compression_of, _make, _missing

        fs, path = url_to_fs(uri)
        try:
            info = fs.info(path)
        except (FileNotFoundError, OSError) as exc:
            return _missing(uri, fmt, None, f"cannot open {uri}: {exc}")
        det = detect_format(path)
        return _make(fs, path, info, fmt, det[1] if det and det[0] == fmt else _compression_of(path))
    try:
        found = discover([uri], format=forced)
    except ProvenanceError as exc:
        return Shard(uri=uri, format=fmt, compression=None, size=None, fingerprint="missing", shard_id="", error=str(exc))
    shard = found[0] if found else Shard(uri=uri, format=fmt, compression=None, size=None, fingerprint="missing",
                                         shard_id="", error=f"no file at {uri}")
    if shard.error is None and shard.format != fmt:
        shard = dataclasses.replace(shard, format=fmt)
    return shard


def _read_options(config: dict) -> ReadOptions:
    opts = ReadOptions(column_map={k: list(v) for k, v in (config.get("column_map") or {}).items()}, keep_html=False)
    if config.get("max_doc_bytes") is not None:
        opts.max_doc_bytes = int(config["max_doc_bytes"])
    return opts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _column(table: pa.Table, name: str, typ: pa.DataType) -> pa.ChunkedArray:
    col = table.column(name)
    return col if col.type == typ else col.cast(typ)


# -- the ledger side, streamed in (shard, position) order -----------------------------------------------
class _LedgerStream:
    """The selected ledger rows of every planned shard, one query, ordered by (shard ordinal, position).
    DuckDB sorts out of core (under its memory limit, spilling inside the staging folder); here at most
    one fetched batch is held besides what the current reader batch needs."""

    def __init__(self, reader: pa.RecordBatchReader):
        self.reader = reader
        self.done = False
        self.pending: pa.Table | None = None
        self.keys = np.empty(0, dtype=np.int64)

    def _pull(self) -> None:
        while True:
            try:
                batch = self.reader.read_next_batch()
            except StopIteration:
                self.done = True
                return
            if batch.num_rows:
                self.pending = pa.Table.from_batches([batch])
                self.keys = batch.column("_key").to_numpy(zero_copy_only=False).astype(np.int64)
                return

    def until(self, key_hi: int):
        """Yield the rows with key <= key_hi not taken yet, a slice at a time."""
        while True:
            if not len(self.keys):
                if self.done:
                    return
                self._pull()
                continue
            if self.keys[0] > key_hi:
                return
            k = int(np.searchsorted(self.keys, key_hi, side="right"))
            yield self.pending.slice(0, k)
            self.pending, self.keys = self.pending.slice(k), self.keys[k:]


class _ShardRows:
    """One shard's part of the stream (rows of shards before it, e.g. skipped ones, are dropped)."""

    def __init__(self, stream: _LedgerStream, ordinal: int):
        self.stream = stream
        self.base = ordinal << KEY_SHIFT
        for _ in stream.until(self.base - 1):
            pass

    def upto(self, hi: int) -> pa.Table | None:
        parts = list(self.stream.until(self.base + hi))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def rest(self):
        return self.stream.until(self.base + (1 << KEY_SHIFT) - 1)


# -- writing one output file --------------------------------------------------------------------------
class _PartWriter:
    """Buffers rows and writes row groups of fixed bounds, so the file depends only on the rows.

    Row groups are encoded and compressed by one background thread (Arrow releases the GIL), in order,
    while the next source batch is read; at most two row groups are in flight."""

    def __init__(self, path: Path, metadata: dict, pool: ThreadPoolExecutor):
        schema = OUT_SCHEMA.with_metadata({b"provenance.export": json.dumps(metadata, sort_keys=True).encode()})
        # created here (exclusive, never through a symlink), written through its own fd
        self.file = arrow_sink(open_new(path))
        try:
            self.writer = pq.ParquetWriter(self.file, schema, **WRITER_OPTIONS)
        except BaseException:
            self.file.close()
            raise
        self.path = path
        self.schema = schema
        self.pool = pool
        self.inflight: deque[Future] = deque()
        self.tables: list[pa.Table] = []
        self.sizes = np.empty(0, dtype=np.int64)
        self.rows = 0

    def add(self, table: pa.Table, sizes: np.ndarray) -> None:
        self.tables.append(table)
        self.sizes = np.concatenate([self.sizes, sizes])
        self.rows += table.num_rows
        self._flush(False)

    def _flush(self, final: bool) -> None:
        while len(self.sizes) and (final or len(self.sizes) >= ROW_GROUP_ROWS or int(self.sizes.sum()) >= ROW_GROUP_BYTES):
            cum = np.cumsum(self.sizes)
            # the row that crosses the byte bound closes the group (a group always has at least one row)
            k = min(len(self.sizes), ROW_GROUP_ROWS, int(np.searchsorted(cum, ROW_GROUP_BYTES, side="left")) + 1)
            table = pa.concat_tables(self.tables) if len(self.tables) > 1 else self.tables[0]
            self.inflight.append(self.pool.submit(self.writer.write_table, table.slice(0, k), row_group_size=k))
            while len(self.inflight) > 1:
                self.inflight.popleft().result()
            rest = table.slice(k)
            self.tables = [rest] if rest.num_rows else []
            self.sizes = self.sizes[k:]

    def finish(self) -> Future:
        """Write the last row group and close the file in the background; the future gives (bytes, sha256).
        The pool has one thread, so the row groups submitted before are written first."""
        self._flush(True)
        pending, self.inflight = list(self.inflight), deque()

        def close() -> tuple[int, str]:
            try:
                for f in pending:
                    f.result()  # already done (FIFO): re-raises a failed write
            finally:
                try:
                    self.writer.close()
                finally:
                    self.file.close()
            return self.path.stat().st_size, _sha256(self.path)

        return self.pool.submit(close)

    def abort(self) -> None:
        for f in self.inflight:
            f.cancel()
        for f in self.inflight:
            if not f.cancelled():
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - the file is discarded anyway
                    pass
        try:
            self.writer.close()
        finally:
            self.file.close()


def _export_shard(rows: _ShardRows, plan: dict, verdicts: tuple[str, ...], staged: Path, evaluation_id: str,
                  pool: ThreadPoolExecutor, redact_pii: str | None = None) -> tuple[dict, Future]:
    """Write one source shard's selected rows to ``staged``; return its manifest entry and the future of
    the file's closing (size, sha256)."""
    shard: Shard = plan["shard"]
    options = _read_options(plan["config"])
    entry = {"name": plan["name"], "source_uri": plan["uri"], "source_shard_id": plan["shard_id"],
             "source_format": plan["format"], "source_fingerprint": plan["fingerprint"],
             "source_status": plan["status"], "scan_run_id": plan["run_id"], "expected_rows": plan["selected"]}
    writer = _PartWriter(staged, {"source_uri": plan["uri"], "evaluation_id": evaluation_id, "verdicts": list(verdicts)},
                         pool)
    missing = 0
    missing_positions: list[int] = []
    last = -1
    read_error = None

    def note_missing(t: pa.Table) -> None:
        nonlocal missing
        missing += t.num_rows
        if len(missing_positions) < MISSING_SAMPLE:
            missing_positions.extend(t.column("position").to_pylist()[: MISSING_SAMPLE - len(missing_positions)])

    try:
        try:
            for chunk in read_shard(shard, options):
                batch = chunk.batch
                if batch is None or batch.num_rows == 0:
                    continue
                pos_np = batch.column("position").to_numpy(zero_copy_only=False)
                if pos_np[0] <= last or (len(pos_np) > 1 and not np.all(np.diff(pos_np) > 0)):
                    raise ExportError(f"{plan['uri']}: the reader returned positions out of order; cannot export it")
                last = int(pos_np[-1])
                led = rows.upto(last)
                if led is None:
                    continue
                lpos = led.column("position")
                sel = batch.filter(pc.is_in(batch.column("position"), value_set=lpos.combine_chunks()))
                if sel.num_rows < led.num_rows:
                    found = pc.is_in(lpos, value_set=sel.column("position"))
                    note_missing(led.filter(pc.invert(found)))
                    led = led.filter(found)
                if sel.num_rows == 0:
                    continue
                _verify(sel, led, plan["uri"])
                cols = {name: _column(led, name, OUT_SCHEMA.field(name).type) for name in LEDGER_COLUMNS}
                text = sel.column("text")
                if redact_pii and "pii" in led.column_names:
                    # findings were made on exactly this text (verified above: same id, URL and size)
                    from .pii import redact_batch

                    text = redact_batch(text, led.column("pii").combine_chunks(), style=redact_pii)
                cols["text"] = pa.chunked_array([text]).cast(pa.string())
                cols["source_uri"] = pa.chunked_array([pa.repeat(pa.scalar(plan["uri"], pa.string()), sel.num_rows)])
                cols["source_position"] = _column(led, "position", pa.int64())
                table = pa.Table.from_arrays([cols[f.name] for f in OUT_SCHEMA], schema=writer.schema)
                writer.add(table, led.column("bytes").to_numpy().astype(np.int64))
        except ShardError as exc:
            read_error = f"{exc.reason}: {exc.detail}"
        for t in rows.rest():  # in the ledger, not found on re-reading
            note_missing(t)
    except BaseException:
        writer.abort()
        raise
    entry.update({"rows": writer.rows, "missing_rows": missing, "missing_positions_sample": missing_positions,
                  "read_error": read_error})
    return entry, writer.finish()


def _verify(sel: pa.RecordBatch, led: pa.Table, uri: str) -> None:
    """Rows kept from the source must be the rows the ledger describes: same position, doc id, URL and
    UTF-8 size of the text. A difference means the source changed under an unchanged fingerprint."""
    checks = (
        ("position", sel.column("position"), led.column("position").cast(pa.int64())),
        ("doc_id", sel.column("doc_id"), led.column("doc_id").cast(pa.string())),
        ("url", sel.column("url"), led.column("url").cast(pa.string())),
        ("bytes", pc.binary_length(sel.column("text")).cast(pa.int64()), led.column("bytes").cast(pa.int64())),
    )
    for name, ours, theirs in checks:
        eq = pc.fill_null(pc.equal(pa.chunked_array([ours]), theirs.combine_chunks()), False)
        if not pc.all(eq).as_py():
            i = pc.index(eq, False).as_py()
            raise _ContentChanged(f"{uri}: the row at position {led.column('position')[i].as_py()} differs from the "
                                  f"ledger ({name}); the file changed since the scan although its size and "
                                  f"modification time did not")


# -- planning -----------------------------------------------------------------------------------------
def _plan(led: Ledger, verdicts: tuple[str, ...]) -> tuple[list[dict], dict]:
    con = led.con
    marks = ", ".join("?" for _ in verdicts)
    rows = con.execute(
        f"""
        SELECT s.shard_id, s.uri, s.format, s.fingerprint, s.status, s.run_id, s.scanned_at,
               max(d.position)                                         AS max_position,
               count(*)                                                AS documents,
               count(v.verdict)                                        AS evaluated,
               count(*) FILTER (v.verdict IN ({marks}))                AS selected,
               count(*) FILTER (v.verdict = 'include')                 AS include,
               count(*) FILTER (v.verdict = 'exclude')                 AS exclude,
               count(*) FILTER (v.verdict = 'review')                  AS review
        FROM shards s JOIN documents d ON d.shard_id = s.shard_id
        LEFT JOIN document_verdicts v ON v.shard_id = d.shard_id AND v.position = d.position
        GROUP BY ALL ORDER BY s.uri, s.shard_id
        """, list(verdicts)).fetchall()
    cols = ["shard_id", "uri", "format", "fingerprint", "status", "run_id", "scanned_at", "max_position", "documents", "evaluated",
            "selected", "include", "exclude", "review"]
    shards = [dict(zip(cols, r)) for r in rows]
    for s in shards:
        if s["max_position"] >= 1 << KEY_SHIFT or s["max_position"] < 0:
            raise ExportError(f"{s['uri']}: position {s['max_position']} is out of the range this export handles")
    run_ids = sorted({s["run_id"] for s in shards if s["selected"]})
    runs = {}
    if run_ids:
        for run_id, rhash, version, config in con.execute(
                f"SELECT run_id, rules_hash, package_version, config FROM runs WHERE run_id IN ({', '.join('?' for _ in run_ids)})",
                run_ids).fetchall():
            runs[run_id] = {"run_id": run_id, "rules_hash": rhash, "package_version": version,
                            "config": json.loads(config) if isinstance(config, str) else (config or {})}
    return shards, runs


def _preflight(shards: list[dict], runs: dict, evaluated_at) -> tuple[list[dict], list[dict]]:
    """Split the shards with selected documents into exportable plans and problems."""
    plans, problems = [], []
    for s in shards:
        if not s["selected"]:
            continue
        base = {"source_uri": s["uri"], "source_shard_id": s["shard_id"], "expected_rows": s["selected"]}
        if evaluated_at is not None and s["scanned_at"] is not None and s["scanned_at"] > evaluated_at:
            problems.append({**base, "problem": "rescanned",
                             "detail": "scanned again after the last verdict evaluation: run `provenance verdicts` again"})
            continue
        config = runs.get(s["run_id"], {}).get("config", {})
        now = _locate(s["uri"], s["format"], config.get("format"))
        if now.error is not None:
            problems.append({**base, "problem": "missing", "detail": now.error})
            continue
        if now.fingerprint != s["fingerprint"] or now.uri != s["uri"]:
            problems.append({**base, "problem": "changed",
                             "detail": "size or modification time differs from the scan: scan it again "
                                       "(`provenance scan`) and re-run `provenance verdicts`"})
            continue
        plans.append({**s, "shard": now, "config": config, "name": output_name(s["uri"], s["shard_id"])})
    return plans, problems


def _problem_lines(problems: list[dict], limit: int = 10) -> str:
    lines = [f"  {p['problem']}: {p['source_uri']} ({p['expected_rows']:,} document(s)): {p['detail']}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)


# -- the output folder --------------------------------------------------------------------------------
def _prepare_out_dir(out: Path, overwrite: bool, names: list[str]) -> set[str]:
    """Check ``out`` may receive the export; return the names of a previous export there (to replace)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    entries = {p.name for p in out.iterdir()} - {STAGING} if out.exists() else set()
    if not entries:
        return set()
    if not overwrite:
        raise ExportError(f"{out} is not empty; choose an empty or new folder, or pass overwrite=True (--overwrite) to "
                          f"replace a previous export there (only the files its manifest.json lists)")
    mpath = out / MANIFEST
    try:
        old = json.loads(mpath.read_text())
        listed = {f["name"] for f in old.get("files", [])}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ExportError(f"{out} is not empty and holds no readable {MANIFEST} of a previous export ({exc}); "
                          f"refusing to overwrite files this export did not write") from None
    for name in listed:
        if not isinstance(name, str) or Path(name).name != name or name.startswith(".") or name in ("", MANIFEST):
            raise ExportError(f"{mpath} lists {name!r}, which is not a file name this export writes; refusing to overwrite")
    foreign = (entries - listed - {MANIFEST}) & set(names)
    if foreign:
        raise ExportError(f"{out} holds {', '.join(sorted(foreign))}, not written by the previous export; refusing to "
                          f"overwrite it")
    return listed


# -- public API ---------------------------------------------------------------------------------------
def export(
    ledger_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    verdict: str | Iterable[str] = "include",
    overwrite: bool = False,
    skip_changed: bool = False,
    progress: Callable[[dict], None] | None = None,
    memory_limit: str | None = None,
    redact_pii: str | None = None,
) -> dict:
    """Export the documents of ``verdict`` (``include``, ``exclude``, ``review``, or several) with their text
    to Parquet files in ``out_dir``, plus ``manifest.json``.

    Refuses (``ExportError``) when the ledger has no verdicts, when ``out_dir`` is not empty (unless
    ``overwrite``: then only files listed in its old manifest are replaced), and when a source shard is
    missing, changed since the scan (fingerprint, or rows that differ from the ledger), or was rescanned
    after the verdicts — unless ``skip_changed``: then those shards are skipped and listed in the manifest.
    A re-read that finds fewer rows than the ledger counts is reported per file (``missing_rows``) and in
    the totals, never hidden. ``progress`` is called with each file's manifest entry as it is written.
    ``memory_limit`` bounds DuckDB while it sorts the selected ledger rows (it spills inside ``out_dir``).
    ``redact_pii`` (``placeholder`` or ``fake``) replaces every PII / secret finding of the scan in the
    exported text with ``<TYPE>`` or a format-preserving fake (``provenance.pii.redact``).
    Returns the manifest's totals plus the files, skipped shards, paths and timing.
    """
    t0 = time.perf_counter()
    if redact_pii not in (None, "placeholder", "fake"):
        raise ExportError(f"redact_pii must be 'placeholder' or 'fake', not {redact_pii!r}")
    verdicts = _verdicts(verdict, ("include",))
    out = Path(out_dir)
    ledger_path = str(ledger_path)
    with _open(ledger_path) as led:
        evaluation = _check_verdicts(led, ledger_path)
        evaluated_at = led.con.execute("SELECT max(evaluated_at) FROM verdict_runs").fetchall()[0][0]
        shards, runs = _plan(led, verdicts)
        plans, problems = _preflight(shards, runs, evaluated_at)
        if problems and not skip_changed:
            raise ExportError(f"{len(problems)} source shard(s) cannot be exported as scanned:\n{_problem_lines(problems)}\n"
                              f"pass skip_changed=True (--skip-changed) to export the others; the skipped shards are "
                              f"then listed in {MANIFEST}")
        names = [p["name"] for p in plans]
        old = _prepare_out_dir(out, overwrite, names)
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        # made anew: one left by an export that was killed is removed (a symlink there is removed, not followed)
        staging = fresh_dir(out / STAGING)
        files: list[dict] = []
        ok = False
        cur = led.con.cursor()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provenance-export-writer")
        try:
            # DuckDB sorts the selected rows out of core; its spill files stay inside out_dir (or beside the
            # ledger, where the planning queries spilled already)
            budget.spill_to(cur, str(staging / "duckdb.tmp"))
            if memory_limit:
                cur.execute(f"SET memory_limit = {sql_str(memory_limit)}")
            cur.execute("SET TimeZone = 'UTC'")
            cur.register("_export_shards", pa.table({"shard_id": pa.array([p["shard_id"] for p in plans], pa.string()),
                                                     "ord": pa.array(range(len(plans)), pa.int64())}))
            rel = cur.sql(ROWS_SQL.format(shift=KEY_SHIFT, marks=", ".join("?" for _ in verdicts)), params=list(verdicts))
            stream = _LedgerStream(rel.to_arrow_reader(LEDGER_BATCH_ROWS))
            closing: tuple[dict, Future] | None = None

            def settle() -> None:
                """Wait for the previous file to be closed and hashed; record it."""
                nonlocal closing
                if closing is None:
                    return
                entry, fut = closing
                closing = None
                entry["bytes"], entry["sha256"] = fut.result()
                files.append(entry)
                if progress:
                    progress(entry)

            for ordinal, plan in enumerate(plans):
                staged = staging / plan["name"]
                try:
                    entry, fut = _export_shard(_ShardRows(stream, ordinal), plan, verdicts, staged,
                                               evaluation["evaluation_id"], pool, redact_pii)
                except _ContentChanged as exc:
                    staged.unlink(missing_ok=True)
                    problem = {"source_uri": plan["uri"], "source_shard_id": plan["shard_id"],
                               "expected_rows": plan["selected"], "problem": "content_changed", "detail": exc.detail}
                    if not skip_changed:
                        raise ExportError(f"a source shard cannot be exported as scanned:\n{_problem_lines([problem])}\n"
                                          f"scan it again (`provenance scan --force`) and re-run `provenance verdicts`; "
                                          f"nothing was written to {out}") from None
                    problems.append(problem)
                    if progress:
                        progress({**problem, "skipped": True})
                    continue
                settle()
                closing = (entry, fut)
            settle()
            manifest = _manifest(ledger_path, evaluation, verdicts, shards, runs, files, problems)
            manifest["redact_pii"] = redact_pii
            text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            # commit: move the files into place, drop the previous export's others, write the manifest last
            for f in files:
                os.replace(staging / f["name"], out / f["name"])
            for name in sorted(old - {f["name"] for f in files}):
                (out / name).unlink(missing_ok=True)
            write_text(out / MANIFEST, text)
            ok = True
        finally:
            pool.shutdown(wait=True)
            cur.close()
            shutil.rmtree(staging, ignore_errors=True)
            if not ok and created and out.exists() and not any(out.iterdir()):
                out.rmdir()
    seconds = time.perf_counter() - t0
    totals = manifest["totals"]
    return {**totals, "out_dir": str(out), "manifest": str(out / MANIFEST), "files": files,
            "skipped_shards": manifest["skipped_shards"], "evaluation_id": evaluation["evaluation_id"],
            "verdicts": list(verdicts), "seconds": seconds,
            "docs_per_s": totals["exported"] / seconds if seconds > 0 else 0.0}


def _manifest(ledger_path: str, evaluation: dict, verdicts, shards, runs, files, problems) -> dict:
    def total(key: str) -> int:
        return int(sum(s[key] for s in shards))

    exported = sum(f["rows"] for f in files)
    selected = total("selected")
    skipped_rows = sum(p["expected_rows"] for p in problems)
    missing = sum(f["missing_rows"] for f in files)
    return {
        "format": MANIFEST_FORMAT,
        "package_version": __version__,
        "ledger": os.path.abspath(ledger_path),
        "verdicts": list(verdicts),
        "evaluation": {k: evaluation[k] for k in ("evaluation_id", "evaluated_at", "policy", "purpose", "rules_hash")},
        "scan_runs": [{k: r[k] for k in ("run_id", "rules_hash", "package_version")}
                      for r in sorted(runs.values(), key=lambda r: r["run_id"])],
        "columns": [{"name": f.name, "type": str(f.type)} for f in OUT_SCHEMA],
        "files": sorted(files, key=lambda f: f["name"]),
        "skipped_shards": sorted(problems, key=lambda p: (p["source_uri"], p["source_shard_id"])),
        "totals": {
            "documents": total("documents"),  # every document in the ledger
            "evaluated": total("evaluated"),
            "unevaluated": total("documents") - total("evaluated"),
            "include": total("include"),
            "exclude": total("exclude"),
            "review": total("review"),
            "selected": selected,  # documents of the exported verdicts
            "exported": exported,
            "missing": missing,  # selected, in an exported shard, but not found on re-reading it
            "skipped": skipped_rows,  # selected, in a shard that was skipped
            "complete": exported == selected,
        },
    }


def list_excluded(ledger_path: str | os.PathLike, verdict: str | Iterable[str] | None = "exclude") -> pa.Table:
    """What was left out and why: url, registered_domain, verdict, reasons (plus doc_id, words and the
    source shard and position), ordered by source and position. ``verdict=None``: exclude and review.
    The SQL view ``excluded_documents`` answers the same question inside the ledger."""
    verdicts = _verdicts(verdict, ("exclude", "review"))
    with _open(ledger_path) as led:
        _check_verdicts(led, ledger_path)
        t = led.query(
            f"""SELECT d.url, d.registered_domain, v.verdict, v.reasons, d.doc_id, d.words,
                       s.uri AS source_uri, d.position AS source_position
                FROM document_verdicts v JOIN documents d USING (shard_id, position) JOIN shards s USING (shard_id)
                WHERE v.verdict IN ({', '.join('?' for _ in verdicts)})
                ORDER BY s.uri, d.position""", list(verdicts))
    schema = pa.schema([("url", pa.string()), ("registered_domain", pa.string()), ("verdict", pa.string()),
                        ("reasons", pa.list_(pa.string())), ("doc_id", pa.string()), ("words", pa.int64()),
                        ("source_uri", pa.string()), ("source_position", pa.int64())])
    return pa.Table.from_arrays([_column(t, f.name, f.type) for f in schema], schema=schema)


def write_excluded(ledger_path: str | os.PathLike, path: str | os.PathLike,
                   verdict: str | Iterable[str] | None = "exclude") -> dict:
    """Write ``list_excluded`` to ``path``: CSV (``.csv``; reasons joined with ``;``), Parquet (``.parquet``)
    or JSON Lines (``.jsonl``). Returns rows and path."""
    path = Path(path)
    low = path.name.lower()
    if low.endswith(".csv"):
        fmt = "csv"
    elif low.endswith((".parquet", ".pq")):
        fmt = "parquet"
    elif low.endswith((".jsonl", ".ndjson")):
        fmt = "jsonl"
    else:
        raise ExportError(f"{path}: name it *.csv, *.parquet or *.jsonl")
    table = list_excluded(ledger_path, verdict)
    # an exclusively created temporary file beside path, renamed over it (a symlink at path is replaced)
    with atomic_output(path, "wb") as f:
        if fmt == "csv":
            import pyarrow.csv as pcsv

            joined = pc.fill_null(pc.binary_join(table.column("reasons"), ";"), "")
            flat = table.set_column(table.schema.get_field_index("reasons"), "reasons", joined)
            pcsv.write_csv(flat, f)
        elif fmt == "parquet":
            pq.write_table(table, f, compression="zstd")
        else:
            for row in table.to_pylist():
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    return {"path": str(path), "rows": table.num_rows, "format": fmt, "verdicts": list(_verdicts(verdict, ("exclude", "review")))}


__all__ = ["ExportError", "OUT_SCHEMA", "export", "list_excluded", "output_name", "write_excluded"]
