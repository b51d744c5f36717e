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
import time
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from ..ledger import Ledger
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


def store_snapshots(led: Ledger, snaps) -> tuple[int, int]:
    """Insert snapshots (idempotent by snapshot_id) and the consent signals their bodies carry.
    Returns (new, already present)."""
    rows = []
    for s in snaps:
        rows.append({"snapshot_id": s.snapshot_id, "host": s.host, "source": s.source, "captured_at": s.captured_at,
                     "url": s.url, "http_status": s.http_status, "outcome": s.outcome, "body_sha256": s.body_sha256,
                     "body": s.body, "n_bytes": s.n_bytes, "truncated": s.truncated, "error": s.error,
                     "imported_at": datetime.now(timezone.utc)})
    if not rows:
        return 0, 0
    tbl = pa.Table.from_pylist(rows)
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
                con.execute("DELETE FROM robots_signals WHERE snapshot_id IN (SELECT DISTINCT snapshot_id FROM _new_sig)")
                con.execute("INSERT INTO robots_signals BY NAME SELECT * FROM _new_sig")
                con.unregister("_new_sig")
    finally:
        con.unregister("_new_snaps")
    after = con.execute("SELECT count(*) FROM robots_snapshots").fetchall()[0][0]
    return after - before, len(rows) - (after - before)


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


class _Decisions:
    """Decisions per (snapshot, agent group, path), and which group each agent falls into per snapshot:
    plain lists, turned into two Arrow tables once; DuckDB expands them to agents."""

    def __init__(self):
        self.snap, self.path, self.gk, self.outcome, self.line, self.rule = [], [], [], [], [], []
        self.g_snap, self.g_agent, self.g_gk = [], [], []

    def add(self, snap, paths, gk, outcomes, lines, rules):
        n = len(paths)
        self.snap += [snap] * n
        self.path += paths
        self.gk += [gk] * n
        self.outcome += outcomes
        self.line += lines
        self.rule += rules

    def tables(self) -> tuple[pa.Table, pa.Table]:
        d = pa.table({"snap": pa.array(self.snap, pa.string()), "path": pa.array(self.path, pa.string()),
                      "gk": pa.array(self.gk, pa.int32()), "outcome": pa.array(self.outcome, pa.string()),
                      "rule_line": pa.array(self.line, pa.int32()), "rule": pa.array(self.rule, pa.string())})
        g = pa.table({"snap": pa.array(self.g_snap, pa.string()), "agent": pa.array(self.g_agent, pa.string()),
                      "gk": pa.array(self.g_gk, pa.int32())})
        return d, g


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
                     agents: list[str]) -> None:
    n = len(paths)
    if outcome != "parsed":
        # "blocked" is our refusal to fetch, not the publisher's answer: unknown, like having no snapshot
        label = {"allow_all": "allowed", "disallow_all": "disallowed"}.get(outcome, "unknown")
        why = _status_note(outcome, status)
        acc.add(snap, paths.to_pylist(), -2, [label] * n, [None] * n, [why] * n)
        for a in agents:
            acc.g_snap.append(snap)
            acc.g_agent.append(a)
            acc.g_gk.append(-2)
        return
    rt = _parse(body or "")
    groups: dict = defaultdict(list)
    for a in agents:
        groups[rt.group_key(a)].append(a)
    plist = paths.to_pylist()
    for key, members in groups.items():
        gk = -1 if key is None else int(key)
        for a in members:
            acc.g_snap.append(snap)
            acc.g_agent.append(a)
            acc.g_gk.append(gk)
        if n < SCALAR_BELOW:
            # a few paths: scalar decisions beat the fixed cost of a columnar call (pyarrow compiles the RE2
            # programs per call, ~0.3-0.7 ms), measured in bench/bench_consent.py
            ds = [rt.decide(members[0], p) for p in plist]
            acc.add(snap, plist, gk, ["allowed" if d.allowed else "disallowed" for d in ds],
                    [d.rule.line if d.rule else None for d in ds], [d.rule.text if d.rule else None for d in ds])
        else:
            allowed, idx = rt.decide_many(members[0], paths)
            rules = rt.rules_of(members[0])
            lines = [r.line for r in rules] + [None]
            texts = [r.text for r in rules] + [None]
            ix = [i if i >= 0 else len(rules) for i in idx.to_pylist()]
            acc.add(snap, plist, gk, ["allowed" if a else "disallowed" for a in allowed.to_pylist()],
                    [lines[i] for i in ix], [texts[i] for i in ix])


