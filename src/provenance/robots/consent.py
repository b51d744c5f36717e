"""Per-document, per-agent consent from robots.txt snapshots, at crawl time and now.

1. DuckDB picks each document's snapshots: at crawl time the latest one captured at or before
   ``documents.crawl_date`` (an ASOF join), and now the latest one; no snapshot -> ``unknown``.
2. Each distinct (snapshot, path) is evaluated once per *group* of agents: agents that fall into the same
   merged robots.txt group (most fall to ``*``) share one columnar ``decide_many`` call.
3. The decisions are joined back to documents x agents into ``document_consent``; documents whose
   outcome for an agent flipped since the previous evaluation are summed per host into
   ``consent_changes``.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..ledger import Ledger, sql_str
from .snapshots import Snapshot

# The path a robots.txt rule is matched against (RFC 9309 §2.2.2): path + query, no fragment, "/" if empty.
# Must agree with matcher.path_of (tested).
_PATH_RE = r"'^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*([^#]*)'"


def path_sql(url: str = "url") -> str:
    """SQL for the path of the URL column ``url``."""
    p = f"regexp_extract({url}, {_PATH_RE}, 1)"
    return f"(CASE WHEN {p} = '' THEN '/' WHEN starts_with({p}, '?') THEN '/' || {p} ELSE {p} END)"


PATH_SQL = path_sql()


def fetch_targets(led: Ledger) -> list[str]:
    """Every distinct ``host`` (or ``host:port`` for a non-default port) that documents come from: robots.txt
    applies per scheme, host and port (RFC 9309 §2.3); snapshots are stored per host. An IPv6 host with a
    port keeps its brackets (``[::1]:8080``): ``::1:8080`` would be another address."""
    rows = led.con.execute(r"""
        SELECT DISTINCT host, regexp_extract(url, '^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)', 1) AS port
        FROM documents WHERE host IS NOT NULL ORDER BY 1, 2
    """).fetchall()
    return sorted({f"{_bracketed(h)}:{p}" if p and p not in ("80", "443") else h for h, p in rows})


def _bracketed(host: str) -> str:
    """A host as it goes before ``:port``: an IPv6 literal in brackets (RFC 3986 §3.2.2)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


SCALAR_BELOW = 64  # paths per snapshot under which scalar decisions are cheaper than columnar ones


def store_snapshots(led: Ledger, snaps, rsl=None) -> tuple[int, int]:
    """Insert snapshots (idempotent by snapshot_id) and the consent signals their bodies carry.
    Returns (new, already present).

    RSL: the licenses that ``License:`` lines name are read from ``rsl`` (a ``provenance.rsl.LicenseSource``:
    an ``--rsl-dir`` folder and/or the live fetcher; None: none, each recorded ``not_fetched``) before the
    transaction, and stored with it (``rsl_licenses``, ``rsl_terms``, ``robots_signals`` source ``rsl``)."""
    rows = []
    for s in snaps:
        rows.append({"snapshot_id": s.snapshot_id, "host": s.host, "source": s.source, "captured_at": s.captured_at,
                     "url": s.url, "http_status": s.http_status, "outcome": s.outcome, "body_sha256": s.body_sha256,
                     "body": s.body, "n_bytes": s.n_bytes, "truncated": s.truncated, "error": s.error,
                     "imported_at": datetime.now(timezone.utc)})
    if not rows:
        return 0, 0
    tbl = pa.Table.from_pylist(rows)
    from .. import rsl as _rsl

    licenses = _rsl.collect([r for r in rows if r["outcome"] == "parsed"], rsl or _rsl.LicenseSource())
    con = led.con
    before = con.execute("SELECT count(*) FROM robots_snapshots").fetchall()[0][0]
    con.register("_new_snaps", tbl)
    try:
        with led.transaction():
            con.execute("INSERT INTO robots_snapshots BY NAME SELECT DISTINCT ON (snapshot_id) * FROM _new_snaps "
                        "WHERE snapshot_id NOT IN (SELECT snapshot_id FROM robots_snapshots)")
            sig = _robots_signals([r for r in rows if r["outcome"] == "parsed"])
            if sig.num_rows:
                con.register("_new_sig", sig)
                con.execute("DELETE FROM robots_signals WHERE source <> 'rsl' AND "
                            "snapshot_id IN (SELECT DISTINCT snapshot_id FROM _new_sig)")
                con.execute("INSERT INTO robots_signals BY NAME SELECT * FROM _new_sig")
                con.unregister("_new_sig")
            _store_rsl(con, *licenses)
    finally:
        con.unregister("_new_snaps")
    after = con.execute("SELECT count(*) FROM robots_snapshots").fetchall()[0][0]
    return after - before, len(rows) - (after - before)


