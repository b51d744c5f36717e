"""One verdict per document (include / exclude / review) with reason codes, from what the ledger holds.

A policy (rules/policy.yaml) says which findings matter for a stated purpose and what each one does. The
evaluation reads only the ledger (documents, document_consent, robots_signals, the rules_* tables) and
rewrites ``document_verdicts`` in one transaction, so changing rules or the policy re-evaluates without
re-reading any shard.

Reason codes:

* ``robots:<Agent>:<crawl-time|now>:disallow`` / ``...:unknown`` -- document_consent for that agent
  (``unknown``: no robots.txt snapshot at or before the crawl, or consent never evaluated for the document)
* ``signal:<source>:<use>`` -- a reservation on the page (X-Robots-Tag / meta noai, TDMRep meta/header,
  Content-Usage) or in the host's latest robots.txt / tdmrep.json (Content-Signal, Content-Usage, TDMRep, the
  terms of RSL licenses its License: lines name -- the longest matching <content url> pattern deciding per use);
  ``<use>`` is one of ``signals.USES`` (a ledger's older ``ai-use`` / ``train-genai`` read as ``ai-input`` /
  ``train-ai``). robots.txt ``Content-Usage`` rules follow draft-ietf-aipref-attach-05: per crawler the group
  RFC 9309 selects, then the rule of the longest matching path (see ``_content_usage_reasons``)
* ``tos:<clause>`` -- a Terms-of-Service clause of the document's host or registered domain
* ``license:<SPDX id>`` -- the document's effective license (found in it, else its domain's), by family;
  ``license:none`` when the policy acts on the ``unknown`` family and nothing was found
* ``domain:<domain>`` -- a host or registered domain the policy lists (takedown requests, agreements)
* ``pii:<TYPE>`` -- a personal-data or secret finding of that type in the document (EMAIL, PRIVATE_KEY, ...)
* ``pii-lookalike`` -- no findings of its own, but a near-duplicate of a document with some
* ``near-duplicate`` -- a member of a near-duplicate cluster other than its representative
* ``takedown:<request id>`` -- covered by a takedown request (a near-duplicate of its text, its URL)
* ``code:<SPDX id>`` -- code from a reference index found in the document, acted on by its license family

Each reason has the action its policy entry gives (exclude / review); ``ignore`` drops it. Verdict:
``exclude`` if any reason excludes, else ``review`` if any asks for review, else the policy's default.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

from . import ruleset
from .ledger import sql_str
from .robots.consent import path_sql
from .ruleset import Policy
from .signals import current_use, use_sql

ACTIONS = ("exclude", "review")
_REASONS = pa.schema([("shard_id", pa.string()), ("position", pa.int64()), ("reason", pa.string()), ("action", pa.string())])


@dataclass
class Evaluation:
    evaluation_id: str
    policy: str
    purpose: str
    rules_hash: str
    documents: int
    included: int
    excluded: int
    review: int
    seconds: float
    warnings: list[str]

    def summary(self) -> str:
        n = max(self.documents, 1)
        return (f"policy {self.policy}: {self.documents:,} documents -> include {self.included:,} "
                f"({self.included / n:.1%}), exclude {self.excluded:,} ({self.excluded / n:.1%}), "
                f"review {self.review:,} ({self.review / n:.1%}) in {self.seconds:.2f}s")


def _active(mapping: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in mapping.items() if v in ACTIONS}


def _register(con, name: str, rows: dict[str, list]) -> None:
    con.register(name, pa.table({k: pa.array(v, pa.string()) for k, v in rows.items()}))


def _robots_sql(con, policy: Policy, warnings: list[str]) -> list[str]:
    parts = []
    evaluated = {r[0].lower(): r[0] for r in con.execute("SELECT agent FROM consent_agents").fetchall()}
    rows = {"agent": [], "label": [], "moment": [], "disallowed": [], "unknown": []}
    missing: list[str] = []
    for rule in policy.robots:
        for agent in rule.agents:
            if rule.disallowed not in ACTIONS and rule.unknown not in ACTIONS:
                continue
            stored = evaluated.get(agent.lower())
            if stored is None:
                missing.append(agent)
            rows["agent"].append(stored or agent)
            rows["label"].append(agent)
            rows["moment"].append(rule.at)
            rows["disallowed"].append(rule.disallowed)
            rows["unknown"].append(rule.unknown)
    if missing:
        snapshots = con.execute("SELECT count(*) FROM robots_snapshots").fetchall()[0][0]
        if snapshots:
            # snapshots are there: the agents were left out of the evaluation, not the publishers' files
            warnings.append(f"consent was not evaluated for {', '.join(missing)} although {snapshots:,} robots.txt "
                            f"snapshot(s) are in the ledger: the policy names them but the evaluation left them out "
                            f"(set `evaluate: true` for them, or `provenance consent --evaluate --agents ...`); their "
                            f"documents count as robots `unknown`")
        else:
            warnings.append(f"no robots.txt consent evaluated for {', '.join(missing)}: their documents count as "
                            f"robots `unknown` (import or fetch snapshots: `provenance robots import|fetch`)")
    if not rows["agent"]:
        return parts
    from .robots.consent import blocked_summary

    blocked = blocked_summary(con)  # our own refusals to fetch: unknown, never the publisher's disallow
    if blocked["note"]:
        warnings.append(blocked["note"] + "; those documents count as robots `unknown` here")
    _register(con, "_pol_robots", rows)
    # Read from the compact consent tables (what the document_consent view joins), for the policy's agents and
    # moments only. A disallow: the few decisions that disallow, for the policy's agents, probed by each
    # evaluated document's snapshot and path (the documents x agents rows joined with every decision took half
    # the verdicts' time at 5M documents, spilling); consent_documents holds only documents in the ledger (0016)
    # and the verdicts join the reasons to documents anyway
    parts.append("""
        WITH dis AS (
            SELECT g.snapshot_id, g.agent, dec.path_key
            FROM consent_decisions dec JOIN consent_agent_groups g USING (snapshot_id, gk)
            WHERE dec.outcome = 'disallowed'
              AND g.agent IN (SELECT agent FROM _pol_robots WHERE disallowed IN ('exclude', 'review'))),
        moments AS (SELECT DISTINCT moment FROM _pol_robots WHERE disallowed IN ('exclude', 'review'))
        SELECT x.shard_id, x.position, 'robots:' || p.label || ':' || p.moment || ':disallow', p.disallowed
        FROM (SELECT cd.shard_id, cd.position, cd.path_key, m.moment,
                     CASE WHEN m.moment = 'now' THEN cd.now_snapshot ELSE cd.crawl_snapshot END AS snapshot_id
              FROM consent_documents cd CROSS JOIN moments m) x
        JOIN dis ON dis.snapshot_id = x.snapshot_id AND dis.path_key = x.path_key
        JOIN _pol_robots p ON p.agent = dis.agent AND p.moment = x.moment AND p.disallowed IN ('exclude', 'review')""")
    if any(u in ("exclude", "review") for u in rows["unknown"]):
        # unknown: every document x policy agent whose rule acts on it; a missing consent row (never evaluated)
        # is `unknown`
        parts.append("""
            WITH j AS (
                SELECT d.shard_id, d.position, p.label, p.moment, p.unknown, dec.outcome
                FROM documents d LEFT JOIN consent_documents cd USING (shard_id, position)
                JOIN _pol_robots p ON p.unknown IN ('exclude', 'review')
                LEFT JOIN consent_agent_groups g
                       ON g.snapshot_id = CASE WHEN p.moment = 'now' THEN cd.now_snapshot ELSE cd.crawl_snapshot END
                      AND g.agent = p.agent
                LEFT JOIN consent_decisions dec ON dec.snapshot_id = g.snapshot_id AND dec.gk = g.gk AND dec.path_key = cd.path_key
            )
            SELECT shard_id, position, 'robots:' || label || ':' || moment || ':unknown', unknown
            FROM j WHERE coalesce(outcome, 'unknown') = 'unknown'""")
    return parts


def _agents_of(policy: Policy) -> list[str]:
    return sorted({a.lower() for r in policy.robots for a in r.agents})


def _page_signals_sql(con, policy: Policy) -> list[str]:
    uses = _active(policy.signals)
    if not uses:
        return []
    _register(con, "_pol_uses", {"use": list(uses), "action": list(uses.values())})
    _register(con, "_pol_agents", {"agent": _agents_of(policy) or ["*"]})
    # a page signal counts when it names no agent / '*' or one the policy honours, and is not images-only;
    # uses stored under an older name (ai-use, train-genai) are read as today's
    use = use_sql('x.sig."use"')
    return [f"""
        SELECT x.shard_id, x.position, 'signal:' || x.sig.source || ':' || {use}, u.action
        FROM (SELECT shard_id, position, unnest(page_signals) AS sig FROM documents WHERE len(page_signals) > 0) x
        JOIN _pol_uses u ON u."use" = {use}
        WHERE NOT x.sig.allowed AND coalesce(x.sig.scope, '') <> 'images'
          AND lower(coalesce(x.sig.agent, '*')) IN (SELECT agent FROM _pol_agents UNION ALL SELECT '*')"""]


class _ContentUsage:
    """The robots.txt ``Content-Usage`` rules of one host's latest snapshot, resolved as
    draft-ietf-aipref-attach-05 section 4 says: a crawler takes the rules of the group RFC 9309 selects for it
    (the groups naming its product token, else the ``*`` groups; the rules of any other group never apply to
    it), and within those the rule whose path is the longest match for the document's path decides -- the whole
    statement of that rule, for every label in it (a label it does not name stays unknown, even if a shorter
    rule named it). Rules whose paths match with the same length are combined, a refusal winning (vocab
    section 7.1). Path length counts the octets of the pattern, as for Allow / Disallow.

    One departure: the draft attaches no preference to paths the group disallows; a document the corpus holds
    from such a path keeps the reservation of its longest match (its robots.txt disallow is the
    ``robots:<Agent>`` reason, when the policy honours that agent)."""

    def __init__(self, rows: list[tuple], named: set[str] | None, crawlers: list[str]):
        from .robots.matcher import _product_token

        by_agent: dict[str, list[tuple[int, str, str, bool]]] = {}
        for use, allowed, agent, scope in rows:
            scope = scope or "/"
            by_agent.setdefault(agent, []).append((len(scope.encode("utf-8")), scope, use, allowed))
        if named is None:  # no snapshot body: the groups that carry Content-Usage lines are all we know
            named = set(by_agent) - {"*"}
        self.groups: list[list[tuple[int, str, str, bool]]] = []
        seen: set[str] = set()
        for c in crawlers:
            tok = "*" if c == "*" else _product_token(c)
            key = tok if tok != "*" and tok in named else "*"
            if key not in seen:
                seen.add(key)
                rules = sorted(by_agent.get(key, ()), key=lambda r: -r[0])
                if rules:
                    self.groups.append(rules)

    def refused(self, path: str, location_matches) -> set[str]:
        """The uses refused for ``path`` by any crawler's deciding rule(s)."""
        out: set[str] = set()
        for rules in self.groups:
            best = -1
            for length, scope, use, allowed in rules:  # longest first
                if length < best:
                    break
                if location_matches(scope, path):
                    best = length
                    if not allowed:
                        out.add(use)
        return out