def evaluate(led: Ledger, agents: list[str]) -> dict:
    """Recompute ``document_consent`` for ``agents`` and record flips since the previous evaluation."""
    t0 = time.perf_counter()
    con = led.con
    con.execute("DROP TABLE IF EXISTS _doc_snap")
    con.execute(f"""
        CREATE TEMP TABLE _doc_snap AS
        WITH latest AS (SELECT host, arg_max(snapshot_id, captured_at) AS snapshot_id FROM robots_snapshots GROUP BY host)
        SELECT d.shard_id, d.position, d.host, {path_sql('d.url')} AS path, cs.snapshot_id AS crawl_snap, l.snapshot_id AS now_snap
        FROM documents d
        ASOF LEFT JOIN robots_snapshots cs ON d.host = cs.host AND d.crawl_date >= cs.captured_at
        LEFT JOIN latest l ON d.host = l.host
    """)
    pairs = con.sql("""
        SELECT p.snap, p.path, s.outcome, s.http_status, s.body FROM (
            SELECT DISTINCT snap, path FROM (
                SELECT crawl_snap AS snap, path FROM _doc_snap WHERE crawl_snap IS NOT NULL
                UNION ALL SELECT now_snap, path FROM _doc_snap WHERE now_snap IS NOT NULL)) p
        JOIN robots_snapshots s ON s.snapshot_id = p.snap
        ORDER BY p.snap
    """).to_arrow_table()
    t_select = time.perf_counter() - t0
    acc = _Decisions()
    n_pairs = pairs.num_rows
    if n_pairs:
        import numpy as np

        snaps = pairs.column("snap").combine_chunks()
        idx = snaps.dictionary_encode().indices.to_numpy(zero_copy_only=False)
        # each snapshot's run of rows (the table is sorted by snap)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        ends = np.r_[starts[1:], len(idx)]
        head = pairs.take(pa.array(starts)).select(["snap", "outcome", "http_status", "body"]).to_pydict()
        path_col = pairs.column("path").combine_chunks()
        for k, (s0, e0) in enumerate(zip(starts.tolist(), ends.tolist())):
            _decide_snapshot(acc, head["snap"][k], head["outcome"][k], head["http_status"][k], head["body"][k],
                             path_col.slice(s0, e0 - s0), agents)
    decisions, agent_groups = acc.tables()
    t_decide = time.perf_counter() - t0 - t_select
    detected = datetime.now(timezone.utc)
    con.register("_decisions", decisions)
    con.register("_agent_groups", agent_groups)
    con.register("_agents", pa.table({"agent": pa.array(agents, pa.string())}))
    try:
        with led.transaction():
            con.execute("DROP TABLE IF EXISTS _prev_consent")
            con.execute("CREATE TEMP TABLE _prev_consent AS SELECT shard_id, position, agent, now_outcome, now_snapshot FROM document_consent")
            con.execute("DELETE FROM document_consent")
            con.execute("""
                INSERT INTO document_consent
                SELECT ds.shard_id, ds.position, a.agent,
                       coalesce(c.outcome, 'unknown'), ds.crawl_snap, c.rule_line, c.rule,
                       coalesce(n.outcome, 'unknown'), ds.now_snap, n.rule_line, n.rule
                FROM _doc_snap ds CROSS JOIN _agents a
                LEFT JOIN _agent_groups cg ON cg.snap = ds.crawl_snap AND cg.agent = a.agent
                LEFT JOIN _decisions c ON c.snap = ds.crawl_snap AND c.path = ds.path AND c.gk = cg.gk
                LEFT JOIN _agent_groups ng ON ng.snap = ds.now_snap AND ng.agent = a.agent
                LEFT JOIN _decisions n ON n.snap = ds.now_snap AND n.path = ds.path AND n.gk = ng.gk
            """)
            con.execute("""
                INSERT INTO consent_changes
                SELECT ?, d.host, c.agent,
                       CASE WHEN c.now_outcome = 'disallowed' THEN 'started_disallowing' ELSE 'stopped_disallowing' END,
                       any_value(p.now_snapshot), any_value(c.now_snapshot), count(*), sum(d.words)
                FROM document_consent c
                JOIN _prev_consent p USING (shard_id, position, agent)
                JOIN documents d USING (shard_id, position)
                WHERE p.now_outcome IN ('allowed', 'disallowed') AND c.now_outcome IN ('allowed', 'disallowed')
                  AND p.now_outcome <> c.now_outcome
                GROUP BY d.host, c.agent, c.now_outcome
            """, [detected])
    finally:
        con.unregister("_decisions")
        con.unregister("_agent_groups")
        con.unregister("_agents")
    n_docs = con.execute("SELECT count(*) FROM _doc_snap").fetchall()[0][0]
    n_changes = con.execute("SELECT count(*) FROM consent_changes WHERE detected_at = ?", [detected]).fetchall()[0][0]
    return {"documents": n_docs, "agents": len(agents), "distinct_snapshot_paths": n_pairs,
            "seconds": time.perf_counter() - t0, "select_seconds": t_select, "decide_seconds": t_decide,
            "changes": n_changes, "blocked": blocked_summary(led)}


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
            FROM document_consent c
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