_RSL_LICENSES = pa.schema([("snapshot_id", pa.string()), ("host", pa.string()), ("license_url", pa.string()),
                           ("line", pa.int32()), ("origin", pa.string()), ("fetched_at", pa.timestamp("us", tz="UTC")),
                           ("http_status", pa.int32()), ("status", pa.string()), ("reason", pa.string()),
                           ("sha256", pa.string()), ("n_bytes", pa.int64()), ("contents", pa.int32()),
                           ("imported_at", pa.timestamp("us", tz="UTC"))])
_RSL_TERMS = pa.schema([("snapshot_id", pa.string()), ("host", pa.string()), ("license_url", pa.string()),
                        ("content_no", pa.int32()), ("content_url", pa.string()), ("scope", pa.string()),
                        ("applies", pa.bool_()), ("server", pa.string()), ("license_no", pa.int32()),
                        ("kind", pa.string()), ("type", pa.string()), ("value", pa.string()),
                        ("payment_type", pa.string()), ("amount", pa.string()), ("currency", pa.string()),
                        ("standard_url", pa.string()), ("custom_url", pa.string())])


def _store_rsl(con, licenses: list[dict], terms: list[dict], signals: list[dict]) -> None:
    """Replace the RSL rows of the snapshots in ``licenses`` (inside the caller's transaction). A snapshot
    none of whose licenses this import could fetch (all ``not_fetched``: e.g. re-imported without
    ``--rsl-dir``) keeps what an earlier import stored for it."""
    if not licenses:
        return
    fetched = {r["snapshot_id"] for r in licenses if r["status"] != "not_fetched"}
    snaps = sorted({r["snapshot_id"] for r in licenses})
    had = {r[0] for r in con.execute(
        "SELECT DISTINCT snapshot_id FROM rsl_licenses WHERE status <> 'not_fetched' "
        "AND snapshot_id IN (SELECT unnest(?::VARCHAR[]))", [snaps]).fetchall()}
    snaps = [x for x in snaps if x in fetched or x not in had]
    if not snaps:
        return
    keep = set(snaps)
    for table, extra in (("rsl_licenses", ""), ("rsl_terms", ""), ("robots_signals", "source = 'rsl' AND ")):
        con.execute(f"DELETE FROM {table} WHERE {extra}snapshot_id IN (SELECT unnest(?::VARCHAR[]))", [snaps])
    for name, rows, schema in (("rsl_licenses", licenses, _RSL_LICENSES), ("rsl_terms", terms, _RSL_TERMS),
                               ("robots_signals", signals, _SIGNAL_ROWS)):
        rows = [r for r in rows if r["snapshot_id"] in keep]
        if rows:
            con.register("_rsl_rows", pa.Table.from_pylist(rows, schema=schema))
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _rsl_rows")
            con.unregister("_rsl_rows")