def _host_signal_batches(con, policy: Policy, batch_rows: int = 65_536):
    """Reservations in the hosts' latest robots.txt (Content-Signal, Content-Usage) and tdmrep.json, matched
    against each document's path in Python -- only for documents of hosts that have such signals. Yields the
    reason rows a batch of documents at a time (read through a cursor of their own): memory follows the batch,
    not the documents of those hosts (held whole, they grew the verdicts' memory by ~85 MB from 1M to 5M
    documents). ``Content-Usage`` rules are resolved per crawler the policy honours (its robots agents, or
    ``*`` when it names none) by :class:`_ContentUsage`; a refusal for any of them is a reason."""
    from .robots.matcher import RobotsTxt
    from .signals import location_matches

    uses = _active(policy.signals)
    if not uses:
        return
    agents = set(_agents_of(policy)) | {"*"}
    # Content-Usage is resolved for the crawlers the policy honours (its robots agents; "*", any crawler,
    # when it names none): a group of their own overrides the "*" group, as RFC 9309 has it
    crawlers = _agents_of(policy) or ["*"]
    sig = con.execute("""
        WITH latest AS (
            SELECT host, source, arg_max(snapshot_id, captured_at) AS snapshot_id
            FROM robots_snapshots WHERE outcome = 'parsed' GROUP BY host, source
        )
        SELECT s.host, s.source, s."use", s.allowed, lower(coalesce(s.agent, '*')) AS agent, s.scope, s.snapshot_id
        FROM robots_signals s
        WHERE s.source = 'tdmrep-json' OR s.snapshot_id IN (SELECT snapshot_id FROM latest)
        ORDER BY s.host, s.source, s.snapshot_id
    """).fetchall()
    by_host: dict[str, list[tuple]] = {}
    cu_rows: dict[tuple[str, str], list[tuple]] = {}  # (host, snapshot) -> its Content-Usage rules
    for host, source, use, allowed, agent, scope, snapshot_id in sig:
        use = current_use(use)
        if source == "content-usage-robots":
            # every rule is kept: the longest match decides before we look at which uses the policy acts on
            cu_rows.setdefault((host, snapshot_id), []).append((use, allowed, agent, scope))
        elif agent in agents and use in uses:
            by_host.setdefault(host, []).append((source, use, allowed, scope))
    # one resolution per snapshot (a host's latest robots.txt of each snapshot source, e.g. a live fetch and a
    # Common Crawl capture): their refusals add up, as statements from different places combine (vocab 7.1)
    content_usage: dict[str, list[_ContentUsage]] = {}
    if cu_rows:
        bodies = dict(con.execute("SELECT snapshot_id, body FROM robots_snapshots WHERE snapshot_id IN "
                                  "(SELECT unnest(?::VARCHAR[]))", [sorted({k[1] for k in cu_rows})]).fetchall())
        for (host, snapshot_id), rows in cu_rows.items():
            body = bodies.get(snapshot_id)
            named = set(RobotsTxt.parse(body).user_agents) if body is not None else None
            cu = _ContentUsage(rows, named, crawlers)
            if cu.groups:
                content_usage.setdefault(host, []).append(cu)
    if not by_host and not content_usage:
        return
    hosts = sorted(set(by_host) | set(content_usage))
    cu_code = {u: f"signal:content-usage-robots:{u}" for u in uses}
    cur = con.cursor()
    try:
        # a relation's reader streams (a DB-API result's would copy every row first)
        reader = cur.sql(f"SELECT shard_id, position, host, {path_sql('url')} AS path FROM documents "
                         "WHERE host IN (SELECT unnest(?::VARCHAR[]))", params=[hosts]).to_arrow_reader(batch_rows)
        for rb in reader:
            out = {"shard_id": [], "position": [], "reason": [], "action": []}
            c = rb.to_pydict()
            for shard_id, position, host, path in zip(c["shard_id"], c["position"], c["host"], c["path"]):
                path = path or "/"
                seen = set()
                tdm_done = False
                rsl_best: dict[str, tuple[int, bool]] = {}
                for source, use, allowed, scope in by_host.get(host, ()):
                    if scope is not None and not location_matches(scope, path):
                        continue
                    if source == "rsl":
                        # RSL <content url> patterns: per use, the longest matching pattern decides (RFC 9309
                        # matching, which RSL 1.0 adopts); patterns of equal length combine, a refusal winning
                        n = len((scope or "/").encode("utf-8"))
                        best = rsl_best.get(use)
                        if best is None or n > best[0] or (n == best[0] and not allowed):
                            rsl_best[use] = (n, allowed)
                        continue
                    if source == "tdmrep-json":
                        if tdm_done:
                            continue  # TDMRep: the first rule whose location matches decides
                        tdm_done = True
                    if allowed:
                        continue
                    code = f"signal:{source}:{use}"
                    if code not in seen:
                        seen.add(code)
                        out["shard_id"].append(shard_id)
                        out["position"].append(position)
                        out["reason"].append(code)
                        out["action"].append(uses[use])
                for use, (_n, allowed) in sorted(rsl_best.items()):
                    if not allowed:
                        out["shard_id"].append(shard_id)
                        out["position"].append(position)
                        out["reason"].append(f"signal:rsl:{use}")
                        out["action"].append(uses[use])
                cus = content_usage.get(host)
                if cus is not None:
                    refused = set().union(*(cu.refused(path, location_matches) for cu in cus))
                    for use in sorted(refused):
                        if use in uses:
                            out["shard_id"].append(shard_id)
                            out["position"].append(position)
                            out["reason"].append(cu_code[use])
                            out["action"].append(uses[use])
            if out["shard_id"]:
                yield pa.table(out, schema=_REASONS)
    finally:
        cur.close()


