-- 0002: robots.txt snapshots, per-document per-agent consent, page-level signals, consent changes.

CREATE TABLE robots_snapshots (
    snapshot_id   VARCHAR PRIMARY KEY,           -- hash of host, source, capture time and body: re-imports are idempotent
    host          VARCHAR NOT NULL,              -- normalised host (as documents.host)
    source        VARCHAR NOT NULL,              -- live | cc-warc | folder | jsonl
    captured_at   TIMESTAMPTZ NOT NULL,          -- fetch time (live) or capture time (Common Crawl WARC-Date)
    url           VARCHAR,
    http_status   INTEGER,
    outcome       VARCHAR NOT NULL,              -- parsed | allow_all (4xx, unavailable) | disallow_all (5xx, unreachable) | unknown
    body_sha256   VARCHAR,
    body          VARCHAR,                       -- at most 500 KiB, decoded as UTF-8 (RFC 9309 §2.5)
    n_bytes       BIGINT,
    truncated     BOOLEAN,
    error         VARCHAR,
    imported_at   TIMESTAMPTZ NOT NULL
);

-- One row per document and evaluated agent: the outcome when the page was crawled (latest snapshot at or
-- before documents.crawl_date) and now (latest snapshot), with the rule line that decided.
CREATE TABLE document_consent (
    shard_id         VARCHAR NOT NULL,
    position         BIGINT NOT NULL,
    agent            VARCHAR NOT NULL,
    crawl_outcome    VARCHAR NOT NULL,            -- allowed | disallowed | unknown (no snapshot at or before the crawl date)
    crawl_snapshot   VARCHAR,
    crawl_rule_line  INTEGER,
    crawl_rule       VARCHAR,                     -- e.g. 'Disallow: /' or '(HTTP 503: disallow all)'
    now_outcome      VARCHAR NOT NULL,
    now_snapshot     VARCHAR,
    now_rule_line    INTEGER,
    now_rule         VARCHAR
);

-- Hosts that started or stopped disallowing an agent between two snapshots (written by a refresh).
CREATE TABLE consent_changes (
    detected_at      TIMESTAMPTZ NOT NULL,
    host             VARCHAR NOT NULL,
    agent            VARCHAR NOT NULL,
    change           VARCHAR NOT NULL,            -- started_disallowing | stopped_disallowing
    before_snapshot  VARCHAR,
    after_snapshot   VARCHAR,
    documents        BIGINT,                      -- documents of this host (any path) now disallowed / now allowed
    words            BIGINT
);

-- Consent signals from robots.txt beyond allow/disallow (Content-Signal, Content-Usage), per snapshot.
CREATE TABLE robots_signals (
    snapshot_id  VARCHAR NOT NULL,
    host         VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    use          VARCHAR NOT NULL,
    allowed      BOOLEAN NOT NULL,
    agent        VARCHAR NOT NULL,
    scope        VARCHAR,
    evidence     VARCHAR
);

-- Share of documents and of words each agent may not use, at crawl time and now.
CREATE VIEW consent_by_agent AS
WITH j AS (
    SELECT c.agent, c.crawl_outcome, c.now_outcome, d.words FROM document_consent c JOIN documents d USING (shard_id, position)
)
SELECT agent,
       count(*)                                                             AS documents,
       sum(words)::BIGINT                                                   AS words,
       count(*) FILTER (crawl_outcome = 'disallowed')                       AS disallowed_docs_crawl,
       count(*) FILTER (now_outcome = 'disallowed')                         AS disallowed_docs_now,
       count(*) FILTER (crawl_outcome = 'disallowed') / count(*)            AS share_docs_disallowed_crawl,
       count(*) FILTER (now_outcome = 'disallowed') / count(*)              AS share_docs_disallowed_now,
       coalesce(sum(words) FILTER (crawl_outcome = 'disallowed'), 0) / sum(words) AS share_words_disallowed_crawl,
       coalesce(sum(words) FILTER (now_outcome = 'disallowed'), 0) / sum(words)   AS share_words_disallowed_now,
       count(*) FILTER (crawl_outcome = 'unknown')                          AS unknown_docs_crawl,
       count(*) FILTER (now_outcome = 'unknown')                            AS unknown_docs_now
FROM j GROUP BY agent;

CREATE VIEW consent_by_domain AS
SELECT d.registered_domain, c.agent,
       count(*)                                                      AS documents,
       sum(d.words)::BIGINT                                          AS words,
       count(*) FILTER (c.crawl_outcome = 'disallowed')              AS disallowed_docs_crawl,
       count(*) FILTER (c.now_outcome = 'disallowed')                AS disallowed_docs_now,
       coalesce(sum(d.words) FILTER (c.now_outcome = 'disallowed'), 0) / sum(d.words) AS share_words_disallowed_now
FROM document_consent c JOIN documents d USING (shard_id, position)
GROUP BY d.registered_domain, c.agent;

-- Documents whose consent for an agent differs between crawl time and now (both known).
CREATE VIEW consent_changed_documents AS
SELECT d.shard_id, d.position, d.url, d.host, d.crawl_date, c.agent, c.crawl_outcome, c.now_outcome,
       c.crawl_rule, c.now_rule, d.words
FROM document_consent c JOIN documents d USING (shard_id, position)
WHERE c.crawl_outcome <> 'unknown' AND c.now_outcome <> 'unknown' AND c.crawl_outcome <> c.now_outcome;

-- Page-level signals found at scan time (list of {source, use, allowed, agent, scope, evidence}).
ALTER TABLE documents ADD COLUMN page_signals STRUCT(source VARCHAR, "use" VARCHAR, allowed BOOLEAN, agent VARCHAR, scope VARCHAR, evidence VARCHAR)[];

CREATE VIEW page_signals AS
SELECT shard_id, position, url, host, registered_domain, s.source, s."use", s.allowed, s.agent, s.scope, s.evidence
FROM (SELECT shard_id, position, url, host, registered_domain, unnest(page_signals) AS s FROM documents
      WHERE len(page_signals) > 0);