def store_tdmrep(led: Ledger, results) -> int:
    """TDMRep ``/.well-known/tdmrep.json`` fetch results -> ``robots_signals`` (source ``tdmrep-json``, scope =
    the rule's location), replacing the host's previous TDMRep signals. A missing file (4xx) reserves
    nothing; returns the number of signals stored."""
    from ..signals import from_tdmrep_json

    rows = []
    hosts = []
    for r in results:
        if r.outcome not in ("parsed", "allow_all"):
            continue  # unreachable: keep what we knew
        hosts.append(r.host)
        if r.outcome != "parsed" or not r.body:
            continue
        sid = "tdmrep-" + hashlib.sha256(f"{r.host}\0{r.fetched_at.isoformat()}".encode() + r.body).hexdigest()[:16]
        for sig in from_tdmrep_json(r.body, path=None):
            rows.append({"snapshot_id": sid, "host": r.host, "source": sig.source, "use": sig.use, "allowed": sig.allowed,
                         "agent": sig.agent, "scope": sig.scope, "evidence": sig.evidence})
    with led.transaction() as con:
        if hosts:
            con.execute("DELETE FROM robots_signals WHERE source = 'tdmrep-json' AND host IN (SELECT unnest(?::VARCHAR[]))", [hosts])
        if rows:
            con.register("_tdm", pa.Table.from_pylist(rows, schema=_SIGNAL_ROWS))
            con.execute("INSERT INTO robots_signals BY NAME SELECT * FROM _tdm")
            con.unregister("_tdm")
    return len(rows)


_SIGNAL_ROWS = pa.schema([("snapshot_id", pa.string()), ("host", pa.string()), ("source", pa.string()), ("use", pa.string()),
                          ("allowed", pa.bool_()), ("agent", pa.string()), ("scope", pa.string()), ("evidence", pa.string())])


def _robots_signals(rows: list[dict]) -> pa.Table:
    """Content-Signal / Content-Usage lines of the snapshots, in the signals vocabulary."""
    from ..signals import from_robots_extensions

    out = []
    for r in rows:
        rt = _parse(r["body"] or "")
        for s in from_robots_extensions(rt.extensions):
            out.append({"snapshot_id": r["snapshot_id"], "host": r["host"], "source": s.source, "use": s.use,
                        "allowed": s.allowed, "agent": s.agent, "scope": s.scope, "evidence": s.evidence})
    return pa.Table.from_pylist(out, schema=_SIGNAL_ROWS)


@lru_cache(maxsize=4096)
def _parse(body: str):
    from .matcher import RobotsTxt

    return RobotsTxt.parse(body)


_DECISION_SCHEMA = pa.schema([("snapshot_id", pa.string()), ("gk", pa.int32()), ("path_key", pa.uint64()),
                              ("outcome", pa.string()), ("rule_line", pa.int32()), ("rule", pa.string())])
_GROUP_SCHEMA = pa.schema([("snapshot_id", pa.string()), ("agent", pa.string()), ("gk", pa.int32())])


class _Decisions:
    """Decisions per (snapshot, agent group, path key), and which group each agent falls into per snapshot,
    handed to ``write_decisions`` / ``write_groups`` (Arrow tables) every ``flush_rows`` rows (memory follows
    the batch, not the corpus)."""

    def __init__(self, write_decisions, write_groups, flush_rows: int = 200_000):
        self.write_decisions, self.write_groups, self.flush_rows = write_decisions, write_groups, flush_rows
        self.rows = 0
        self._clear()

    def _clear(self):
        self.snap, self.key, self.gk, self.outcome, self.line, self.rule = [], [], [], [], [], []
        self.g_snap, self.g_agent, self.g_gk = [], [], []

    def add(self, snap, keys, gk, outcomes, lines, rules):
        n = len(keys)
        self.snap += [snap] * n
        self.key += keys
        self.gk += [gk] * n
        self.outcome += outcomes
        self.line += lines
        self.rule += rules
        self.rows += n
        if len(self.key) >= self.flush_rows:
            self.flush()

    def flush(self):
        if self.key:
            self.write_decisions(pa.table(
                [pa.array(self.snap, pa.string()), pa.array(self.gk, pa.int32()), pa.array(self.key, pa.uint64()),
                 pa.array(self.outcome, pa.string()), pa.array(self.line, pa.int32()), pa.array(self.rule, pa.string())],
                schema=_DECISION_SCHEMA))
        if self.g_snap:
            self.write_groups(pa.table(
                [pa.array(self.g_snap, pa.string()), pa.array(self.g_agent, pa.string()), pa.array(self.g_gk, pa.int32())],
                schema=_GROUP_SCHEMA))
        self._clear()