def _tos_sql(con, policy: Policy) -> list[str]:
    acts = _active(policy.tos)
    if not acts:
        return []
    _register(con, "_pol_tos", {"clause": list(acts), "action": list(acts.values())})
    return ["""
        SELECT c.shard_id, c.position, 'tos:' || c.clause, p.action
        FROM (SELECT shard_id, position, unnest(clauses) AS clause FROM document_tos) c
        JOIN _pol_tos p ON p.clause = c.clause"""]


def _license_sql(con, policy: Policy) -> list[str]:
    fam = {k: v for k, v in policy.licenses.items()}
    ids = {k: v for k, v in policy.license_ids.items()}
    if not _active(fam) and not _active(ids):
        return []
    _register(con, "_pol_fam", {"family": list(fam), "action": list(fam.values())})
    _register(con, "_pol_ids", {"spdx": list(ids), "action": list(ids.values())})
    return ["""
        SELECT l.shard_id, l.position, 'license:' || coalesce(l.license, 'none'), coalesce(i.action, f.action)
        FROM document_licenses l
        LEFT JOIN _pol_ids i ON i.spdx = l.license
        LEFT JOIN _pol_fam f ON f.family = l.family
        WHERE coalesce(i.action, f.action) IN ('exclude', 'review')"""]


def _domain_sql(con, policy: Policy) -> list[str]:
    acts = _active({k.strip().lower(): v for k, v in policy.domains.items()})
    if not acts:
        return []
    _register(con, "_pol_dom", {"domain": list(acts), "action": list(acts.values())})
    return ["""
        SELECT d.shard_id, d.position, 'domain:' || p.domain, p.action
        FROM documents d JOIN _pol_dom p ON p.domain = d.host OR p.domain = d.registered_domain"""]


