-- 0015: which protocol decided. For each document, use and moment, every consent signal that applied to it
-- (document_signal_evidence), and the one that decided (document_signal_deciders, and `decides` in the former).
--
-- Signals and their moment:
--   crawl: the page's own signals (documents.page_signals: X-Robots-Tag / meta robots `noai` `noindex`, TDMRep
--          header / meta, AIPREF Content-Usage header / meta, Content-Signal header; observed_at = the crawl
--          date) and the robots.txt snapshot in force at crawl time (its group decisions, and its Content-Usage,
--          Content-Signal and RSL signals);
--   now:   the latest robots.txt snapshot (the same signals) and /.well-known/tdmrep.json (stored without a
--          capture time: observed_at NULL).
-- A document's snapshots are the ones its last consent evaluation used (consent_documents), so that group
-- decisions and the other robots.txt signals of one moment come from one file; a document consent was never
-- evaluated for takes the snapshots that evaluation would (latest at or before its crawl date; latest).
--
-- What "applied" means, per source:
--   robots.txt groups (protocol robots.txt, source robots-txt-group): the rule that decided for an evaluated
--     agent (consent_decisions; an allow because no rule matched is no signal, a status such as "HTTP 503:
--     disallow all" is one, and `unknown` is not). A decision counts for a use through the agent's purpose
--     (consent_agent_purposes, written by each consent evaluation from agents.yaml): training -> train-ai,
--     search -> search, user-triggered -> ai-input; mixed (and an agent no agents.yaml describes) -> all
--     three: an operator that uses what it fetches for several purposes gets the publisher's answer for each.
--     scope = the rule's path; evidence = `robots.txt:<line>: <rule>` or the status note.
--   Content-Usage in robots.txt (aipref): per agent, the rule(s) whose path is the longest match decide
--     their whole statement (draft-ietf-aipref-attach-05 section 4; as verdicts read it); shorter matches
--     do not apply.
--   RSL terms (rsl): per use, the terms of the longest matching <content url> (equal lengths combine, a
--     refusal winning: the verdicts' reading, provenance.rsl).
--   Content-Signal in robots.txt (content-signals): every rule whose path matches.
--   tdmrep.json (tdmrep): the first rule whose location matches (TDMRep; file order = insertion order).
--   page signals: every one, except `noimageai` (scope `images`: the page's images, not its text).
-- Paths match as robots.txt patterns (RFC 9309 as signals.location_matches: prefix, `*` any characters,
-- trailing `$` end of path, case-sensitive) against the path + query of the URL (robots.consent.path_sql),
-- through a regex built here from the pattern. Uses are today's names (ai-use -> ai-input, train-genai ->
-- train-ai); `tdm` is the umbrella and is reported as `tdm`, not expanded into the narrower uses (as verdicts).
--
-- Decision rule, per (document, use, moment), applied in this order until one signal is left:
--   1. a refusal wins over a permission (allowed = false first): any party refusing is enough;
--   2. precedence of where it was said, most specific first:
--        1 x-robots-tag/meta noai, 2 aipref, 3 content-signals, 4 tdmrep (all four on the page itself: the
--          publisher attached them to this very response);
--        5 robots.txt groups (names the agent; what crawlers actually obey);
--        6 aipref Content-Usage in robots.txt (IETF, path-scoped), 7 Content Signals in robots.txt,
--        8 rsl (license terms named from robots.txt), 9 tdmrep.json (host-wide file, coarsest);
--   3. the source's name, then the longest scope (octets), then the agent, then the signal's place (list
--      index on the page, row id in robots_signals), then the evidence text.
-- So `decides` is true on exactly one row per document, use and moment.
--
-- Scale: robots.txt group rows are documents x agents; document_signal_evidence computes them on demand.
-- document_signal_deciders never expands agents: each (snapshot, group, path) decision is ranked once per use
-- with the first agent of the group in that use, and only the best one per (snapshot, path, use) meets the
-- documents (the reports count deciders from it); the other signals (few documents have any) are ranked among
-- themselves and the two winners compared per document, without a window over every document's rows. Only
-- documents of hosts that have robots_signals rows get a path, snapshots (ASOF join) and pattern matches. At 1M
-- documents (15 agents, 26k snapshots, a 2-core machine running a benchmark): the datasheet's counts ~3 s (the
-- whole facts.collect 4.5 -> 7.4 s), document_signal_evidence's 9.4M rows counted in 8 s.

CREATE TABLE consent_agent_purposes (
    agent    VARCHAR PRIMARY KEY,                -- the agents of the last consent evaluation
    purpose  VARCHAR NOT NULL                    -- training | search | user-triggered | mixed (agents.yaml)
);

-- Every applied signal but robots.txt group decisions, one row each, with the keys the decision ranks by.
CREATE VIEW signal_candidates AS
WITH page AS (
    SELECT x.shard_id, x.position,
           CASE x.s."use" WHEN 'ai-use' THEN 'ai-input' WHEN 'train-genai' THEN 'train-ai' ELSE x.s."use" END AS "use",
           'crawl' AS moment,
           CASE WHEN x.s.source IN ('x-robots-tag', 'meta-robots') THEN 'x-robots-tag/meta noai'
                WHEN x.s.source IN ('tdmrep-header', 'tdmrep-meta') THEN 'tdmrep'
                WHEN x.s.source IN ('content-usage-header', 'content-usage-meta') THEN 'aipref'
                WHEN x.s.source = 'content-signal-header' THEN 'content-signals'
                ELSE x.s.source END AS protocol,
           x.s.source AS source, lower(coalesce(x.s.agent, '*')) AS agent, x.s.allowed, x.s.scope, x.s.evidence,
           x.crawl_date AS observed_at, x.i::BIGINT AS tiebreak
    FROM (SELECT shard_id, position, crawl_date, unnest(page_signals) AS s, generate_subscripts(page_signals, 1) AS i
          FROM documents WHERE len(page_signals) > 0) x
    WHERE x.s.allowed IS NOT NULL AND x.s."use" IS NOT NULL AND coalesce(x.s.scope, '') <> 'images'
),
hosts AS (SELECT DISTINCT host FROM robots_signals),
docs AS (             -- only documents of hosts with such signals: the others need no path, snapshot or regex
    SELECT shard_id, position, host, crawl_date,
           regexp_extract(url, '^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*([^#]*)', 1) AS p   -- robots.consent.path_sql
    FROM documents WHERE host IN (SELECT host FROM hosts)
),
latest AS (
    SELECT host, arg_max(snapshot_id, captured_at) AS snapshot_id FROM robots_snapshots
    WHERE host IN (SELECT host FROM hosts) GROUP BY host
),
ds AS MATERIALIZED (  -- each document's path, and its snapshots at crawl time and now
    SELECT d.shard_id, d.position, d.host,
           CASE WHEN d.p = '' THEN '/' WHEN starts_with(d.p, '?') THEN '/' || d.p ELSE d.p END AS path,
           CASE WHEN cd.shard_id IS NULL THEN cs.snapshot_id ELSE cd.crawl_snapshot END AS crawl_snapshot,
           CASE WHEN cd.shard_id IS NULL THEN l.snapshot_id ELSE cd.now_snapshot END AS now_snapshot
    FROM docs d
    ASOF LEFT JOIN robots_snapshots cs ON d.host = cs.host AND d.crawl_date >= cs.captured_at
    LEFT JOIN consent_documents cd ON cd.shard_id = d.shard_id AND cd.position = d.position
    LEFT JOIN latest l ON l.host = d.host
),
moments AS (
    SELECT shard_id, position, host, path, 'crawl' AS moment, crawl_snapshot AS snapshot_id FROM ds
    WHERE crawl_snapshot IS NOT NULL
    UNION ALL
    SELECT shard_id, position, host, path, 'now', now_snapshot FROM ds WHERE now_snapshot IS NOT NULL
),
sigs AS (
    SELECT s.rowid AS rid, s.snapshot_id, s.host, s.source, s."use", s.allowed, lower(coalesce(s.agent, '*')) AS agent,
           s.scope, s.evidence,
           '(?s)^' || replace(regexp_replace(CASE WHEN ends_with(coalesce(s.scope, '/'), '$')
                                                  THEN left(s.scope, length(s.scope) - 1) ELSE coalesce(s.scope, '/') END,
                                             '([.+?^${}()|\[\]\\])', '\\\1', 'g'), '*', '.*')
               || CASE WHEN ends_with(coalesce(s.scope, '/'), '$') THEN '\z' ELSE '' END AS rx
    FROM robots_signals s WHERE s.allowed IS NOT NULL AND s."use" IS NOT NULL
),
robots AS (
    SELECT m.shard_id, m.position,
           CASE s."use" WHEN 'ai-use' THEN 'ai-input' WHEN 'train-genai' THEN 'train-ai' ELSE s."use" END AS "use",
           m.moment,
           CASE s.source WHEN 'content-usage-robots' THEN 'aipref' WHEN 'content-signal-robots' THEN 'content-signals'
                ELSE s.source END AS protocol,
           s.source, s.agent, s.allowed, s.scope, s.evidence, rs.captured_at AS observed_at, s.rid AS tiebreak
    FROM moments m
    JOIN sigs s ON s.snapshot_id = m.snapshot_id AND s.source <> 'tdmrep-json'
    LEFT JOIN robots_snapshots rs ON rs.snapshot_id = s.snapshot_id
    WHERE regexp_matches(m.path, s.rx)
    -- Content-Usage: per agent, only the longest matching path's statement applies; RSL: per use, the
    -- longest matching <content url>'s terms
    QUALIFY s.source NOT IN ('content-usage-robots', 'rsl')
         OR (s.source = 'content-usage-robots' AND strlen(coalesce(s.scope, '/')) = max(strlen(coalesce(s.scope, '/')))
                OVER (PARTITION BY m.shard_id, m.position, m.moment, s.source, s.agent))
         OR (s.source = 'rsl' AND strlen(coalesce(s.scope, '/')) = max(strlen(coalesce(s.scope, '/')))
                OVER (PARTITION BY m.shard_id, m.position, m.moment, s.source, s."use"))
),
tdm AS (
    SELECT d.shard_id, d.position, s."use", 'now' AS moment, 'tdmrep' AS protocol, s.source, s.agent, s.allowed,
           s.scope, s.evidence, NULL::TIMESTAMPTZ AS observed_at, s.rid AS tiebreak
    FROM ds d
    JOIN sigs s ON s.source = 'tdmrep-json' AND s.host = d.host
    WHERE regexp_matches(d.path, s.rx)
    QUALIFY row_number() OVER (PARTITION BY d.shard_id, d.position ORDER BY s.snapshot_id, s.rid) = 1
),
alls AS (
    SELECT * FROM page UNION ALL SELECT * FROM robots UNION ALL SELECT * FROM tdm
)
SELECT shard_id, position, "use", moment, protocol, source, agent, allowed, scope, evidence, observed_at,
       CASE protocol WHEN 'x-robots-tag/meta noai' THEN 1 WHEN 'robots.txt' THEN 5 WHEN 'rsl' THEN 8 WHEN 'tdmrep' THEN
                (CASE WHEN source = 'tdmrep-json' THEN 9 ELSE 4 END)
            WHEN 'aipref' THEN (CASE WHEN source = 'content-usage-robots' THEN 6 ELSE 2 END)
            WHEN 'content-signals' THEN (CASE WHEN source = 'content-signal-robots' THEN 7 ELSE 3 END)
            ELSE 10 END AS precedence,
       coalesce(strlen(scope), 0) AS scope_len, tiebreak
FROM alls;

-- robots.txt group decisions as signals, one row per document, moment, evaluated agent and use of its purpose
-- (documents x agents rows: computed on demand).
CREATE VIEW robots_group_signal_candidates AS
WITH purpose_uses(purpose, "use") AS (
    VALUES ('training', 'train-ai'), ('search', 'search'), ('user-triggered', 'ai-input'),
           ('mixed', 'train-ai'), ('mixed', 'search'), ('mixed', 'ai-input')
),
agent_uses AS (
    SELECT a.agent, pu."use"
    FROM consent_agents a LEFT JOIN consent_agent_purposes p ON p.agent = a.agent
    JOIN purpose_uses pu ON pu.purpose = coalesce(p.purpose, 'mixed')
),
moments AS (
    SELECT shard_id, position, path_key, 'crawl' AS moment, crawl_snapshot AS snapshot_id FROM consent_documents
    WHERE crawl_snapshot IS NOT NULL
    UNION ALL
    SELECT shard_id, position, path_key, 'now', now_snapshot FROM consent_documents WHERE now_snapshot IS NOT NULL
)
SELECT m.shard_id, m.position, au."use", m.moment, 'robots.txt' AS protocol, 'robots-txt-group' AS source,
       lower(g.agent) AS agent, dec.outcome = 'allowed' AS allowed,
       CASE WHEN dec.rule_line IS NOT NULL THEN trim(regexp_extract(dec.rule, '^[^:]*:(.*)$', 1)) END AS scope,
       CASE WHEN dec.rule_line IS NOT NULL THEN 'robots.txt:' || dec.rule_line || ': ' || dec.rule ELSE dec.rule END
           AS evidence,
       rs.captured_at AS observed_at, 5 AS precedence,
       coalesce(strlen(CASE WHEN dec.rule_line IS NOT NULL THEN trim(regexp_extract(dec.rule, '^[^:]*:(.*)$', 1)) END), 0)
           AS scope_len,
       0::BIGINT AS tiebreak
FROM moments m
JOIN consent_agent_groups g ON g.snapshot_id = m.snapshot_id
JOIN consent_decisions dec ON dec.snapshot_id = m.snapshot_id AND dec.gk = g.gk AND dec.path_key = m.path_key
JOIN agent_uses au ON au.agent = g.agent
LEFT JOIN robots_snapshots rs ON rs.snapshot_id = m.snapshot_id
WHERE dec.outcome IN ('allowed', 'disallowed') AND dec.rule IS NOT NULL;

-- The signal that decided, one row per (document, use, moment) with any signal. robots.txt group decisions are
-- ranked per (snapshot, group, path) with the group's first agent in each use, never per document and agent.
CREATE VIEW document_signal_deciders AS
WITH purpose_uses(purpose, "use") AS (
    VALUES ('training', 'train-ai'), ('search', 'search'), ('user-triggered', 'ai-input'),
           ('mixed', 'train-ai'), ('mixed', 'search'), ('mixed', 'ai-input')
),
agent_uses AS (
    SELECT a.agent, pu."use"
    FROM consent_agents a LEFT JOIN consent_agent_purposes p ON p.agent = a.agent
    JOIN purpose_uses pu ON pu.purpose = coalesce(p.purpose, 'mixed')
),
group_agent AS (   -- per (snapshot, group, use): the first of its agents (they share every decision)
    SELECT g.snapshot_id, g.gk, au."use", min(lower(g.agent)) AS agent
    FROM consent_agent_groups g JOIN agent_uses au ON au.agent = g.agent GROUP BY ALL
),
group_best AS (    -- per (snapshot, path, use): the best group decision, ranked as below
    SELECT dec.snapshot_id, dec.path_key, ga."use", dec.outcome = 'allowed' AS allowed,
           CASE WHEN dec.rule_line IS NOT NULL THEN trim(regexp_extract(dec.rule, '^[^:]*:(.*)$', 1)) END AS scope,
           CASE WHEN dec.rule_line IS NOT NULL THEN 'robots.txt:' || dec.rule_line || ': ' || dec.rule ELSE dec.rule END
               AS evidence,
           ga.agent
    FROM consent_decisions dec JOIN group_agent ga ON ga.snapshot_id = dec.snapshot_id AND ga.gk = dec.gk
    WHERE dec.outcome IN ('allowed', 'disallowed') AND dec.rule IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY dec.snapshot_id, dec.path_key, ga."use"
                               ORDER BY allowed, coalesce(strlen(scope), 0) DESC, ga.agent, evidence) = 1
),
moments AS (
    SELECT shard_id, position, path_key, 'crawl' AS moment, crawl_snapshot AS snapshot_id FROM consent_documents
    WHERE crawl_snapshot IS NOT NULL
    UNION ALL
    SELECT shard_id, position, path_key, 'now', now_snapshot FROM consent_documents WHERE now_snapshot IS NOT NULL
),
other_best AS (   -- the best of the other signals (few documents have any): a window over them only
    SELECT shard_id, position, "use", moment,
           {'allowed': allowed, 'precedence': precedence, 'source': source, 'scope_len': -scope_len, 'agent': agent,
            'tiebreak': tiebreak, 'evidence': coalesce(evidence, '')} AS k,
           {'protocol': protocol, 'source': source, 'agent': agent, 'allowed': allowed, 'scope': scope,
            'evidence': evidence, 'observed_at': observed_at, 'tiebreak': tiebreak} AS v
    FROM signal_candidates
    QUALIFY row_number() OVER (PARTITION BY shard_id, position, "use", moment
                               ORDER BY allowed, precedence, source, scope_len DESC, agent, tiebreak,
                                        coalesce(evidence, '')) = 1
),
robots_best AS (  -- the best robots.txt group decision of each document's snapshot and path
    SELECT m.shard_id, m.position, b."use", m.moment,
           {'allowed': b.allowed, 'precedence': 5, 'source': 'robots-txt-group',
            'scope_len': -coalesce(strlen(b.scope), 0), 'agent': b.agent, 'tiebreak': 0::BIGINT,
            'evidence': coalesce(b.evidence, '')} AS k,
           {'protocol': 'robots.txt', 'source': 'robots-txt-group', 'agent': b.agent, 'allowed': b.allowed,
            'scope': b.scope, 'evidence': b.evidence, 'observed_at': rs.captured_at, 'tiebreak': 0::BIGINT} AS v
    FROM moments m JOIN group_best b ON b.snapshot_id = m.snapshot_id AND b.path_key = m.path_key
    LEFT JOIN robots_snapshots rs ON rs.snapshot_id = m.snapshot_id
),
best AS (         -- the smaller key of the two (a join, not a window over every document's rows)
    SELECT coalesce(o.shard_id, r.shard_id) AS shard_id, coalesce(o.position, r.position) AS position,
           coalesce(o."use", r."use") AS "use", coalesce(o.moment, r.moment) AS moment,
           CASE WHEN r.k IS NULL OR (o.k IS NOT NULL AND o.k < r.k) THEN o.v ELSE r.v END AS b
    FROM other_best o
    FULL JOIN robots_best r ON r.shard_id = o.shard_id AND r.position = o.position AND r."use" = o."use"
                           AND r.moment = o.moment
)
SELECT shard_id, position, "use", moment, b.protocol, b.source, b.agent, b.allowed, b.scope, b.evidence, b.observed_at,
       b.tiebreak
FROM best;

-- One row per (document, use, signal that applied), `decides` on the one that decided for its moment.
CREATE VIEW document_signal_evidence AS
WITH cands AS (
    SELECT shard_id, position, "use", moment, protocol, source, agent, allowed, scope, evidence, observed_at, tiebreak
    FROM signal_candidates
    UNION ALL
    SELECT shard_id, position, "use", moment, protocol, source, agent, allowed, scope, evidence, observed_at, tiebreak
    FROM robots_group_signal_candidates
)
SELECT c.shard_id, c.position, c."use", c.moment, c.protocol, c.source, c.agent, c.allowed, c.scope, c.evidence,
       c.observed_at,
       coalesce(d.source = c.source AND d.agent = c.agent AND d.tiebreak = c.tiebreak, false) AS decides
FROM cands c
LEFT JOIN document_signal_deciders d
       ON d.shard_id = c.shard_id AND d.position = c.position AND d."use" = c."use" AND d.moment = c.moment;