BLOCKED_NOTE = ("(not fetched: refused by our own SSRF guard or as an invalid target; not the publisher's "
                "robots.txt, so unknown)")


def _status_note(outcome: str, status) -> str:
    """The ``crawl_rule``/``now_rule`` text of a snapshot that has no rules to match."""
    if outcome == "allow_all":
        return f"(HTTP {status}: robots.txt unavailable, allow all)"
    if outcome == "disallow_all":
        if status == 429:
            return "(HTTP 429: rate limited, robots.txt treated as unreachable, disallow all)"
        if status is not None and 200 <= status < 300:
            return f"(HTTP {status} with a body that cannot be decoded: robots.txt unreachable, disallow all)"
        return f"(HTTP {status or 'error'}: robots.txt unreachable, disallow all)"
    if outcome == "blocked":
        return BLOCKED_NOTE
    return f"(HTTP {status}: not evaluated)"


def _decide_snapshot(acc: _Decisions, snap: str, outcome: str, status, body: str | None, paths: pa.Array,
                     keys: list[int], agents: list[str], grouped: bool) -> None:
    """Decisions of one snapshot for ``paths`` (their keys beside them), per agent group; ``grouped``: the
    agents' groups of this snapshot were recorded already (its paths come in more than one batch)."""
    n = len(paths)
    if outcome != "parsed":
        # "blocked" is our refusal to fetch, not the publisher's answer: unknown, like having no snapshot
        label = {"allow_all": "allowed", "disallow_all": "disallowed"}.get(outcome, "unknown")
        why = _status_note(outcome, status)
        acc.add(snap, keys, -2, [label] * n, [None] * n, [why] * n)
        if not grouped:
            for a in agents:
                acc.g_snap.append(snap)
                acc.g_agent.append(a)
                acc.g_gk.append(-2)
        return
    rt = _parse(body or "")
    groups: dict = defaultdict(list)
    for a in agents:
        groups[rt.group_key(a)].append(a)
    plist = None
    for key, members in groups.items():
        gk = -1 if key is None else int(key)
        if not grouped:
            for a in members:
                acc.g_snap.append(snap)
                acc.g_agent.append(a)
                acc.g_gk.append(gk)
        if n < SCALAR_BELOW:
            # a few paths: scalar decisions beat the fixed cost of a columnar call (pyarrow compiles the RE2
            # programs per call, ~0.3-0.7 ms), measured in bench/bench_consent.py
            plist = paths.to_pylist() if plist is None else plist
            ds = [rt.decide(members[0], p) for p in plist]
            acc.add(snap, keys, gk, ["allowed" if d.allowed else "disallowed" for d in ds],
                    [d.rule.line if d.rule else None for d in ds], [d.rule.text if d.rule else None for d in ds])
        else:
            allowed, idx = rt.decide_many(members[0], paths)
            rules = rt.rules_of(members[0])
            lines = [r.line for r in rules] + [None]
            texts = [r.text for r in rules] + [None]
            ix = [i if i >= 0 else len(rules) for i in idx.to_pylist()]
            acc.add(snap, keys, gk, ["allowed" if a else "disallowed" for a in allowed.to_pylist()],
                    [lines[i] for i in ix], [texts[i] for i in ix])


