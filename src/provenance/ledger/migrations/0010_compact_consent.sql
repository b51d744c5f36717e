-- 0010: compact consent. document_consent held one row per document and evaluated agent (15 million rows at
-- a million documents, 1.5 billion at 10^8). Decisions are now stored once per (snapshot, agent group, path),
-- with per document only what joins them: its snapshots (at crawl time and now) and a key of its path;
-- agents fall into a robots.txt group per snapshot (most into `*`). `document_consent` becomes a view with the
-- same columns, computed on demand; storage grows with documents + distinct decisions, not documents x agents.

CREATE TABLE consent_agents (
    agent  VARCHAR PRIMARY KEY                   -- the agents of the last evaluation
);

CREATE TABLE consent_documents (
    shard_id        VARCHAR NOT NULL,
    position        BIGINT NOT NULL,
    path_key        UBIGINT NOT NULL,            -- key of the document's robots.txt path (RFC 9309 §2.2.2) in consent_decisions
    crawl_snapshot  VARCHAR,                     -- latest snapshot at or before documents.crawl_date (NULL: none)
    now_snapshot    VARCHAR                      -- latest snapshot (NULL: none)
);

CREATE TABLE consent_agent_groups (
    snapshot_id  VARCHAR NOT NULL,
    agent        VARCHAR NOT NULL,
    gk           INTEGER NOT NULL                -- the robots.txt group the agent falls into (-1 none, -2 no rules: status)
);

CREATE TABLE consent_decisions (
    snapshot_id  VARCHAR NOT NULL,
    gk           INTEGER NOT NULL,
    path_key     UBIGINT NOT NULL,
    outcome      VARCHAR NOT NULL,               -- allowed | disallowed | unknown
    rule_line    INTEGER,
    rule         VARCHAR
);

-- What an earlier evaluation stored is kept exactly: each old row becomes a decision keyed by its document
-- (path_key from shard and position) and its agent (a group of its own); the next evaluation compacts it.
INSERT INTO consent_agents SELECT DISTINCT agent FROM document_consent;

CREATE TEMP TABLE _old_gk AS
SELECT agent, (row_number() OVER (ORDER BY agent) + 1000000)::INTEGER AS gk FROM consent_agents;

INSERT INTO consent_documents
SELECT DISTINCT shard_id, position, hash(shard_id, position), crawl_snapshot, now_snapshot FROM document_consent;

INSERT INTO consent_agent_groups
SELECT DISTINCT s.snapshot_id, g.agent, g.gk
FROM (SELECT crawl_snapshot AS snapshot_id FROM document_consent WHERE crawl_snapshot IS NOT NULL
      UNION SELECT now_snapshot FROM document_consent WHERE now_snapshot IS NOT NULL) s CROSS JOIN _old_gk g;

INSERT INTO consent_decisions
SELECT DISTINCT ON (snapshot_id, gk, path_key) snapshot_id, gk, path_key, outcome, rule_line, rule FROM (
    SELECT c.crawl_snapshot AS snapshot_id, g.gk, hash(c.shard_id, c.position) AS path_key, c.crawl_outcome AS outcome,
           c.crawl_rule_line AS rule_line, c.crawl_rule AS rule
    FROM document_consent c JOIN _old_gk g USING (agent) WHERE c.crawl_snapshot IS NOT NULL
    UNION ALL
    SELECT c.now_snapshot, g.gk, hash(c.shard_id, c.position), c.now_outcome, c.now_rule_line, c.now_rule
    FROM document_consent c JOIN _old_gk g USING (agent) WHERE c.now_snapshot IS NOT NULL);

DROP TABLE _old_gk;
DROP TABLE document_consent;

-- One row per document and evaluated agent (the columns of the former table).
CREATE VIEW document_consent AS
SELECT d.shard_id, d.position, a.agent,
       coalesce(c.outcome, 'unknown') AS crawl_outcome, d.crawl_snapshot, c.rule_line AS crawl_rule_line, c.rule AS crawl_rule,
       coalesce(n.outcome, 'unknown') AS now_outcome, d.now_snapshot, n.rule_line AS now_rule_line, n.rule AS now_rule
FROM consent_documents d CROSS JOIN consent_agents a
LEFT JOIN consent_agent_groups cg ON cg.snapshot_id = d.crawl_snapshot AND cg.agent = a.agent
LEFT JOIN consent_decisions c ON c.snapshot_id = d.crawl_snapshot AND c.gk = cg.gk AND c.path_key = d.path_key
LEFT JOIN consent_agent_groups ng ON ng.snapshot_id = d.now_snapshot AND ng.agent = a.agent
LEFT JOIN consent_decisions n ON n.snapshot_id = d.now_snapshot AND n.gk = ng.gk AND n.path_key = d.path_key;
