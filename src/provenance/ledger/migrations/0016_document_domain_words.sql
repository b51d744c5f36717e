-- 0016: each document's registered domain and words beside its consent rows (consent_documents) and its verdict
-- (document_verdicts), so that the counts people read most -- consent_outcome_counts (consent_by_agent,
-- consent_by_domain, the datasheet, diff), verdict_counts and verdict_reasons -- no longer join those tables with
-- documents on (shard_id, position). Each such join of N x N rows was half of its query's time and spilled
-- (consent counts: 9 of 16 s at 10M documents; verdict_counts: 3.7 s at 5M). Consent evaluation and verdicts
-- write the columns; a rescanned shard's rows are refreshed from its new documents in the ingest's transaction,
-- and rows of documents a rescan removed are deleted, so the counts are those the joins gave (the documents
-- that are in the ledger).

-- Rebuilt rather than updated: an UPDATE of every row keeps its undo in memory and ran out of it at 5M documents
-- under the default budget; a new table is written like any insert, spilling. The join keeps only the rows of
-- documents still in the ledger (those the counts' join counted).
ALTER TABLE consent_documents RENAME TO _consent_documents_0015;

CREATE TABLE consent_documents (
    shard_id          VARCHAR NOT NULL,
    position          BIGINT NOT NULL,
    path_key          UBIGINT NOT NULL,
    crawl_snapshot    VARCHAR,
    now_snapshot      VARCHAR,
    registered_domain VARCHAR,                 -- the document's, as when evaluated (a rescan refreshes it)
    words             BIGINT                   -- the same
);

INSERT INTO consent_documents
SELECT c.shard_id, c.position, c.path_key, c.crawl_snapshot, c.now_snapshot, d.registered_domain, d.words
FROM _consent_documents_0015 c JOIN documents d ON d.shard_id = c.shard_id AND d.position = c.position;

DROP TABLE _consent_documents_0015;

-- 0012's view without the documents join (the same columns and values)
CREATE OR REPLACE VIEW consent_outcome_counts AS
WITH docs AS (
    SELECT m.moment, CASE m.moment WHEN 'crawl' THEN c.crawl_snapshot ELSE c.now_snapshot END AS snapshot_id,
           c.path_key, c.registered_domain, c.words
    FROM consent_documents c
    CROSS JOIN (VALUES ('crawl'), ('now')) m(moment)
),
snap_groups AS (SELECT DISTINCT snapshot_id, gk FROM consent_agent_groups),
per_group AS (
    SELECT x.registered_domain, x.moment, x.snapshot_id, g.gk, coalesce(dec.outcome, 'unknown') AS outcome,
           count(*) AS n, sum(x.words) AS w
    FROM docs x
    LEFT JOIN snap_groups g ON g.snapshot_id = x.snapshot_id
    LEFT JOIN consent_decisions dec ON dec.snapshot_id = x.snapshot_id AND dec.gk = g.gk AND dec.path_key = x.path_key
    GROUP BY ALL
)
SELECT s.registered_domain, a.agent, s.moment, s.outcome, sum(s.n)::BIGINT AS documents, sum(s.w)::HUGEINT AS words
FROM per_group s JOIN consent_agents a ON true
LEFT JOIN consent_agent_groups ag ON ag.snapshot_id = s.snapshot_id AND ag.agent = a.agent
WHERE s.snapshot_id IS NULL OR ag.gk = s.gk
GROUP BY ALL;

ALTER TABLE document_verdicts RENAME TO _document_verdicts_0015;

CREATE TABLE document_verdicts (
    shard_id          VARCHAR NOT NULL,
    position          BIGINT NOT NULL,
    verdict           VARCHAR NOT NULL,          -- include | exclude | review
    reasons           VARCHAR[] NOT NULL,        -- reason codes whose action is exclude or review, sorted
    registered_domain VARCHAR,                   -- the document's (a rescan refreshes it)
    words             BIGINT                     -- the same
);

INSERT INTO document_verdicts
SELECT v.shard_id, v.position, v.verdict, v.reasons, d.registered_domain, d.words
FROM _document_verdicts_0015 v JOIN documents d ON d.shard_id = v.shard_id AND d.position = v.position;

DROP TABLE _document_verdicts_0015;

-- 0004's views without the documents join (the same columns and values)
CREATE OR REPLACE VIEW verdict_counts AS
SELECT verdict,
       count(*)                                   AS documents,
       sum(words)::BIGINT                         AS words,
       count(*) / sum(count(*)) OVER ()           AS share_documents,
       sum(words) / sum(sum(words)) OVER ()       AS share_words
FROM document_verdicts
GROUP BY verdict;

CREATE OR REPLACE VIEW verdict_reasons AS
SELECT r.reason, r.verdict,
       count(*)                 AS documents,
       sum(r.words)::BIGINT     AS words,
       count(DISTINCT r.registered_domain) AS domains
FROM (SELECT verdict, registered_domain, words, unnest(reasons) AS reason FROM document_verdicts) r
GROUP BY r.reason, r.verdict;