class _SnapshotCursor:
    """``(outcome, http_status, body)`` of snapshots asked for in ascending ``snapshot_id`` order, read from a
    Parquet file sorted the same way (DuckDB sorted both), a few rows at a time: one pass over the file."""

    def __init__(self, path, batch_rows: int = 256):
        import pyarrow.parquet as pq

        self._batches = pq.ParquetFile(path, pre_buffer=False).iter_batches(
            batch_size=batch_rows, columns=["snapshot_id", "outcome", "http_status", "body"])
        self._rows: list[dict] = []
        self._i = 0

    def get(self, snapshot_id: str):
        while True:
            while self._i < len(self._rows):
                r = self._rows[self._i]
                if r["snapshot_id"] == snapshot_id:
                    return r["outcome"], r["http_status"], r["body"]
                self._i += 1
            batch = next(self._batches, None)
            if batch is None:
                raise RuntimeError(f"snapshot {snapshot_id} is not in the snapshots file (or not in its order)")
            self._rows, self._i = batch.to_pylist(), 0


def decide_partition(task: dict) -> dict:
    """Consent decisions of one partition of the (snapshot, path) pairs (every pair of a snapshot is in the same
    partition): ``task`` names its pairs file (sorted by snapshot), its snapshots file (snapshot_id, outcome,
    http_status, body; sorted by snapshot_id), the output folder, the partition number, the agents and the
    batch size. Writes ``decisions_P.parquet`` and ``groups_P.parquet`` there and returns counts and this
    process's id. Runs in the calling process or on a Dask worker alike (it never opens the ledger)."""
    import os

    import numpy as np
    import pyarrow.parquet as pq

    from ..safeio import arrow_sink, open_new

    part, agents, batch_rows = task["part"], task["agents"], task["batch_rows"]
    out = Path(task["out_dir"])
    n_pairs = 0
    with arrow_sink(open_new(out / f"decisions_{part:05d}.parquet")) as dfh, \
            pq.ParquetWriter(dfh, _DECISION_SCHEMA, compression="zstd") as dw, \
            arrow_sink(open_new(out / f"groups_{part:05d}.parquet")) as gfh, \
            pq.ParquetWriter(gfh, _GROUP_SCHEMA, compression="zstd") as gw:
        # each flush is a row group, whose encoding buffers are live while it is written: 50k rows, not 200k
        # (measured at 200k documents: consent's peak 367 -> 323 MB; 331 MB when it inserted into DuckDB)
        acc = _Decisions(dw.write_table, gw.write_table, flush_rows=50_000)
        snapshots = _SnapshotCursor(task["snapshots_file"])
        pf = pq.ParquetFile(task["pairs_file"], pre_buffer=False)  # a row group at a time, not the whole file ahead
        seen: set[str] = set()  # snapshots whose agent groups are recorded (a snapshot may span batches)
        for batch in pf.iter_batches(batch_size=batch_rows):
            n_pairs += batch.num_rows
            snaps = batch.column("snap")
            idx = snaps.dictionary_encode().indices.to_numpy(zero_copy_only=False)
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            ends = np.r_[starts[1:], len(idx)]
            names = snaps.take(pa.array(starts)).to_pylist()
            path_col = batch.column("path")
            key_col = batch.column("path_key")
            for name, s0, e0 in zip(names, starts.tolist(), ends.tolist()):
                outcome, status, body = snapshots.get(name)
                _decide_snapshot(acc, name, outcome, status, body, path_col.slice(s0, e0 - s0),
                                 key_col.slice(s0, e0 - s0).to_pylist(), agents, name in seen)
                seen.add(name)
        acc.flush()
    pa.default_memory_pool().release_unused()
    return {"part": part, "pairs": n_pairs, "decisions": acc.rows, "pid": os.getpid()}


