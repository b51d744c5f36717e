"""The DuckDB ledger: one file, versioned SQL migrations, one writer.

Per-shard results arrive as Parquet files written by workers; ``ingest_shard`` replaces the shard's rows
in one transaction (delete + insert), so a rescan never duplicates and a crash mid-shard leaves the
ledger as it was before that shard.

Where the per-document rows live is chosen when a ledger is created (``documents_store``) and kept in
``ledger_meta``:

- ``table`` (the default): the DuckDB table ``documents``, inside the one file.
- ``parquet``: a hive-partitioned Parquet dataset beside the ledger, ``<ledger>.documents/shard_id=<id>/
  part-<run_id>.parquet`` (one file per shard, zstd), and ``documents`` in the DuckDB file is a VIEW over it
  with the table's columns, names, types and order, so every view, query, report and export works unchanged.
  The view shows a file's rows only when ``shards`` lists that shard with that run (``run_id`` is in the
  file's name, in every row, and in the shards row), which keeps the dataset and the ledger consistent
  across crashes: see ``Ledger._ingest_documents_parquet`` and docs/documents-store-notes.md.
"""

from __future__ import annotations

import json
import os
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
from ..safeio import temp_name, temp_path


class LedgerBusy(ProvenanceError):
    """Another process holds the ledger (DuckDB allows one writer process per file)."""


def _link_into(src: Path, target: Path) -> bool:
    """Hard-link ``src`` as ``target`` (through a hidden temporary name, renamed over ``target``, the folder
    fsynced); False, with nothing left behind, where that cannot be done (a symlink, another file system, a
    file system without hard links)."""
    if src.is_symlink() or not src.is_file():
        return False
    tmp = temp_name(target)
    try:
        os.link(src, tmp, follow_symlinks=False)
    except OSError:
        return False
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return True


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


DOCUMENTS_STORES = ("table", "parquet")
#: in a parquet-mode ledger the migrations' ``documents`` table is renamed to this (empty, never written):
#: it keeps the column names, types and order the view, the shard files and the placeholder follow
DOCUMENTS_TEMPLATE = "_documents_template"
#: the empty file (the schema, no rows) that keeps the dataset's glob from matching nothing
PLACEHOLDER_DIR = "shard_id=_"
PLACEHOLDER_FILE = "_empty.parquet"
#: ledger_meta keys: the mode, and shards whose dataset folder may hold files to sweep (a write in flight)
META_STORE = "documents_store"
META_PENDING = "documents_pending:"
#: names that go into file and folder names of the dataset
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: statements of a migration that change the ``documents`` table (in a parquet-mode ledger it is a view)
_TOUCHES_DOCUMENTS = re.compile(
    r"\b(?:ALTER\s+TABLE|DROP\s+TABLE|INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|TRUNCATE)"
    r"\s+(?:IF\s+EXISTS\s+)?(?:\"?main\"?\.)?\"?documents\"?(?![\w\"])", re.IGNORECASE)
#: the ones a parquet-mode ledger carries over (``Ledger._carry_documents_change``): a column added, dropped or
#: retyped, which the template takes and the view reads from older files by name (absent: NULL; other type:
#: CAST). Renames, a retype with USING, and row changes (INSERT/UPDATE/DELETE) would need every file rewritten
_CARRIED_DOCUMENTS = re.compile(
    r"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:\"?main\"?\.)?\"?documents\"?(?![\w\"])"
    r"(?=\s+(?:ADD|DROP|ALTER)\b)(?!.*\b(?:RENAME|USING)\b)", re.IGNORECASE | re.DOTALL)
_SQL_LINE_COMMENT = re.compile(r"--[^\n]*")


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sql_str(text: str) -> str:
    """``text`` as a SQL string literal, quoted (for the places DuckDB takes no parameter: COPY ... TO,
    SET, a view's file names, IN lists)."""
    return "'" + text.replace("'", "''") + "'"


DUCKDB_MAGIC = b"DUCK"


