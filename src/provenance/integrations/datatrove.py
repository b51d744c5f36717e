"""datatrove pipeline steps: provenance facts on each ``Document``, and a filter on the verdict.

``ProvenanceAnnotator`` buffers ``batch_size`` documents, turns them into one RecordBatch of the core schema
(:mod:`provenance.schema`), runs the project's scanners on it columnar (:func:`provenance.scanners.apply`)
and writes the results back into ``doc.metadata["provenance"]``. Consent and the verdict come from the
project's own ledger code, unchanged: each task keeps a private in-memory DuckDB ledger
(``Ledger(":memory:")``) holding the robots.txt snapshots, the rules and -- one batch at a time -- the
batch's documents, and runs :func:`provenance.robots.consent.evaluate` and :func:`provenance.verdict.evaluate`
on it. There is no second robots matcher and no second copy of the policy logic: a document gets the
verdict a ledger scan of it would give.

Snapshots come from an existing ledger (``ledger=``, opened read-only: its ``robots_snapshots``,
``robots_signals`` and takedown requests are copied in) and/or from any source ``provenance robots import``
reads (``robots=``: a folder, JSON Lines of bodies, Common Crawl robots.txt WARCs).

Reasons that need the whole corpus (``near-duplicate``, ``pii-lookalike``: after ``provenance dedup``)
cannot be known one batch at a time and never appear here; takedown requests do (by URL and by MinHash).

``ProvenanceFilter`` drops documents whose verdict is ``exclude`` (and ``review`` with ``drop_review``),
counts why in datatrove's stats and hands them to an ``exclusion_writer`` like any datatrove filter.

Example::

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from provenance.integrations.datatrove import ProvenanceAnnotator, ProvenanceFilter

    LocalPipelineExecutor([
        JsonlReader("data/"),
        ProvenanceAnnotator(robots=["robots.jsonl.gz"]),
        ProvenanceFilter(exclusion_writer=JsonlWriter("out/excluded")),
        JsonlWriter("out/kept"),
    ], tasks=4, workers=4, logging_dir="logs/").run()
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

try:
    from datatrove.data import Document, DocumentsPipeline
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.filters.base_filter import BaseFilter
    from datatrove.utils.batching import batched
    from datatrove.utils.logging import logger
    from datatrove.utils.typeshelper import StatHints
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("provenance.integrations.datatrove needs datatrove: pip install 'datatrove>=0.10'") from exc

from ..errors import ProvenanceError
from ..readers.base import crawl_from, parse_dates
from ..readers.mapping import DEFAULT_MAP
from ..schema import CORE, SOURCE_OPTIONAL

METADATA_KEY = "provenance"

#: Where each core field is looked up in ``doc.metadata`` (first present, non-empty value wins); ``a.b`` is
#: key ``b`` of the dict under ``a``. The candidates are the readers' own (provenance.readers.mapping): C4's
#: ``url``/``timestamp``, FineWeb's ``url``/``date``/``dump``, Dolma's ``metadata.url``, datatrove's
#: WarcReader ``url``/``date``. For ``url``, the candidate ``id`` is the document's id when it is a URL.
DEFAULT_KEYS: dict[str, list[str]] = {
    "url": DEFAULT_MAP["url"],
    "crawl_date": DEFAULT_MAP["crawl_date"],
    "language": DEFAULT_MAP["language"],
    "crawl": DEFAULT_MAP["crawl"],
    "http_headers": DEFAULT_MAP["http_headers"],
    "html": [],  # raw HTML for page signals (noai meta, TDMRep): map it when the metadata keeps it
}

_SCHEMA = pa.schema(list(CORE) + list(SOURCE_OPTIONAL))
_URL_LIKE = ("http://", "https://")
#: copied from a source ledger: what consent, signals and takedowns need
_LEDGER_TABLES = ("robots_snapshots", "robots_signals", "takedown_requests", "takedown_items")


def _as_list(v) -> list[str]:
    if v is None:
        return []
    return [v] if isinstance(v, (str, os.PathLike)) else list(v)


def _lookup(metadata: dict, path: str):
    if path in metadata:
        return metadata[path]
    if "." not in path:
        return None
    v = metadata
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def _date_text(v) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).isoformat()
    return str(v)


def _text(v) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


class ProvenanceAnnotator(PipelineStep):
    """Annotate each datatrove ``Document`` with provenance facts in ``doc.metadata[metadata_key]``::

        {"host": "www.example.co.uk", "registered_domain": "example.co.uk", "suffix": "co.uk",
         "crawl_date": "2019-04-20T10:02:11+00:00", "bytes": 3512, "words": 610, "license": None,
         "consent": {"GPTBot": {"crawl_time": "allowed", "now": "disallowed"}, ...},
         "pii": {"EMAIL": 2},                       # findings per type; never values or hashes
         "verdict": "include", "reasons": [], "policy": "commercial"}

    Args:
        ledger: a provenance ledger (DuckDB file) whose robots.txt snapshots, robots signals and takedown
            requests to use; opened read-only, once per task (a scan must not be writing it then).
        robots: robots.txt snapshot sources, as ``provenance robots import`` takes them (folder, ``.jsonl[.gz]``,
            Common Crawl robots.txt ``.warc[.gz]``); imported once per task. With neither, consent is
            ``unknown`` everywhere.
        captured_at: capture date for snapshot records without one of their own (default: file time).
        agents: robots.txt product tokens reported under ``consent`` (default: agents.yaml's evaluated
            ones). The policy's agents are always evaluated, for the verdict.
        rules: rules folders layered over the shipped ``rules/`` (as ``--rules``).
        policy: policy name (default: the source ledger's last evaluated policy, else the rules' default).
        batch_size: documents scanned and evaluated together (columnar work per batch).
        metadata_key: the metadata key the annotations go under.
        keys: overrides of :data:`DEFAULT_KEYS`, e.g. ``{"url": "source_url", "crawl_date": ["fetch_time"]}``.
        code_indexes: reference code indexes (``provenance index build``) for ``code:<SPDX>`` reasons.
        duckdb_threads: threads of each task's in-memory DuckDB (a task is usually one core).
    """

    name = "🔎 Provenance"
    type = "🏷 - ANNOTATOR"
    _requires_dependencies = ["duckdb", "pyarrow"]

    def __init__(
        self,
        ledger: str | os.PathLike | None = None,
        robots: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
        captured_at: datetime | str | None = None,
        agents: Iterable[str] | None = None,
        rules: Iterable[str | os.PathLike] | None = None,
        policy: str | None = None,
        batch_size: int = 1000,
        metadata_key: str = METADATA_KEY,
        keys: dict[str, str | list[str]] | None = None,
        code_indexes: Iterable[str | os.PathLike] | None = None,
        duckdb_threads: int = 1,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.ledger = str(Path(ledger).resolve()) if ledger is not None else None
        self.robots = [str(Path(p).resolve()) for p in _as_list(robots)]
        if self.ledger is not None and not Path(self.ledger).exists():
            raise ProvenanceError(f"no ledger at {self.ledger}")
        for p in self.robots:
            if not Path(p).exists():
                raise ProvenanceError(f"{p}: no such robots.txt snapshot source")
        if isinstance(captured_at, str):
            from ..readers.base import _parse_one

            parsed = _parse_one(captured_at)
            if parsed is None:
                raise ValueError(f"captured_at {captured_at!r}: not a date")
            captured_at = parsed
        if captured_at is not None and captured_at.tzinfo is None:
            captured_at = captured_at.replace(tzinfo=timezone.utc)
        self.captured_at = captured_at
        self.agents = list(agents) if agents is not None else None
        self.rules = [str(p) for p in _as_list(rules)] or None
        self.policy = policy
        self.batch_size = int(batch_size)
        self.metadata_key = metadata_key
        merged = {k: list(v) for k, v in DEFAULT_KEYS.items()}
        for k, v in (keys or {}).items():
            if k not in merged:
                raise ValueError(f"keys: unknown field {k!r}; one of {', '.join(merged)}")
            merged[k] = _as_list(v)
        self.keys = merged
        self.code_indexes = [str(Path(p).resolve()) for p in _as_list(code_indexes)] or None
        self.duckdb_threads = int(duckdb_threads)
        # check the rules and the policy now, in the launching process, not in every task
        from ..ruleset import load_policies

        _, policies = load_policies(self.rules)
        if policy is not None and policy not in policies:
            raise ProvenanceError(f"no policy {policy!r} in the rules; one of {', '.join(sorted(policies))}")
        self._session: _Session | None = None

    def reported_agents(self) -> list[str]:
        """The robots.txt product tokens under ``consent``, in order."""
        from ..ruleset import evaluated_agents

        if self.agents is not None and not self.agents:
            return []
        return [a.token for a in evaluated_agents(self.rules, self.agents)]

    def arrow_type(self) -> pa.StructType:
        """The Arrow type of ``doc.metadata[metadata_key]``, for writers that need a schema (see
        :func:`parquet_schema`): every key is always present; ``pii`` is a map of type -> count."""
        outcome = pa.struct([("crawl_time", pa.string()), ("now", pa.string())])
        return pa.struct([
            ("host", pa.string()), ("registered_domain", pa.string()), ("suffix", pa.string()),
            ("crawl_date", pa.string()), ("bytes", pa.int64()), ("words", pa.int64()), ("license", pa.string()),
            ("consent", pa.struct([(a, outcome) for a in self.reported_agents()])),
            ("pii", pa.map_(pa.string(), pa.int32())),
            ("verdict", pa.string()), ("reasons", pa.list_(pa.string())), ("policy", pa.string()),
        ])

    def __getstate__(self):  # ship the configuration to workers, never a live DuckDB connection
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data is None:
            return
        session = None
        try:
            for docs in batched(data, self.batch_size):
                with self.track_time(unit="batch"):
                    if session is None:  # per task, in the worker: snapshots, rules, scanners
                        session = self._session = _Session(self, rank)
                    session.annotate(docs)
                self.stat_update("batches", unit="batch")
                for doc in docs:
                    self._count(doc.metadata[self.metadata_key])
                yield from docs
        finally:
            if session is not None:
                session.close()
            self._session = None

    def _count(self, ann: dict) -> None:
        self.stat_update(StatHints.total, f"verdict_{ann['verdict']}")
        for code in ann["reasons"]:
            self.stat_update(f"reason_{code}")
        for agent, c in ann["consent"].items():
            if c["crawl_time"] == "disallowed":
                self.stat_update(f"{agent}_disallowed_crawl_time")
            if c["now"] == "disallowed":
                self.stat_update(f"{agent}_disallowed_now")
        for t, n in ann["pii"].items():
            self.stat_update(f"pii_{t}", value=n)
        if ann["host"] is None:
            self.stat_update("no_host")


#: snapshots read from robots= sources, per process: a worker running several tasks reads each source once
_SNAPSHOTS: dict[tuple, list] = {}


def _snapshots(src: str, captured_at: datetime | None) -> list:
    from ..robots.snapshots import import_any

    st = os.stat(src)
    key = (src, st.st_size, st.st_mtime_ns, captured_at)
    if key not in _SNAPSHOTS:
        for old in [k for k in _SNAPSHOTS if k[0] == src]:  # a changed file replaces its old snapshots
            del _SNAPSHOTS[old]
        _SNAPSHOTS[key] = list(import_any(src, captured_at))
    return _SNAPSHOTS[key]


class _Session:
    """One task's state: its in-memory ledger with snapshots and rules, the scanners, a position counter."""

    def __init__(self, step: ProvenanceAnnotator, rank: int):
        from .. import ruleset
        from ..ledger import Ledger
        from ..pii import load_config as load_pii_config
        from ..robots.consent import store_snapshots
        from ..scanners import ScanContext, default_scanners

        self.step = step
        self.shard_id = f"datatrove-{rank:05d}"
        self.position = 0
        self.tmp: str | None = None
        self.warned: set[str] = set()
        self.led = Ledger(":memory:")
        con = self.led.con
        con.execute(f"SET threads = {max(1, step.duckdb_threads)}")
        ruleset.apply_to_ledger(self.led, step.rules)
        salt, last_policy = (self._copy_ledger(step.ledger) if step.ledger else (None, None))
        for src in step.robots:  # after the ledger's: store_snapshots skips snapshots it already has
            store_snapshots(self.led, _snapshots(src, step.captured_at))
        if not con.execute("SELECT count(*) FROM robots_snapshots").fetchone()[0]:
            logger.warning("provenance: no robots.txt snapshots (pass ledger= or robots=): robots.txt consent is "
                           "`unknown` for every document")
        self.has_takedowns = con.execute("SELECT count(*) FROM takedown_requests").fetchone()[0] > 0

        _, policies = ruleset.load_policies(step.rules)
        self.policy = step.policy or (last_policy if last_policy in policies else None)
        _, policy = ruleset.load_policy(step.rules, self.policy)
        self.report = step.reported_agents()
        seen = {a.lower() for a in self.report}
        self.agents = list(self.report)
        for rule in policy.robots:
            for a in rule.agents:
                if a.lower() not in seen:
                    seen.add(a.lower())
                    self.agents.append(a)

        # PII findings keep a keyed hash inside the ledger; nothing of it leaves this task (only counts
        # per type do), so a fresh key per task unless the source ledger has a (legacy) salt of its own
        scanners = default_scanners(load_pii_config(step.rules), salt or os.urandom(32), False, step.code_indexes,
                                    "legacy" if salt else "hmac-sha256")
        if not self.has_takedowns:  # signatures serve takedown matching only; near-duplicates need the corpus
            scanners = [s for s in scanners if s.name != "minhash"]
        else:
            self.tmp = tempfile.mkdtemp(prefix="provenance-datatrove-")
        self.scanners = scanners
        self.context = ScanContext()
        self.doc_cols = [r[0] for r in con.execute("DESCRIBE documents").fetchall()]

    # -- setup ------------------------------------------------------------------------------------------
    def _copy_ledger(self, path: str) -> tuple[bytes | None, str | None]:
        import duckdb

        con = self.led.con
        quoted = path.replace("'", "''")
        try:
            con.execute(f"ATTACH '{quoted}' AS src (READ_ONLY)")
        except duckdb.Error as exc:
            msg = str(exc)
            if "lock" in msg.lower():
                raise ProvenanceError(f"ledger {path} is being written by another process (a scan?); "
                                      f"wait for it to finish: tasks read it read-only") from exc
            raise ProvenanceError(f"cannot open ledger {path} read-only: {msg}") from exc
        try:
            have = {r[0] for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall()}
            if "robots_snapshots" not in have:
                raise ProvenanceError(f"{path} is not a provenance ledger (no robots_snapshots table)")
            for t in _LEDGER_TABLES:
                if t not in have:
                    continue
                src_cols = {r[0] for r in con.execute(f"DESCRIBE src.{t}").fetchall()}
                cols = ", ".join(f'"{c}"' for c in (r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()) if c in src_cols)
                con.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM src.{t}")
            salt = policy = None
            if "ledger_meta" in have:
                row = con.execute("SELECT value FROM src.ledger_meta WHERE key = 'pii_salt'").fetchall()
                salt = bytes.fromhex(row[0][0]) if row else None
            if "verdict_runs" in have:
                row = con.execute("SELECT policy FROM src.verdict_runs ORDER BY evaluated_at DESC LIMIT 1").fetchall()
                policy = row[0][0] if row else None
            return salt, policy
        finally:
            con.execute("DETACH src")

    def close(self) -> None:
        self.led.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- one batch --------------------------------------------------------------------------------------
    def _batch(self, docs: list[Document]) -> pa.RecordBatch:
        keys = self.step.keys
        n = len(docs)
        start = self.position
        self.position += n
        cols: dict[str, list] = {f: [None] * n for f in ("url", "crawl_date", "language", "crawl", "http_headers", "html")}
        ids, texts = [], []
        for i, doc in enumerate(docs):
            md = doc.metadata
            for fld, paths in keys.items():
                for p in paths:
                    if fld == "url" and p == "id":
                        v = md.get("id", doc.id)
                        v = v if isinstance(v, str) and v.startswith(_URL_LIKE) else None
                    else:
                        v = _lookup(md, p)
                    if v is not None and v != "":
                        cols[fld][i] = v
                        break
            ids.append(str(doc.id) if doc.id is not None else f"{self.shard_id}:{start + i}")
            texts.append(doc.text or "")
        url = pc.utf8_trim_whitespace(pa.array([_text(u) or "" for u in cols["url"]], pa.string()))
        crawl = pa.array([_text(v) for v in cols["crawl"]], pa.string())
        arrays = {
            "position": pa.array(range(start, start + n), pa.int64()),
            "doc_id": pa.array(ids, pa.string()),
            "url": url,
            "text": pa.array(texts, pa.string()),
            "crawl_date": parse_dates(pa.array([_date_text(v) for v in cols["crawl_date"]], pa.string())),
            "language": pa.array([_text(v) for v in cols["language"]], pa.string()),
            "crawl": crawl_from(crawl),
            "http_headers": pa.array([_text(v) for v in cols["http_headers"]], pa.string()),
            "html": pa.array([_text(v) for v in cols["html"]], pa.string()),
        }
        return pa.RecordBatch.from_arrays([arrays[f.name] for f in _SCHEMA], schema=_SCHEMA)

    def annotate(self, docs: list[Document]) -> None:
        from ..robots.consent import evaluate as evaluate_consent
        from ..scanners import apply
        from ..verdict import evaluate as evaluate_verdicts

        led, con = self.led, self.led.con
        batch = apply(self.scanners, self._batch(docs), self.context)
        start = batch.column("position")[0].as_py()
        cols = [c for c in self.doc_cols if c not in ("shard_id", "run_id") and c in batch.schema.names]
        sel = ", ".join(f'"{c}"' for c in cols)
        con.register("_dt_batch", batch)
        try:
            with led.transaction():
                for t in ("documents", "consent_documents", "consent_decisions", "consent_agent_groups", "consent_agents",
                          "consent_changes", "takedown_matches", "shards", "verdict_runs"):
                    con.execute(f"DELETE FROM {t}")
                con.execute(f"INSERT INTO documents BY NAME SELECT ? AS shard_id, 'datatrove' AS run_id, {sel} FROM _dt_batch",
                            [self.shard_id])
        finally:
            con.unregister("_dt_batch")
        evaluate_consent(led, self.agents, rules=self.step.rules)
        if self.has_takedowns:
            self._match_takedowns(batch)
        ev = evaluate_verdicts(led, self.step.rules, self.policy, apply_rules=False)
        for w in ev.warnings:
            if w not in self.warned:
                self.warned.add(w)
                logger.warning(f"provenance: {w}")

        n = batch.num_rows
        verdict: list[str | None] = [None] * n
        reasons: list[list[str]] = [[] for _ in range(n)]
        for pos, v, r in con.execute("SELECT position, verdict, reasons FROM document_verdicts").fetchall():
            verdict[pos - start] = v
            reasons[pos - start] = list(r)
        consent: list[dict] = [{} for _ in range(n)]
        by_lower = {a.lower(): a for a in self.report}
        rows = con.execute("SELECT position, agent, crawl_outcome, now_outcome FROM document_consent "
                           "WHERE lower(agent) IN (SELECT unnest(?::VARCHAR[]))", [list(by_lower)]).fetchall()
        for pos, agent, crawl_o, now_o in rows:
            consent[pos - start][by_lower[agent.lower()]] = {"crawl_time": crawl_o, "now": now_o}
        pii = self._pii_counts(batch)

        host = batch.column("host").to_pylist()
        domain = batch.column("registered_domain").to_pylist()
        suffix = batch.column("suffix").to_pylist()
        dates = batch.column("crawl_date").to_pylist()
        nbytes = batch.column("bytes").to_pylist()
        words = batch.column("words").to_pylist()
        lic = batch.column("license").to_pylist()
        key = self.step.metadata_key
        policy = ev.policy
        for i, doc in enumerate(docs):
            doc.metadata[key] = {
                "host": host[i], "registered_domain": domain[i], "suffix": suffix[i],
                "crawl_date": dates[i].isoformat() if dates[i] is not None else None,
                "bytes": nbytes[i], "words": words[i], "license": lic[i],
                "consent": {a: consent[i].get(a, {"crawl_time": "unknown", "now": "unknown"}) for a in self.report},
                "pii": pii[i],
                "verdict": verdict[i], "reasons": reasons[i], "policy": policy,
            }

    @staticmethod
    def _pii_counts(batch: pa.RecordBatch) -> list[dict[str, int]]:
        out: list[dict[str, int]] = [{} for _ in range(batch.num_rows)]
        findings = batch.column("pii")
        if not len(pc.list_flatten(findings)):
            return out
        t = pa.table({"i": pc.list_parent_indices(findings), "t": pc.struct_field(pc.list_flatten(findings), "type")})
        g = t.group_by(["i", "t"]).aggregate([([], "count_all")]).to_pydict()
        for i, typ, c in zip(g["i"], g["t"], g["count_all"]):
            out[i][typ] = c
        return out

    def _match_takedowns(self, batch: pa.RecordBatch) -> None:
        """Takedown requests by URL and by text similarity, through the ledger's own matcher: it reads
        signatures from the shard's sink, so the batch's signatures go to a small Parquet file first."""
        import pyarrow.parquet as pq

        from ..dedup import match_takedowns

        path = os.path.join(self.tmp, "batch.parquet")
        pq.write_table(pa.table({"position": batch.column("position"), "minhash": batch.column("minhash")}), path)
        n = batch.num_rows
        self.led.con.execute(
            "INSERT INTO shards (shard_id, uri, format, fingerprint, config_hash, status, rows_read, documents, "
            "quarantined, run_id, scanned_at, annotations_path) VALUES (?, 'datatrove', 'datatrove', '', '', 'done', "
            "?, ?, 0, 'datatrove', ?, ?)", [self.shard_id, n, n, datetime.now(timezone.utc), path])
        match_takedowns(self.led, shard_ids=[self.shard_id],
                        num_perm=batch.schema.field("minhash").type.list_size)