def evaluate(led: Ledger, agents: list[str], *, batch_rows: int = 100_000, work_dir=None, cluster: str | None = None,
             rules=None) -> dict:
    """Recompute consent for ``agents`` (``consent_documents``, ``consent_decisions``, ``consent_agent_groups``,
    ``consent_agents``; the view ``document_consent`` joins them) and record flips since the previous
    evaluation in ``consent_changes``.

    Out of core: DuckDB picks each document's snapshots and the distinct (snapshot, path) pairs (spilling under
    its memory limit); the pairs go to Parquet sorted by snapshot and are decided ``batch_rows`` at a time,
    each snapshot's body read once; decisions are written in batches. Python memory follows the batch and the
    robots.txt parse cache, not the corpus.

    ``cluster`` (``local:N`` or a Dask scheduler's address, see ``provenance.distribute``) decides the pairs
    on Dask workers, partitioned by snapshot (one host's robots.txt: every path of a snapshot in one
    partition), two partitions per worker; the work files are then in ``<ledger>.parts/consent``, which every
    worker must see. The decisions are the same either way; only this process opens the ledger.

    Each agent's purpose (agents.yaml of ``rules``, the rules folders; ``mixed`` when none describes it) goes to
    ``consent_agent_purposes``: document_signal_evidence (0015) counts a decision for the uses of that purpose."""
    import os
    import tempfile

    from .. import distribute
    from ..errors import ProvenanceError
    from ..safeio import fresh_dir

    t0 = time.perf_counter()
    con = led.con
    agents = list(dict.fromkeys(agents))
    if cluster and led.path in ("", ":memory:"):
        raise ProvenanceError("--cluster needs a ledger file (its work files go beside it)")
    with distribute.client(cluster) as client:
        con.execute("DROP TABLE IF EXISTS _doc_snap")
        con.execute(f"""
            CREATE TEMP TABLE _doc_snap AS
            WITH latest AS (SELECT host, arg_max(snapshot_id, captured_at) AS snapshot_id FROM robots_snapshots GROUP BY host)
            SELECT d.shard_id, d.position, {path_sql('d.url')} AS path, cs.snapshot_id AS crawl_snap, l.snapshot_id AS now_snap,
                   d.registered_domain, d.words
            FROM documents d
            ASOF LEFT JOIN robots_snapshots cs ON d.host = cs.host AND d.crawl_date >= cs.captured_at
            LEFT JOIN latest l ON d.host = l.host
        """)
        for t, like in (("_new_decisions", "consent_decisions"), ("_new_groups", "consent_agent_groups")):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {t} AS SELECT * FROM {like} LIMIT 0")
        if work_dir:
            work = fresh_dir(Path(work_dir) / "consent")
        elif client is not None:  # a path every worker sees under the same name
            work = fresh_dir(Path(os.path.abspath(led.path + ".parts")) / "consent")
        else:
            work = Path(tempfile.mkdtemp(prefix="provenance-consent-"))
        parts = 2 * distribute.workers(client) if client is not None else 1
        try:
            pairs = """
                SELECT DISTINCT snap, path, hash(path) AS path_key FROM (
                    SELECT crawl_snap AS snap, path FROM _doc_snap WHERE crawl_snap IS NOT NULL
                    UNION ALL SELECT now_snap, path FROM _doc_snap WHERE now_snap IS NOT NULL)"""
            if parts > 1:  # distinct once, then one file per partition
                con.execute(f"CREATE OR REPLACE TEMP TABLE _pairs AS {pairs}")
                pairs = "SELECT * FROM _pairs"
            tasks = []
            for p in range(parts):
                where = f"hash(snap) % {parts} = {p}" if parts > 1 else "true"
                task = {"part": p, "pairs_file": str(work / f"pairs_{p:05d}.parquet"),
                        "snapshots_file": str(work / f"snapshots_{p:05d}.parquet"), "out_dir": str(work),
                        "agents": agents, "batch_rows": batch_rows}
                con.execute(f"""
                    COPY (SELECT * FROM ({pairs}) WHERE {where} ORDER BY snap)
                    TO {sql_str(task["pairs_file"])} (FORMAT parquet, ROW_GROUP_SIZE {batch_rows})""")
                con.execute(f"""
                    COPY (
                        SELECT snapshot_id, outcome, http_status, body FROM robots_snapshots
                        WHERE snapshot_id IN (SELECT crawl_snap FROM _doc_snap UNION SELECT now_snap FROM _doc_snap)
                          AND {where.replace('snap', 'snapshot_id')}
                        ORDER BY snapshot_id
                    ) TO {sql_str(task["snapshots_file"])} (FORMAT parquet, ROW_GROUP_SIZE 1024)""")
                tasks.append(task)
            con.execute("DROP TABLE IF EXISTS _pairs")
            t_select = time.perf_counter() - t0
            done = distribute.run_map(decide_partition, tasks, c=client,
                                      names=[f"consent partition {t['part'] + 1}/{parts}" for t in tasks])
            n_pairs = sum(d["pairs"] for d in done)
            n_decisions = sum(d["decisions"] for d in done)

            def files(kind: str) -> str:
                return "[" + ", ".join(sql_str(str(work / f"{kind}_{t['part']:05d}.parquet")) for t in tasks) + "]"

            con.execute(f"INSERT INTO _new_decisions SELECT * FROM read_parquet({files('decisions')})")
            con.execute(f"INSERT INTO _new_groups SELECT * FROM read_parquet({files('groups')})")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    t_decide = time.perf_counter() - t0 - t_select
    detected = datetime.now(timezone.utc)
    from ..ruleset import load_agents

    purpose = {a.token.lower(): a.purpose for a in load_agents(rules)}
    con.register("_agents", pa.table({"agent": pa.array(agents, pa.string()),
                                       "purpose": pa.array([purpose.get(a.lower(), "mixed") for a in agents], pa.string())}))
    try:
        with led.transaction():
            # flips: only where a document's snapshot now changed can its decision now change (a snapshot's
            # decisions are a function of its body, the path and the agent); agents new to this evaluation
            # had no previous answer
            # A document's snapshot now is its host's latest, so it moved only when its previous one is no
            # longer any document's latest: those few snapshots first (joining every previous row with every
            # new one ran out of memory at 10M documents re-evaluated under the default budget)
            con.execute("""
                CREATE OR REPLACE TEMP TABLE _stale AS
                SELECT DISTINCT now_snapshot AS snap FROM consent_documents WHERE now_snapshot IS NOT NULL
                EXCEPT SELECT DISTINCT now_snap FROM _doc_snap WHERE now_snap IS NOT NULL""")
            con.execute("""
                INSERT INTO consent_changes
                WITH moved AS (
                    SELECT o.shard_id, o.position, o.path_key AS old_key, o.now_snapshot AS old_snap,
                           hash(n.path) AS new_key, n.now_snap AS new_snap
                    FROM (SELECT * FROM consent_documents WHERE now_snapshot IN (SELECT snap FROM _stale)) o
                    JOIN _doc_snap n USING (shard_id, position)
                    WHERE n.now_snap IS NOT NULL AND o.now_snapshot <> n.now_snap),
                flips AS (
                    SELECT m.shard_id, m.position, a.agent, od.outcome AS before, nd.outcome AS after, m.old_snap, m.new_snap
                    FROM moved m JOIN consent_agents a ON a.agent IN (SELECT agent FROM _agents)
                    JOIN consent_agent_groups og ON og.snapshot_id = m.old_snap AND og.agent = a.agent
                    JOIN consent_decisions od ON od.snapshot_id = m.old_snap AND od.gk = og.gk AND od.path_key = m.old_key
                    JOIN _new_groups ng ON ng.snapshot_id = m.new_snap AND ng.agent = a.agent
                    JOIN _new_decisions nd ON nd.snapshot_id = m.new_snap AND nd.gk = ng.gk AND nd.path_key = m.new_key
                    WHERE od.outcome IN ('allowed', 'disallowed') AND nd.outcome IN ('allowed', 'disallowed')
                      AND od.outcome <> nd.outcome)
                SELECT ?, d.host, f.agent,
                       CASE WHEN f.after = 'disallowed' THEN 'started_disallowing' ELSE 'stopped_disallowing' END,
                       any_value(f.old_snap), any_value(f.new_snap), count(*), sum(d.words)
                FROM flips f JOIN documents d USING (shard_id, position)
                GROUP BY d.host, f.agent, f.after
            """, [detected])
            for t in ("consent_documents", "consent_decisions", "consent_agent_groups", "consent_agents", "consent_agent_purposes"):
                con.execute(f"DELETE FROM {t}")
            con.execute("INSERT INTO consent_agents SELECT agent FROM _agents")
            con.execute("INSERT INTO consent_agent_purposes SELECT agent, purpose FROM _agents")
            con.execute("INSERT INTO consent_documents (shard_id, position, path_key, crawl_snapshot, now_snapshot, "
                        "registered_domain, words) SELECT shard_id, position, hash(path), crawl_snap, now_snap, "
                        "registered_domain, words FROM _doc_snap")
            con.execute("INSERT INTO consent_decisions SELECT * FROM _new_decisions")
            con.execute("INSERT INTO consent_agent_groups SELECT * FROM _new_groups")
    finally:
        con.unregister("_agents")
    n_docs = con.execute("SELECT count(*) FROM _doc_snap").fetchall()[0][0]
    for t in ("_doc_snap", "_new_decisions", "_new_groups", "_stale"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    n_changes = con.execute("SELECT count(*) FROM consent_changes WHERE detected_at = ?", [detected]).fetchall()[0][0]
    return {"documents": n_docs, "agents": len(agents), "distinct_snapshot_paths": n_pairs,
            "decisions": n_decisions, "seconds": time.perf_counter() - t0, "select_seconds": t_select,
            "decide_seconds": t_decide, "changes": n_changes, "blocked": blocked_summary(led), "partitions": parts,
            "task_pids": sorted({d["pid"] for d in done})}


def blocked_summary(led) -> dict:
    """Documents whose consent is ``unknown`` because the snapshot in force is ``blocked`` (our own refusal to
    fetch, not the publisher's answer), at crawl time and now, and the hosts concerned; ``note`` is a sentence
    for users ("" when there are none)."""
    con = getattr(led, "con", led)  # a Ledger or its DuckDB connection
    none = {"crawl_documents": 0, "now_documents": 0, "hosts": [], "note": ""}
    if not con.execute("SELECT count(*) FROM robots_snapshots WHERE outcome = 'blocked'").fetchall()[0][0]:
        return none                      # the usual case: no scan of document_consent at all
    row = con.execute("""
        WITH b AS (SELECT snapshot_id, host FROM robots_snapshots WHERE outcome = 'blocked'),
        hits AS (
            SELECT c.shard_id, c.position, cb.host AS crawl_host, nb.host AS now_host
            FROM consent_documents c
            LEFT JOIN b cb ON cb.snapshot_id = c.crawl_snapshot
            LEFT JOIN b nb ON nb.snapshot_id = c.now_snapshot
            WHERE cb.snapshot_id IS NOT NULL OR nb.snapshot_id IS NOT NULL)
        SELECT count(DISTINCT (shard_id, position)) FILTER (crawl_host IS NOT NULL),
               count(DISTINCT (shard_id, position)) FILTER (now_host IS NOT NULL),
               list(DISTINCT coalesce(now_host, crawl_host) ORDER BY coalesce(now_host, crawl_host))
        FROM hits
    """).fetchall()[0]
    crawl_docs, now_docs, hosts = row[0] or 0, row[1] or 0, list(row[2] or [])
    if not hosts:
        return none
    shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5:,} more" if len(hosts) > 5 else "")
    note = (f"robots.txt of {len(hosts):,} host(s) ({shown}) was not fetched: our own SSRF guard refused it "
            f"(internal address) or the target was invalid. That is not the publisher's answer, so consent "
            f"is unknown for {now_docs:,} document(s) now and {crawl_docs:,} at crawl time "
            f"(pass --allow-internal only if fetching internal addresses is intended)")
    return {"crawl_documents": crawl_docs, "now_documents": now_docs, "hosts": hosts, "note": note}


__all__ = ["evaluate", "store_snapshots", "fetch_targets", "blocked_summary", "Snapshot", "PATH_SQL", "path_sql",
           "BLOCKED_NOTE"]