def _file_kind(path: str | Path) -> str:
    """What a file that is not a DuckDB database looks like (for the message; read only once refused)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return "not readable"
    if head[:4] == b"PAR1":
        return "a Parquet file"
    if head[:2] == b"\x1f\x8b":
        return "a gzip file"
    return "not a DuckDB database"


def storage_info(path: str | Path) -> dict:
    """What the DuckDB file header says: its storage version number and the DuckDB release that wrote it.
    Call it before this process opens the ledger (reading the file with a descriptor of our own would drop
    DuckDB's lock when that descriptor is closed)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[8:12] != DUCKDB_MAGIC:
        return {}
    version = int.from_bytes(head[12:20], "little")
    lib = head[52:84].split(b"\0", 1)[0].decode("ascii", "replace")
    return {"storage_version": version, "written_by": lib or None}


_STORAGE_VERSION = re.compile(r"storage version number (\d+)|version number (\d+)", re.IGNORECASE)
_STORAGE_RANGE = re.compile(r"(?:between|versions?)\s+(\d+)\s*(?:and|-)\s*(\d+)", re.IGNORECASE)


def storage_version_error(path: str, msg: str) -> str | None:
    """One line for DuckDB's "cannot read this storage version" error (None for any other error): the file,
    the DuckDB release that wrote it (its header says, when it is a recent enough file), the storage versions
    this DuckDB reads, and what to install. Call it only when opening failed (it reads the file's header with
    a descriptor of its own, which must not be closed while this process holds the file)."""
    if "storage version" not in msg.lower() and "version number" not in msg.lower():
        return None
    m = _STORAGE_VERSION.search(msg)
    try:
        info = storage_info(path)
    except OSError:
        info = {}
    version = int(m.group(1) or m.group(2)) if m else info.get("storage_version")
    if version is None:
        return None
    rng = _STORAGE_RANGE.search(msg)
    reads = f"storage versions {rng.group(1)}-{rng.group(2)}" if rng else "other storage versions"
    writer = (info.get("written_by") or "").lstrip("v") or None
    if writer and not re.fullmatch(r"\d+(\.\d+)*(-\w+)?", writer):
        writer = None  # a development build's description, not a release number
    here = f"DuckDB {duckdb.__version__} (installed here) reads {reads}"
    newer = version > int(rng.group(2)) if rng else "created with a newer" in msg.lower()
    if newer:
        by = f"DuckDB {writer}" if writer else "a newer DuckDB"
        fix = f"pip install 'duckdb>={writer}'" if writer else "pip install -U duckdb"
        return f"ledger {path} was written by {by} (storage version {version}); {here}: {fix}"
    by = f"DuckDB {writer}" if writer else "an older DuckDB"
    fix = (f"export it with that DuckDB (pip install 'duckdb=={writer}' in another environment, EXPORT DATABASE), "
           f"or scan into a new ledger" if writer else "export it with the DuckDB that wrote it, or scan into a new ledger")
    return f"ledger {path} was written by {by} (storage version {version}); {here}: {fix}"


class Ledger:
    """A ledger file. ``documents_store`` ("table" | "parquet") is where the per-document rows live; it is
    chosen when the ledger is created and kept in the ledger: later opens without it use the stored mode,
    and asking an existing ledger for the other one is an error. None means "the stored mode, or table for a
    new ledger"."""

    #: a parquet-mode ledger's migrations read documents through a temporary view of the dataset (migrate)
    _migration_view = False

    def __init__(self, path: str | Path, read_only: bool = False, documents_store: str | None = None,
                 create: bool = True):
        self.path = str(path)
        self.read_only = read_only
        if documents_store is not None and documents_store not in DOCUMENTS_STORES:
            raise ProvenanceError(f"documents_store {documents_store!r}: expected one of {', '.join(DOCUMENTS_STORES)}")
        if documents_store == "parquet" and self.path in ("", ":memory:"):
            raise ProvenanceError("documents_store='parquet' needs a ledger file (the dataset lives beside it)")
        in_memory = self.path in ("", ":memory:")
        exists = not in_memory and Path(self.path).exists()
        if not exists and not in_memory and (read_only or not create):
            raise ProvenanceError(f"no ledger at {self.path}: only `provenance scan ... --ledger {self.path}` creates "
                                  f"one (check --ledger)")
        if exists and Path(self.path).is_dir():
            raise ProvenanceError(f"{self.path} is a folder, not a ledger file")
        #: True when this open made the file (the caller may say "created ledger ...")
        self.created = not exists and not in_memory
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
            version_msg = storage_version_error(self.path, msg)
            if version_msg:
                raise ProvenanceError(version_msg) from exc
            raise ProvenanceError(f"cannot open ledger {self.path}: {msg}") from exc
        except duckdb.CatalogException as exc:
            if "in-memory" not in str(exc):
                raise
            # read-only, DuckDB takes a file that is not a database (Parquet, CSV) for an in-memory one and refuses
            raise ProvenanceError(f"{self.path} is {_file_kind(self.path)}, not a provenance ledger: refusing to open "
                                  f"it as one (give --ledger the ledger's .duckdb file)") from exc
        try:
            from .. import budget

            budget.apply(self.con)  # the command's memory budget: DuckDB spills beyond its share (<ledger>.tmp)
            if exists:
                self._check_is_duckdb()
                self._check_is_ledger()
            self._open_documents_store(documents_store)
        except BaseException:
            self.con.close()
            raise

    def _check_is_duckdb(self) -> None:
        """DuckDB opens a file that is not a database (a Parquet or CSV file) as a throw-away in-memory
        database: a scan would report success and save nothing. Such a file has no path in duckdb_databases().
        (Checked after connecting, never by reading the file ourselves: closing any descriptor of a file drops
        every POSIX lock this process holds on it, DuckDB's included.)"""
        row = self.con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
        if row and row[0][0] is None:
            self.con.close()
            raise ProvenanceError(f"{self.path} is {_file_kind(self.path)}, not a provenance ledger: refusing to open it "
                                  f"as one (give --ledger the ledger's .duckdb file, or a new path for `provenance scan`)")

    def _check_is_ledger(self) -> None:
        """A DuckDB file made by someone else (tables, but none of ours) is refused, not migrated into."""
        if self._has_relation("schema_migrations"):
            return
        n = self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                             "AND NOT temporary").fetchall()[0][0]
        if n:
            raise ProvenanceError(f"{self.path} is a DuckDB database but not a provenance ledger (no schema_migrations "
                                  f"table): refusing to use it; give --ledger a new path or a ledger")

    # -- settings kept in the ledger ----------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        if not self._has_relation("ledger_meta"):
            return None
        row = self.con.execute("SELECT value FROM ledger_meta WHERE key = ?", [key]).fetchall()
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.con.execute("DELETE FROM ledger_meta WHERE key = ?", [key])
        else:
            self.con.execute("INSERT OR REPLACE INTO ledger_meta VALUES (?, ?)", [key, value])

    # -- where the documents live -------------------------------------------------------------------
    @property
    def documents_dataset(self) -> Path:
        """The Parquet dataset of a parquet-mode ledger: ``<ledger>.documents/`` beside the ledger file (an
        absolute path, whatever the working directory)."""
        return Path(os.path.abspath(self.path + ".documents"))

    def _has_relation(self, name: str) -> bool:
        return bool(self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ? "
            "AND NOT temporary", [name]).fetchall()[0][0] or self.con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() AND view_name = ? "
            "AND NOT temporary", [name]).fetchall()[0][0])

    def _stored_store(self) -> str | None:
        """The mode recorded in ledger_meta; None when not recorded (a ledger made before the option, or a
        creation interrupted between the migrations and the switch)."""
        if not self._has_relation("ledger_meta"):
            return None
        row = self.con.execute("SELECT value FROM ledger_meta WHERE key = ?", [META_STORE]).fetchall()
        return row[0][0] if row else None

    def _open_documents_store(self, requested: str | None) -> None:
        stored = self._stored_store()
        if stored is None and self._has_relation(DOCUMENTS_TEMPLATE):
            stored = "parquet"  # cannot happen through this class; be safe with a hand-edited ledger
        if stored is not None and requested is not None and requested != stored:
            raise self._wrong_store(stored, requested)
        if self.read_only:
            self.documents_store = stored or "table"
            if requested == "parquet" and self.documents_store != "parquet":
                raise self._wrong_store(self.documents_store, requested)
            if self.documents_store == "parquet":
                self._attach_dataset_read_only()
            return
        self.documents_store = stored or "table"
        self.migrate()
        if stored is None:
            if requested == "parquet":
                self._switch_to_parquet()
            else:
                self.con.execute("INSERT INTO ledger_meta VALUES (?, 'table') ON CONFLICT DO NOTHING", [META_STORE])
        elif stored == "parquet":
            self._attach_dataset_writable()

    def _wrong_store(self, stored: str, requested: str) -> ProvenanceError:
        where = (f"as a Parquet dataset at {self.documents_dataset}" if stored == "parquet"
                 else "in its DuckDB table `documents`")
        return ProvenanceError(
            f"ledger {self.path} keeps its documents {where} (documents_store={stored!r}, chosen when it was "
            f"created); it cannot be opened with documents_store={requested!r} (--documents-store {requested}). Open "
            f"it without the option, or scan into a new ledger path to use {requested!r}.")

    def _template_columns(self) -> list[tuple[str, str]]:
        table = DOCUMENTS_TEMPLATE if self.documents_store == "parquet" else "documents"
        return [(r[0], r[1]) for r in self.con.execute(f"DESCRIBE {table}").fetchall()]

    def _dataset_glob(self) -> str:
        ds = self.documents_dataset.as_posix()
        if any(ch in ds for ch in "*?[]{}"):
            raise ProvenanceError(f"the documents dataset path {ds} contains a glob character; move the ledger "
                                  f"to a path without * ? [ ] {{ }}")
        return f"{ds}/shard_id=*/*.parquet"

    def _view_sql(self, temporary: bool = False) -> str:
        """``documents`` over the dataset: the template's columns in its order, cast to its types, and only the
        rows of the run the shards table lists for each shard (a file not yet committed, or left behind by a
        replaced run, shows nothing)."""
        sel = ", ".join(('CAST(s.run_id AS VARCHAR) AS "run_id"' if c == "run_id" else f'CAST(d."{c}" AS {t}) AS "{c}"')
                        for c, t in self._template_columns())
        glob = self._dataset_glob()
        folder = glob[: -len("shard_id=*/*.parquet")]
        # the file the shards row names, compared with each row's file name (a constant per file: as fast as no
        # filter; a linked sink has no run_id column, and a regexp over the name cost 2x)
        listed = (f"SELECT shard_id, run_id, {sql_str(folder)} || 'shard_id=' || shard_id || '/part-' || run_id "
                  f"|| '.parquet' AS file FROM shards")
        return (
            f"CREATE OR REPLACE {'TEMPORARY ' if temporary else ''}VIEW documents AS SELECT {sel} "
            f"FROM read_parquet({sql_str(glob)}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{'shard_id': 'VARCHAR'}}, filename = true) d "
            f"JOIN ({listed}) s ON s.shard_id = d.shard_id AND s.file = d.filename")

    def _write_placeholder(self, force: bool = False) -> None:
        """The empty file that carries the template's columns into the dataset (``union_by_name`` makes the
        view's columns the union of every file's: this one has them all). Rewritten when forced, or when it
        does not have the template's columns (a migration changed them, and was interrupted or rolled back
        after the file was replaced)."""
        folder = self.documents_dataset / PLACEHOLDER_DIR
        target = folder / PLACEHOLDER_FILE
        if target.exists() and not force:
            want = [c for c, _ in self._template_columns() if c != "shard_id"]
            try:
                if pq.read_schema(target).names == want:
                    return
            except (OSError, pa.ArrowException):
                pass  # damaged: write it again
        folder.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(target)  # created exclusively (no symlink followed), matched by the sweep's ".*.tmp"
        cols = ", ".join(f'"{c}"' for c, _ in self._template_columns() if c != "shard_id")
        table = DOCUMENTS_TEMPLATE if self.documents_store == "parquet" else "documents"
        self.con.execute(f"COPY (SELECT {cols} FROM {table} LIMIT 0) TO {sql_str(str(tmp))} (FORMAT parquet)")
        os.replace(tmp, target)
        _fsync_dir(folder)

    def _dataset_files(self) -> list[Path]:
        ds = self.documents_dataset
        if not ds.is_dir():
            return []
        return [f for d in ds.iterdir() if d.is_dir() and d.name != PLACEHOLDER_DIR for f in d.glob("*.parquet")]

    def _switch_to_parquet(self) -> None:
        """A new ledger (migrations just applied, nothing ingested): rename the documents table to the
        template, write the placeholder, create the view, record the mode; one transaction for the catalog."""
        busy = self.con.execute(
            "SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM shards) + (SELECT count(*) FROM runs)"
        ).fetchall()[0][0]
        if busy:
            raise self._wrong_store("table", "parquet")
        stale = self._dataset_files()
        if stale:
            raise ProvenanceError(
                f"{self.documents_dataset} already holds {len(stale)} Parquet file(s) that belong to no ledger "
                f"(e.g. {stale[0]}); remove that folder or choose another ledger path")
        self._write_placeholder()
        self._cache_footers()
        with self.transaction() as con:
            con.execute(f"ALTER TABLE documents RENAME TO {DOCUMENTS_TEMPLATE}")
            self.documents_store = "parquet"
            try:
                con.execute(self._view_sql())
                con.execute("INSERT INTO ledger_meta VALUES (?, 'parquet')", [META_STORE])
            except BaseException:
                self.documents_store = "table"
                raise

    def _stored_view_sql(self) -> str:
        row = self.con.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = current_database() AND view_name = 'documents' "
            "AND NOT temporary").fetchall()
        return row[0][0] if row else ""

    def _check_dataset_present(self) -> None:
        ds = self.documents_dataset
        if ds.is_dir():
            return
        listed = self.con.execute("SELECT count(*) FROM shards WHERE documents > 0").fetchall()[0][0]
        if listed:
            raise ProvenanceError(
                f"ledger {self.path} keeps its documents as a Parquet dataset at {ds}, which is missing "
                f"({listed} shard(s) with documents are listed). Move the ledger and its .documents folder "
                f"together (same folder, same base name).")

    def _cache_footers(self) -> None:
        # union_by_name reads every file's footer when a query binds; the files are immutable (a new run
        # writes a new name), so caching footers for the connection's life is safe and saves that per query
        self.con.execute("SET parquet_metadata_cache = true")

    def _attach_dataset_writable(self) -> None:
        """Point the view at ``<ledger>.documents`` as seen from here (absolute; a moved ledger + dataset
        follow), restore the placeholder, and finish any shard write a crash interrupted."""
        self._cache_footers()
        self._check_dataset_present()
        self._write_placeholder()
        stored = self._stored_view_sql()
        # recreated when the ledger moved, or when it was made before shard files could be linked sinks (its
        # view filtered on a run_id column those files do not have)
        if sql_str(self._dataset_glob()) not in stored or "s.file = d.filename" not in stored:
            self.con.execute(self._view_sql())
        pending = self.con.execute("SELECT key FROM ledger_meta WHERE starts_with(key, ?)", [META_PENDING]).fetchall()
        for (key,) in pending:
            self._sweep_shard(key[len(META_PENDING):])

    def _attach_dataset_read_only(self) -> None:
        """A read-only connection cannot change the stored view; when the ledger and its dataset were moved
        together, a TEMPORARY view over the dataset beside the ledger shadows it (names resolve to temp
        objects first, the other views included)."""
        self._cache_footers()
        self._check_dataset_present()
        if sql_str(self._dataset_glob()) not in self._stored_view_sql() and self.documents_dataset.is_dir():
            self.con.execute(self._view_sql(temporary=True))

    def sweep_documents_dataset(self) -> int:
        """Remove every file of the dataset the ledger does not list (leftovers of interrupted writes, or of
        replaced runs); returns how many. Writable parquet-mode ledgers only."""
        if self.documents_store != "parquet" or self.read_only:
            raise ProvenanceError("sweep_documents_dataset needs a parquet-mode ledger opened writable")
        ds = self.documents_dataset
        removed = 0
        for f in (ds / PLACEHOLDER_DIR).glob(".*.tmp"):  # a placeholder write that was interrupted
            f.unlink()
            removed += 1
        for d in (ds.iterdir() if ds.is_dir() else []):
            if d.is_dir() and d.name.startswith("shard_id=") and d.name != PLACEHOLDER_DIR:
                removed += self._sweep_shard(d.name[len("shard_id="):])
        return removed

    def _sweep_shard(self, shard_id: str) -> int:
        """Keep only the file of the run the shards table lists for this shard; then clear its pending mark."""
        folder = self.documents_dataset / f"shard_id={shard_id}"
        row = self.con.execute("SELECT run_id FROM shards WHERE shard_id = ?", [shard_id]).fetchall()
        keep = f"part-{row[0][0]}.parquet" if row else None
        removed = 0
        # (a planted symlink or an id with path pieces never sends the sweep outside the dataset)
        if _SAFE_NAME.fullmatch(shard_id or "") and folder.is_dir() and not folder.is_symlink():
            for f in folder.iterdir():
                if f.is_file() and f.name != keep:
                    f.unlink()
                    removed += 1
            if not any(folder.iterdir()):
                folder.rmdir()
                _fsync_dir(self.documents_dataset)
            elif removed:
                _fsync_dir(folder)
        self.con.execute("DELETE FROM ledger_meta WHERE key = ?", [META_PENDING + shard_id])
        return removed

    def documents_files(self) -> list[str]:
        """The dataset's committed files (one per shard that has documents), for readers outside DuckDB
        (Spark, Dask, Polars, pyarrow.dataset): unlike a glob, this list never includes a file a crash or a
        running scan left behind."""
        if self.documents_store != "parquet":
            return []
        out = []
        for sid, run in self.con.execute("SELECT shard_id, run_id FROM shards ORDER BY shard_id").fetchall():
            f = self.documents_dataset / f"shard_id={sid}" / f"part-{run}.parquet"
            if f.exists():
                out.append(str(f))
        return out

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
        """Apply the migrations this ledger lacks, each in its own transaction.

        In a parquet-mode ledger ``documents`` is a view over a Parquet dataset, so a migration's statements
        that change the ``documents`` table are carried over instead of run: a column added, dropped or
        retyped (``ALTER TABLE documents ADD|DROP|ALTER COLUMN ...``) goes to the template
        (``_documents_template``), the placeholder and the view (``_carry_documents_change``); the existing
        files keep their columns and read as NULL (added) or CAST (retyped) through the view, like a table's
        old rows after the same ALTER. Statements the files cannot follow without being rewritten (INSERT,
        UPDATE, DELETE, DROP TABLE, a RENAME, a retype ``USING`` an expression) make the whole upgrade fail,
        loudly and before any migration is applied."""
        if getattr(self, "documents_store", "table") == "parquet":
            self._check_dataset_present()  # a moved ledger without its dataset: refused, never migrated into
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {r[0] for r in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        pending = [m for m in _migrations() if m[0] not in done]
        parquet = getattr(self, "documents_store", "table") == "parquet"
        if parquet:
            for version, name, sql in pending:  # all refused before any is applied
                for st in duckdb.extract_statements(sql):
                    hit = _TOUCHES_DOCUMENTS.search(_SQL_LINE_COMMENT.sub("", st.query))
                    if hit and not _CARRIED_DOCUMENTS.match(_SQL_LINE_COMMENT.sub("", st.query)):
                        raise ProvenanceError(
                            f"migration {version:04d}_{name} changes the documents table ({hit.group(0)!r}) in a way "
                            f"its Parquet files cannot follow without being rewritten, and ledger {self.path} keeps "
                            f"its documents as a Parquet dataset (documents_store='parquet'); this version cannot "
                            f"upgrade it")
        applied = []
        if parquet and pending and self.documents_dataset.is_dir():
            # a migration may read documents (0016 does): through a view of the dataset as seen from here (the
            # stored one names the folder where the ledger was made; it is recreated after the migrations)
            self._write_placeholder()
            self.con.execute(self._view_sql(temporary=True))
            self._migration_view = True
        for version, name, sql in pending:
            with self.transaction() as con:
                if parquet:
                    for st in duckdb.extract_statements(sql):
                        plain = _SQL_LINE_COMMENT.sub("", st.query)
                        if _CARRIED_DOCUMENTS.match(plain):
                            self._carry_documents_change(plain)
                        else:
                            con.execute(st.query)
                else:
                    con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
            applied.append(version)
        if self._migration_view:
            self.con.execute("DROP VIEW IF EXISTS temp.documents")
            self._migration_view = False
        return applied

    def _carry_documents_change(self, statement: str) -> None:
        """A parquet-mode ledger takes a migration's column change of ``documents`` (inside the migration's
        transaction): the statement runs on the template, the placeholder is rewritten with the template's new
        columns, and the view is recreated over them. The shard files are never rewritten: the view reads them
        by name, so a column an older file lacks is NULL in its rows and a retyped one is CAST, as the table's
        ALTER does to its old rows; a rescan writes files with the new columns. (Should the transaction roll
        back, the placeholder already has the new columns: the next writable open, which runs the migration
        again, rewrites it; a read-only one ignores the extra columns.)"""
        self.con.execute(_CARRIED_DOCUMENTS.sub(f"ALTER TABLE {DOCUMENTS_TEMPLATE}", statement, count=1))
        self._write_placeholder(force=True)
        self.con.execute(self._view_sql())
        if self._migration_view:  # the migrations' own view (see migrate) takes the new columns too
            self.con.execute(self._view_sql(temporary=True))

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
        """Replace everything the ledger holds for this shard, in one transaction (parquet mode: the shard's
        file is written first, and the transaction's shards row is what makes it visible)."""
        if self.documents_store == "parquet":
            self._ingest_documents_parquet(r, run_id)
            return
        con = self.con
        doc_cols = [c[0] for c in con.execute("DESCRIBE documents").fetchall()]
        with self.transaction():
            con.execute("DELETE FROM documents WHERE shard_id = ?", [r.shard_id])
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
            self._replace_shard_rows(r, run_id)

    def _replace_shard_rows(self, r: ShardResult, run_id: str) -> None:
        """Everything but the documents: quarantine rows and the shards row (inside the caller's transaction)."""
        con = self.con
        con.execute("DELETE FROM quarantine WHERE shard_id = ?", [r.shard_id])
        con.execute("DELETE FROM shards WHERE shard_id = ?", [r.shard_id])
        if r.quarantine_path:
            # sinks written before quarantine ranges existed have no n_rows: a record is one row
            n_rows = "n_rows" if "n_rows" in pq.read_schema(r.quarantine_path).names else \
                "CASE WHEN kind = 'record' THEN 1 END AS n_rows"
            con.execute(
                "INSERT INTO quarantine BY NAME SELECT ? AS shard_id, ? AS uri, position, kind, reason, detail, n_bytes, "
                f"{n_rows}, ? AS run_id FROM read_parquet(?)",
                [r.shard_id, r.uri, run_id, r.quarantine_path],
            )
        if r.error and r.status == "failed":
            # a partial shard's damage is in its range rows; the shards row keeps the summary
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
        self._refresh_document_copies(r.shard_id)

    #: tables that keep each document's registered domain and words beside their own columns (0016), so that
    #: their counts need no join with documents
    _DOCUMENT_COPIES = {
        "consent_documents": "c.shard_id, c.position, c.path_key, c.crawl_snapshot, c.now_snapshot",
        "document_verdicts": "c.shard_id, c.position, c.verdict, c.reasons",
    }

    def _refresh_document_copies(self, shard_id: str) -> None:
        """A rescanned shard's consent and verdict rows follow its new documents (inside the ingest's transaction,
        after the shards row, so that a parquet-mode view already shows the new file): their registered domain
        and words are the documents' again, and rows of documents no longer in the shard go. Their answers stay
        those of the last evaluation until the next one (as before 0016, when the counts joined documents). One
        filtered lookup per table when the shard has no such rows (a first scan)."""
        con = self.con
        for table, cols in self._DOCUMENT_COPIES.items():
            if not con.execute(f"SELECT 1 FROM {table} WHERE shard_id = ? LIMIT 1", [shard_id]).fetchall():
                continue
            # rewritten rather than updated: an UPDATE keeps its undo in memory (a migration's UPDATE of 5M rows
            # ran out of it); the inner join drops the rows of documents the shard no longer has
            con.execute(f"CREATE OR REPLACE TEMP TABLE _copy_refresh AS SELECT {cols}, d.registered_domain, d.words "
                        f"FROM {table} c JOIN documents d ON d.shard_id = c.shard_id AND d.position = c.position "
                        f"WHERE c.shard_id = ? AND d.shard_id = ?", [shard_id, shard_id])
            con.execute(f"DELETE FROM {table} WHERE shard_id = ?", [shard_id])
            con.execute(f"INSERT INTO {table} SELECT * FROM _copy_refresh")
            con.execute("DROP TABLE _copy_refresh")

    def _write_shard_file(self, r: ShardResult, run_id: str, target: Path) -> None:
        """The shard's rows as ``target`` (the table insert's columns and casts; shard_id comes from the folder
        name), through a hidden temporary file renamed into place: a reader never sees half a file.

        No copy when it can be avoided: the worker's sink itself becomes the shard's file, hard-linked under
        the dataset's name (the view reads the table's columns from it by name; its run is the file name's
        ``part-<run_id>``). The ingest of a shard is then a link and a transaction, whatever its size. The
        rows are copied instead when the sink is on another file system, is a symlink, or carries
        ``shard_id`` / ``run_id`` columns of its own."""
        have = set(pq.read_schema(r.annotations_path).names)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not ({"shard_id", "run_id"} & have) and _link_into(Path(r.annotations_path), target):
            return
        sel = []
        for c, t in self._template_columns():
            if c == "shard_id":
                continue
            if c == "run_id":
                sel.append(f'CAST(? AS {t}) AS "run_id"')
            elif c in have:
                sel.append(f'CAST("{c}" AS {t}) AS "{c}"')
            else:
                sel.append(f'CAST(NULL AS {t}) AS "{c}"')
        tmp = temp_path(target)  # created exclusively (no symlink followed); a leftover is swept with the folder
        try:
            self.con.execute(
                f"COPY (SELECT {', '.join(sel)} FROM read_parquet(?)) TO {sql_str(str(tmp))} "
                f"(FORMAT parquet, COMPRESSION zstd)", [run_id, r.annotations_path])
            fd = os.open(str(tmp), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
        _fsync_dir(target.parent)

    def _ingest_documents_parquet(self, r: ShardResult, run_id: str) -> None:
        """Parquet mode. The file and the DuckDB transaction cannot be one atomic step, so:

        1. mark the shard pending in ledger_meta (committed): the next writable open sweeps its folder
           whatever happens below;
        2. write ``shard_id=<id>/part-<run_id>.parquet`` (temp file + fsync + os.replace). The shards row
           still names the previous run, so the view keeps showing the previous file's rows, and only them;
        3. one transaction: quarantine rows and the shards row (now naming ``run_id``): from the commit on,
           the view shows the new file's rows and nothing of the old one;
        4. delete the shard's other files and clear the pending mark.

        A crash before 3 leaves the ledger as it was (the new file is ignored, then swept); after 3, the new
        state (the old file is ignored, then swept). Documents never show twice, nor for a shard the ledger
        does not list. The same shard ingested twice in one run would reuse the file name, so it is first
        unlisted (its own transaction) and its file removed: a crash then leaves the shard unlisted, and a
        resumed scan redoes it.
        """
        if not _SAFE_NAME.fullmatch(r.shard_id or "") or not _SAFE_NAME.fullmatch(run_id or ""):
            raise ProvenanceError(f"shard {r.shard_id!r} / run {run_id!r}: parquet mode needs ids made of letters, "
                                  f"digits, '.', '_' and '-' (they name the dataset's folders and files)")
        con = self.con
        folder = self.documents_dataset / f"shard_id={r.shard_id}"
        target = folder / f"part-{run_id}.parquet"
        con.execute("INSERT OR REPLACE INTO ledger_meta VALUES (?, ?)", [META_PENDING + r.shard_id, run_id])
        if target.exists():
            with self.transaction():
                con.execute("DELETE FROM quarantine WHERE shard_id = ?", [r.shard_id])
                con.execute("DELETE FROM shards WHERE shard_id = ?", [r.shard_id])
            target.unlink()
        if r.annotations_path and r.documents:
            self._write_shard_file(r, run_id, target)
        try:
            with self.transaction():
                self._replace_shard_rows(r, run_id)
        except BaseException:
            # not committed: the shards row still names the previous run, so the new file is not visible
            if target.exists():
                target.unlink()
            raise
        self._sweep_shard(r.shard_id)

    # -- queries ------------------------------------------------------------------------------------
    def user_query(self, sql: str) -> pa.Table:
        """Run SQL someone typed, unable to write or read anything but the ledger: only SELECT (and EXPLAIN)
        statements, and DuckDB's external access switched off for this connection (COPY TO, ATTACH, INSTALL,
        read_csv('/etc/...') all fail); a parquet-mode ledger's own dataset folder stays readable."""
        allowed = {"SELECT", "EXPLAIN"}
        try:
            kinds = [str(st.type).rsplit(".", 1)[-1] for st in duckdb.extract_statements(sql)]
        except duckdb.Error:
            kinds = ["SELECT"]  # a syntax error: let the query itself report it
        bad = [k for k in kinds if k not in allowed]
        if bad:
            raise ProvenanceError(f"query refused: only SELECT statements run here ({', '.join(sorted(set(bad)))} "
                                  f"would change files, the ledger or its settings)")
        if not getattr(self, "_locked", False):
            if self.documents_store == "parquet":
                self.con.execute(f"SET allowed_directories = [{sql_str(str(self.documents_dataset) + os.sep)}]")
            self.con.execute("SET enable_external_access = false")
            self._locked = True
        return self.query(sql)

    def query(self, sql: str, params: list | None = None) -> pa.Table:
        rel = self.con.sql(sql, params=params) if params else self.con.sql(sql)
        return rel.to_arrow_table() if rel is not None else pa.table({})

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


INFO_TABLES = ("documents", "shards", "quarantine", "runs", "robots_snapshots", "document_verdicts", "pii_findings",
               "takedown_requests")


def ledger_info(led: "Ledger", storage: dict | None = None) -> dict:
    """What `provenance ledger info` shows: versions, settings, sizes and runs (``storage``: storage_info of
    the file, read before it was opened)."""
    from .. import settings as settings_mod

    st = settings_mod.current(led)
    rows = {}
    for t in INFO_TABLES:
        if led._has_relation(t):
            rows[t] = led.con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]
    runs = led.con.execute("SELECT count(*), min(started_at), max(started_at) FROM runs").fetchall()[0]
    last = led.con.execute("SELECT status FROM runs ORDER BY started_at DESC LIMIT 1").fetchall()
    path = Path(led.path)
    return {
        "path": led.path,
        "file_bytes": path.stat().st_size if path.exists() else 0,
        "schema_version": led.schema_version(),
        "schema_latest": max(v for v, _, _ in _migrations()),
        "storage": storage or {},
        "duckdb": duckdb.__version__,
        "documents_store": led.documents_store,
        "settings": {"rules": st.rules, "rules_hash": st.rules_hash, "policy": st.policy, "agents": st.agents,
                     "code_indexes": st.code_indexes},
        "pii": pii_scheme(led),
        "rows": rows,
        "runs": {"count": runs[0], "first": runs[1], "last": runs[2], "last_status": last[0][0] if last else None},
    }


def pii_scheme(led: "Ledger") -> dict:
    """How this ledger's PII values are hashed: ``hmac-sha256`` with a key kept outside the ledger (its
    fingerprint is recorded), or ``legacy`` (blake2b keyed by a salt stored in the ledger: reversible by
    guessing for whoever holds the ledger), or ``none yet``."""
    scheme = led.meta("pii_hash_scheme")
    if scheme is None:
        scheme = "legacy" if led.meta("pii_salt") is not None else "none yet"
    return {"scheme": scheme, "key_fingerprint": led.meta("pii_key_fingerprint")}