def parquet_schema(annotator: ProvenanceAnnotator, metadata: Iterable[pa.Field] | pa.Schema = (),
                   expand_metadata: bool = False) -> pa.Schema:
    """An explicit schema for datatrove's ``ParquetWriter(schema=...)``: ``text``, ``id``, the reader's metadata
    fields you keep (e.g. ``[pa.field("url", pa.string()), pa.field("timestamp", pa.string())]``; others are
    not written) and the annotations. Without one, ParquetWriter infers the schema from the first document,
    whose empty ``pii`` / ``reasons`` / null ``license`` cannot describe the rest."""
    fields = list(metadata) + [pa.field(annotator.metadata_key, annotator.arrow_type())]
    base = [pa.field("text", pa.string()), pa.field("id", pa.string())]
    return pa.schema(base + fields if expand_metadata else base + [pa.field("metadata", pa.struct(fields))])


class ProvenanceFilter(BaseFilter):
    """Drop documents whose provenance verdict is ``exclude`` (and ``review`` with ``drop_review``).

    Needs :class:`ProvenanceAnnotator` earlier in the pipeline. datatrove's stats count ``dropped``,
    ``dropped_exclude`` / ``dropped_review`` and, per reason code of the dropped documents,
    ``dropped_reason_<code>``; with an ``exclusion_writer`` the dropped documents are written with
    ``metadata["filter_reason"]`` = the verdict and their reasons under ``metadata[metadata_key]``.

    Args:
        drop_review: also drop documents held for review.
        metadata_key: where the annotator put its results.
        exclusion_writer: a datatrove writer for the dropped documents.
        missing: what to do with a document the annotator has not seen: ``"error"`` (default: a pipeline
            without the annotator is a mistake), ``"keep"`` or ``"drop"``.
    """

    name = "🔎 Provenance verdict"

    def __init__(self, drop_review: bool = False, metadata_key: str = METADATA_KEY, exclusion_writer=None,
                 missing: str = "error"):
        super().__init__(exclusion_writer)
        if missing not in ("error", "keep", "drop"):
            raise ValueError(f"missing={missing!r}: one of 'error', 'keep', 'drop'")
        self.drop_review = drop_review
        self.metadata_key = metadata_key
        self.missing = missing
        self.drop = {"exclude", "review"} if drop_review else {"exclude"}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        ann = doc.metadata.get(self.metadata_key)
        if ann is None:
            if self.missing == "keep":
                return True
            if self.missing == "drop":
                return False, "not_annotated"
            raise ProvenanceError(f"document {doc.id!r} has no metadata[{self.metadata_key!r}]: put "
                                  f"ProvenanceAnnotator before ProvenanceFilter in the pipeline")
        verdict = ann.get("verdict")
        if verdict in self.drop:
            for code in ann.get("reasons") or ():
                self.stat_update(f"dropped_reason_{code}")
            return False, verdict
        return True


__all__ = ["ProvenanceAnnotator", "ProvenanceFilter", "parquet_schema", "DEFAULT_KEYS", "METADATA_KEY"]