def _pii_sql(con, policy: Policy) -> list[str]:
    acts = _active({k.upper(): v for k, v in policy.pii.items()})
    if not acts:
        return []
    _register(con, "_pol_pii", {"type": list(acts), "action": list(acts.values())})
    return ["""
        SELECT DISTINCT f.shard_id, f.position, 'pii:' || f.type, p.action
        FROM (SELECT shard_id, position, unnest(pii).type AS type FROM documents WHERE pii_count > 0) f
        JOIN _pol_pii p ON p.type = f.type"""]


def _dup_sql(con, policy: Policy) -> list[str]:
    parts = []
    if policy.takedowns in ACTIONS:
        parts.append(f"SELECT DISTINCT shard_id, position, 'takedown:' || request_id, '{policy.takedowns}' FROM takedown_matches")
    if policy.near_duplicates in ACTIONS:
        parts.append(f"SELECT shard_id, position, 'near-duplicate', '{policy.near_duplicates}' FROM document_duplicates "
                     "WHERE NOT representative")
    if policy.pii_lookalike in ACTIONS:
        parts.append(f"SELECT shard_id, position, 'pii-lookalike', '{policy.pii_lookalike}' FROM pii_lookalikes "
                     "WHERE own_findings = 0")
    return parts


def _code_sql(con, policy: Policy) -> list[str]:
    acts = _active(policy.code)
    if not acts:
        return []
    _register(con, "_pol_code", {"family": list(acts), "action": list(acts.values())})
    return ["""
        SELECT DISTINCT c.shard_id, c.position, 'code:' || coalesce(c.license, 'unknown'), p.action
        FROM code_matches c LEFT JOIN rules_license_families f ON f.spdx = c.license
        JOIN _pol_code p ON p.family = coalesce(f.family, 'unknown')"""]


