-- 0011: consent_by_agent counted per robots.txt group, not per document and agent. The decisions of one
-- (snapshot, agent group) are the same for every agent in the group, so documents and words are summed per
-- (snapshot, group, outcome) first (documents x groups per snapshot, most snapshots have one or two) and only
-- those sums are spread to the agents. Same columns and values as the view of 0002 over document_consent.

CREATE OR REPLACE VIEW consent_by_agent AS
WITH docs AS (
    SELECT c.crawl_snapshot, c.now_snapshot, c.path_key, d.words
    FROM consent_documents c JOIN documents d USING (shard_id, position)
),
snap_groups AS (SELECT DISTINCT snapshot_id, gk FROM consent_agent_groups),
at_crawl AS (
    SELECT x.crawl_snapshot AS snapshot_id, g.gk, coalesce(dec.outcome, 'unknown') AS outcome,
           count(*) AS n, sum(x.words) AS w
    FROM docs x
    LEFT JOIN snap_groups g ON g.snapshot_id = x.crawl_snapshot
    LEFT JOIN consent_decisions dec ON dec.snapshot_id = x.crawl_snapshot AND dec.gk = g.gk AND dec.path_key = x.path_key
    GROUP BY ALL
),
at_now AS (
    SELECT x.now_snapshot AS snapshot_id, g.gk, coalesce(dec.outcome, 'unknown') AS outcome,
           count(*) AS n, sum(x.words) AS w
    FROM docs x
    LEFT JOIN snap_groups g ON g.snapshot_id = x.now_snapshot
    LEFT JOIN consent_decisions dec ON dec.snapshot_id = x.now_snapshot AND dec.gk = g.gk AND dec.path_key = x.path_key
    GROUP BY ALL
),
-- each (snapshot, group) sum to the agents in that group; documents without a snapshot to every agent
spread AS (
    SELECT a.agent, 'crawl' AS moment, s.outcome, s.n, s.w
    FROM at_crawl s JOIN consent_agents a ON true
    LEFT JOIN consent_agent_groups ag ON ag.snapshot_id = s.snapshot_id AND ag.agent = a.agent
    WHERE s.snapshot_id IS NULL OR ag.gk = s.gk
    UNION ALL
    SELECT a.agent, 'now', s.outcome, s.n, s.w
    FROM at_now s JOIN consent_agents a ON true
    LEFT JOIN consent_agent_groups ag ON ag.snapshot_id = s.snapshot_id AND ag.agent = a.agent
    WHERE s.snapshot_id IS NULL OR ag.gk = s.gk
)
SELECT agent,
       sum(n) FILTER (moment = 'now')::BIGINT                                                  AS documents,
       sum(w) FILTER (moment = 'now')::BIGINT                                                  AS words,
       coalesce(sum(n) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0)::BIGINT        AS disallowed_docs_crawl,
       coalesce(sum(n) FILTER (moment = 'now' AND outcome = 'disallowed'), 0)::BIGINT          AS disallowed_docs_now,
       coalesce(sum(n) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0) / sum(n) FILTER (moment = 'now')
                                                                                               AS share_docs_disallowed_crawl,
       coalesce(sum(n) FILTER (moment = 'now' AND outcome = 'disallowed'), 0) / sum(n) FILTER (moment = 'now')
                                                                                               AS share_docs_disallowed_now,
       coalesce(sum(w) FILTER (moment = 'crawl' AND outcome = 'disallowed'), 0) / sum(w) FILTER (moment = 'now')
                                                                                               AS share_words_disallowed_crawl,
       coalesce(sum(w) FILTER (moment = 'now' AND outcome = 'disallowed'), 0) / sum(w) FILTER (moment = 'now')
                                                                                               AS share_words_disallowed_now,
       coalesce(sum(n) FILTER (moment = 'crawl' AND outcome = 'unknown'), 0)::BIGINT           AS unknown_docs_crawl,
       coalesce(sum(n) FILTER (moment = 'now' AND outcome = 'unknown'), 0)::BIGINT             AS unknown_docs_now
FROM spread GROUP BY agent;
