"""The DuckDB ledger: one file, versioned SQL migrations, one writer.

Per-shard results arrive as Parquet files written by workers; ``ingest_shard`` replaces the shard's rows
in one transaction (delete + insert), so a rescan never duplicates and a crash mid-shard leaves the
ledger as it was before that shard.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from ..errors import ProvenanceError


class LedgerBusy(ProvenanceError):
    """Another process holds the ledger (DuckDB allows one writer process per file)."""


@dataclass
class ShardResult:
    """What a worker reports for one shard. Paths point at Parquet files the ledger ingests."""

    shard_id: str
    uri: str
    format: str
    fingerprint: str
    config_hash: str
    status: str  # done | partial | failed
    rows_read: int = 0
    documents: int = 0
    quarantined: int = 0  # record-level
    bytes: int = 0
    words: int = 0
    error: str | None = None
    error_reason: str | None = None
    annotations_path: str | None = None
    quarantine_path: str | None = None
    seconds: float = 0.0
    from_cache: bool = False
    quarantine_summary: list[dict] = field(default_factory=list)  # first few records, for the terminal

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ShardResult":
        return cls(**json.loads(text))


def _migrations() -> list[tuple[int, str, str]]:
    out = []
    pkg = resources.files("provenance.ledger.migrations")
    for entry in pkg.iterdir():
        m = re.match(r"^(\d{4})_(.+)\.sql$", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text()))
    return sorted(out)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Ledger:
    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        if read_only and not Path(self.path).exists():
            raise ProvenanceError(f"no ledger at {self.path}: run `provenance scan ... --ledger {self.path}` first")
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                pid = re.search(r"PID (\d+)", msg)
                who = f" (process {pid.group(1)})" if pid else ""
                raise LedgerBusy(
                    f"ledger {self.path} is in use by another process{who}; DuckDB allows one writer per file. "
                    f"Wait for that scan to finish, or use another --ledger."
                ) from exc
            raise ProvenanceError(f"cannot open ledger {self.path}: {msg}") from exc
        if not read_only:
            self.migrate()

    @contextmanager
    def transaction(self):
        """BEGIN ... COMMIT, or ROLLBACK when the block raises."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, name, sql in _migrations():
            if version in done:
                continue
            with self.transaction() as con:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
            applied.append(version)
        return applied

    def pii_salt(self) -> bytes:
        """This ledger's salt for hashing PII values, made on first use (random, 32 bytes). Hashes link the
        same value inside one ledger and not across ledgers."""
        row = self.con.execute("SELECT value FROM ledger_meta WHERE key = 'pii_salt'").fetchall()
        if row:
            return bytes.fromhex(row[0][0])
        if self.read_only:
            raise ProvenanceError(f"ledger {self.path} has no PII salt yet (open it writable once)")
        import secrets

        salt = secrets.token_hex(32)
        self.con.execute("INSERT INTO ledger_meta VALUES ('pii_salt', ?) ON CONFLICT DO NOTHING", [salt])
        return bytes.fromhex(self.con.execute("SELECT value FROM ledger_meta WHERE key = 'pii_salt'").fetchall()[0][0])

    def schema_version(self) -> int:
        return self.con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0][0]

    # -- runs ---------------------------------------------------------------------------------------
    def begin_run(self, config: dict, rules_hash: str, config_hash: str, shards_total: int) -> str:
        run_id = _now().strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
        self.con.execute(
            "INSERT INTO runs (run_id, started_at, status, package_version, rules_hash, config_hash, config, shards_total) "
            "VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
            [run_id, _now(), __version__, rules_hash, config_hash, json.dumps(config, sort_keys=True, default=str), shards_total],
        )
        return run_id

    def finish_run(self, run_id: str, *, status: str, shards_scanned: int, shards_skipped: int, rows_read: int,
                   documents: int, quarantined: int, seconds: float, timings: dict) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, shards_scanned = ?, shards_skipped = ?, rows_read = ?, "
            "documents = ?, quarantined = ?, seconds = ?, timings = ? WHERE run_id = ?",
            [_now(), status, shards_scanned, shards_skipped, rows_read, documents, quarantined, seconds,
             json.dumps(timings), run_id],
        )

    # -- shards -------------------------------------------------------------------------------------
    def finished_shards(self, config_hash: str) -> dict[str, str]:
        """shard_id -> fingerprint of shards fully processed with this configuration (done or partial:
        a truncated shard is as done as it will get until the file changes)."""
        rows = self.con.execute(
            "SELECT shard_id, fingerprint FROM shards WHERE config_hash = ? AND status IN ('done', 'partial')",
            [config_hash],
        ).fetchall()
        return dict(rows)

    def ingest_shard(self, r: ShardResult, run_id: str) -> None:
        """Replace everything the ledger holds for this shard, in one transaction."""
        con = self.con
        doc_cols = [c[0] for c in con.execute("DESCRIBE documents").fetchall()]
        with self.transaction():
            con.execute("DELETE FROM documents WHERE shard_id = ?", [r.shard_id])
            con.execute("DELETE FROM quarantine WHERE shard_id = ?", [r.shard_id])
            con.execute("DELETE FROM shards WHERE shard_id = ?", [r.shard_id])
            if r.annotations_path and r.documents:
                # the columns both the sink and the table have: a ledger made by an older version gains
                # columns through migrations; a sink from an older configuration lacks newer ones (null)
                have = set(pq.read_schema(r.annotations_path).names)
                cols = [c for c in doc_cols if c not in ("shard_id", "run_id") and c in have]
                sel = ", ".join(f'"{c}"' for c in cols)
                con.execute(
                    f"INSERT INTO documents BY NAME SELECT ? AS shard_id, ? AS run_id, {sel} FROM read_parquet(?)",
                    [r.shard_id, run_id, r.annotations_path],
                )
            if r.quarantine_path:
                con.execute(
                    "INSERT INTO quarantine BY NAME SELECT ? AS shard_id, ? AS uri, position, kind, reason, detail, n_bytes, "
                    "? AS run_id FROM read_parquet(?)",
                    [r.shard_id, r.uri, run_id, r.quarantine_path],
                )
            if r.error:
                con.execute(
                    "INSERT INTO quarantine (shard_id, uri, position, kind, reason, detail, n_bytes, run_id) "
                    "VALUES (?, ?, NULL, 'shard', ?, ?, NULL, ?)",
                    [r.shard_id, r.uri, r.error_reason or "failed", r.error, run_id],
                )
            con.execute(
                "INSERT INTO shards (shard_id, uri, format, fingerprint, config_hash, status, rows_read, documents, "
                "quarantined, bytes, words, error, run_id, scanned_at, seconds, annotations_path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.shard_id, r.uri, r.format, r.fingerprint, r.config_hash, r.status, r.rows_read, r.documents,
                 r.quarantined, r.bytes, r.words, r.error, run_id, _now(), r.seconds,
                 str(Path(r.annotations_path).resolve()) if r.annotations_path else None],
            )

    # -- queries ------------------------------------------------------------------------------------
    def query(self, sql: str, params: list | None = None) -> pa.Table:
        rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
        return rel.to_arrow_table() if rel is not None else pa.table({})

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