#: documents per batch of the verdicts' final step (whole shards): at 1M documents it ran within DuckDB's share
VERDICT_BATCH_DOCUMENTS = 1_000_000


def _shard_batches(con, size: int) -> list[list[str]]:
    """The ledger's shards with documents, in batches of whole shards of about ``size`` documents."""
    batches: list[list[str]] = [[]]
    n = 0
    for shard_id, docs in con.execute("SELECT shard_id, count(*) FROM documents GROUP BY shard_id ORDER BY shard_id").fetchall():
        if batches[-1] and n + docs > size:
            batches.append([])
            n = 0
        batches[-1].append(shard_id)
        n += docs
    return [b for b in batches if b]


def evaluate(led, rules_dirs=None, policy_name: str | None = None, *, apply_rules: bool = True) -> Evaluation:
    """Evaluate every document of the ledger under a policy; replaces document_verdicts and records the
    evaluation in verdict_runs."""
    t0 = time.perf_counter()
    name, policy = ruleset.load_policy(rules_dirs, policy_name)
    rhash = ruleset.rules_hash(rules_dirs)
    if apply_rules:
        ruleset.apply_to_ledger(led, rules_dirs)
    con = led.con
    warnings: list[str] = []
    parts = _robots_sql(con, policy, warnings) + _page_signals_sql(con, policy) + _tos_sql(con, policy) \
        + _license_sql(con, policy) + _domain_sql(con, policy) + _pii_sql(con, policy) + _dup_sql(con, policy) + _code_sql(con, policy)
    default = policy.default
    eid = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]
    with led.transaction():
        con.execute(f"CREATE OR REPLACE TEMP TABLE _reasons (shard_id VARCHAR, position BIGINT, reason VARCHAR, action VARCHAR)")
        for part in parts:  # one at a time: a UNION ALL of every part runs all their joins at once (memory)
            con.execute(f"INSERT INTO _reasons SELECT * FROM ({part})")
        for rows in _host_signal_batches(con, policy):
            con.register("_host_sig", rows)
            con.execute("INSERT INTO _reasons SELECT * FROM _host_sig")
            con.unregister("_host_sig")
        con.execute("DELETE FROM document_verdicts")
        # The reasons grouped per document (a document without any takes the default), one batch of whole
        # shards of ~VERDICT_BATCH_DOCUMENTS documents at a time: each batch's aggregate and join fit DuckDB's
        # share, so the time grows with the documents (at once, the join and the list aggregate spilled from 5M
        # documents on: 3.6 s at 5M, 9.2 s at 10M). list(DISTINCT ... ORDER BY ...) is a sorted aggregate in
        # DuckDB (4.5 of 6.5 s at 10M); a plain list, then deduplicated and sorted per row, is the same list.
        for batch in _shard_batches(con, VERDICT_BATCH_DOCUMENTS):
            ids = ", ".join(sql_str(b) for b in batch)
            con.execute(f"""
                INSERT INTO document_verdicts
                WITH r AS (
                    SELECT shard_id, position,
                           CASE WHEN bool_or(action = 'exclude') THEN 'exclude'
                                WHEN bool_or(action = 'review') THEN 'review' ELSE '{default}' END AS verdict,
                           list_sort(list_distinct(list(reason) FILTER (reason IS NOT NULL))) AS reasons
                    FROM _reasons WHERE shard_id IN ({ids}) GROUP BY shard_id, position)
                SELECT d.shard_id, d.position, coalesce(r.verdict, '{default}'), coalesce(r.reasons, []::VARCHAR[]),
                       d.registered_domain, d.words
                FROM documents d LEFT JOIN r USING (shard_id, position)
                WHERE d.shard_id IN ({ids})""")
        counts = dict(con.execute("SELECT verdict, count(*) FROM document_verdicts GROUP BY verdict").fetchall())
        total = sum(counts.values())
        seconds = time.perf_counter() - t0
        con.execute("INSERT INTO verdict_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [eid, datetime.now(timezone.utc), name, policy.purpose, json.dumps(policy.model_dump(), sort_keys=True),
                     rhash, total, counts.get("include", 0), counts.get("exclude", 0), counts.get("review", 0), seconds])
        con.execute("DROP TABLE _reasons")
    for t in ("_pol_robots", "_pol_uses", "_pol_agents", "_pol_tos", "_pol_fam", "_pol_ids", "_pol_dom", "_pol_pii", "_pol_code"):
        try:
            con.unregister(t)
        except Exception:  # noqa: BLE001 - not registered under this policy
            pass
    return Evaluation(eid, name, policy.purpose, rhash, total, counts.get("include", 0), counts.get("exclude", 0),
                      counts.get("review", 0), time.perf_counter() - t0, warnings)


def reevaluate(led, rules_dirs=None, *, apply_rules: bool = False, policy: str | None = None) -> Evaluation:
    """Evaluate again under ``policy`` (the ledger's setting), else the policy of the last evaluation, else
    the default one, e.g. after consent changed; rules are taken from ``rules_dirs`` as they are now."""
    name = policy
    if name is None:
        last = led.con.execute("SELECT policy FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1").fetchall()
        name = last[0][0] if last else None
    _, pols = ruleset.load_policies(rules_dirs)
    return evaluate(led, rules_dirs, name if name in pols else None, apply_rules=apply_rules)


__all__ = ["evaluate", "reevaluate", "Evaluation"]
