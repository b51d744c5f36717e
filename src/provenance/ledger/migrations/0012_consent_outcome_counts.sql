-- 0012: documents and words per (registered domain, agent, moment, outcome), counted per robots.txt group as
-- in 0011, in one view that consent_by_agent, consent_by_domain and the datasheet read (consent_by_domain and
-- the datasheet joined document_consent: documents x agents rows). A document's snapshot at crawl time and now
-- go through the same join (one row per moment); the decisions of one (snapshot, agent group) are the same
-- for every agent in the group, so documents and words are summed per (domain, snapshot, group, outcome)
-- first and only those sums are spread to the agents. Documents without a snapshot count as `unknown` for
-- every agent. consent_by_agent and consent_by_domain keep the columns, types and values of 0002.

CREATE OR REPLACE VIEW consent_outcome_counts AS
WITH docs AS (
    SELECT m.moment, CASE m.moment WHEN 'crawl' THEN c.crawl_snapshot ELSE c.now_snapshot END AS snapshot_id,
           c.path_key, d.registered_domain, d.words
    FROM consent_documents c JOIN documents d USING (shard_id, position)
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

CREATE OR REPLACE VIEW consent_by_agent AS
SELECT agent,
       sum(documents) FILTER (moment = 'now')::BIGINT                                                  AS documents,
       sum(words) FILTER (moment = 'now')::BIGINT                                                      AS words,
       coalesce(sum(documents) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0)::BIGINT        AS disallowed_docs_crawl,
       coalesce(sum(documents) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)::BIGINT          AS disallowed_docs_now,
       coalesce(sum(documents) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0)
           / sum(documents) FILTER (moment = 'now')                                                    AS share_docs_disallowed_crawl,
       coalesce(sum(documents) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)
           / sum(documents) FILTER (moment = 'now')                                                    AS share_docs_disallowed_now,
       coalesce(sum(words) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0)
           / sum(words) FILTER (moment = 'now')                                                        AS share_words_disallowed_crawl,
       coalesce(sum(words) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)
           / sum(words) FILTER (moment = 'now')                                                        AS share_words_disallowed_now,
       coalesce(sum(documents) FILTER (moment = 'crawl' AND outcome = 'unknown'), 0)::BIGINT           AS unknown_docs_crawl,
       coalesce(sum(documents) FILTER (moment = 'now' AND outcome = 'unknown'), 0)::BIGINT             AS unknown_docs_now
FROM consent_outcome_counts GROUP BY agent;

CREATE OR REPLACE VIEW consent_by_domain AS
SELECT registered_domain, agent,
       sum(documents) FILTER (moment = 'now')::BIGINT                                                  AS documents,
       sum(words) FILTER (moment = 'now')::BIGINT                                                      AS words,
       coalesce(sum(documents) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0)::BIGINT        AS disallowed_docs_crawl,
       coalesce(sum(documents) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)::BIGINT          AS disallowed_docs_now,
       coalesce(sum(words) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)
           / sum(words) FILTER (moment = 'now')                                                        AS share_words_disallowed_now
FROM consent_outcome_counts GROUP BY registered_domain, agent;
