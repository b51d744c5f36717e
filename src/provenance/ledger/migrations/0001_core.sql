-- 0001: the core ledger: runs, shards, documents, quarantine, and the composition views.

CREATE TABLE runs (
    run_id           VARCHAR PRIMARY KEY,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    status           VARCHAR NOT NULL,          -- running | done | failed
    package_version  VARCHAR NOT NULL,
    rules_hash       VARCHAR NOT NULL,
    config_hash      VARCHAR NOT NULL,
    config           JSON,
    shards_total     INTEGER,
    shards_scanned   INTEGER,
    shards_skipped   INTEGER,
    rows_read        BIGINT,
    documents        BIGINT,
    quarantined      BIGINT,
    seconds          DOUBLE,
    timings          JSON
);

CREATE TABLE shards (
    shard_id     VARCHAR PRIMARY KEY,            -- from the canonical URI: a rescan replaces the shard's rows
    uri          VARCHAR NOT NULL,
    format       VARCHAR NOT NULL,
    fingerprint  VARCHAR NOT NULL,               -- URI + size + mtime/ETag: unchanged shards are skipped
    config_hash  VARCHAR NOT NULL,               -- scanners + options + rules
    status       VARCHAR NOT NULL,               -- done | partial | failed
    rows_read    BIGINT NOT NULL,
    documents    BIGINT NOT NULL,
    quarantined  BIGINT NOT NULL,                -- record-level quarantines (rows_read = documents + quarantined)
    bytes        BIGINT,
    words        BIGINT,
    error        VARCHAR,                        -- shard-level problem (missing, truncated, unreadable, failed)
    run_id       VARCHAR NOT NULL,
    scanned_at   TIMESTAMPTZ NOT NULL,
    seconds      DOUBLE
);

CREATE TABLE documents (
    shard_id           VARCHAR NOT NULL,
    position           BIGINT NOT NULL,          -- line (JSONL, 1-based) | row (Parquet) | byte offset (WARC)
    doc_id             VARCHAR NOT NULL,
    url                VARCHAR NOT NULL,
    host               VARCHAR,
    registered_domain  VARCHAR,                  -- eTLD+1, Public Suffix List with its private section
    suffix             VARCHAR,
    crawl_date         TIMESTAMPTZ,
    crawl              VARCHAR,
    language           VARCHAR,
    bytes              BIGINT NOT NULL,          -- UTF-8 bytes of the text
    words              BIGINT NOT NULL,          -- whitespace-separated words: the "tokens" of composition tables
    run_id             VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    shard_id  VARCHAR NOT NULL,
    uri       VARCHAR NOT NULL,
    position  BIGINT,                            -- null: the whole shard (or the rest of it)
    kind      VARCHAR NOT NULL,                  -- record | shard
    reason    VARCHAR NOT NULL,
    detail    VARCHAR,
    n_bytes   BIGINT,
    run_id    VARCHAR NOT NULL
);

-- The C4-paper table: rank, domain, share of documents and of all tokens (words).
CREATE VIEW composition_by_domain AS
SELECT
    row_number() OVER (ORDER BY sum(words) DESC, registered_domain NULLS LAST) AS rank,
    registered_domain,
    count(*)                                        AS documents,
    sum(words)::BIGINT                              AS words,
    sum(bytes)::BIGINT                              AS bytes,
    count(*) / sum(count(*)) OVER ()                AS share_documents,
    sum(words) / sum(sum(words)) OVER ()            AS share_words
FROM documents
GROUP BY registered_domain;

CREATE VIEW composition_by_suffix AS
SELECT
    row_number() OVER (ORDER BY sum(words) DESC, suffix NULLS LAST) AS rank,
    suffix,
    count(DISTINCT registered_domain)               AS domains,
    count(*)                                        AS documents,
    sum(words)::BIGINT                              AS words,
    sum(bytes)::BIGINT                              AS bytes,
    count(*) / sum(count(*)) OVER ()                AS share_documents,
    sum(words) / sum(sum(words)) OVER ()            AS share_words
FROM documents
GROUP BY suffix;

-- Every shard's accounting: rows read = documents + record quarantines, as recorded and as present.
CREATE VIEW shard_reconciliation AS
SELECT
    s.shard_id, s.uri, s.status, s.rows_read, s.documents, s.quarantined,
    (SELECT count(*) FROM documents d WHERE d.shard_id = s.shard_id)                          AS documents_present,
    (SELECT count(*) FROM quarantine q WHERE q.shard_id = s.shard_id AND q.kind = 'record')   AS quarantined_present,
    s.rows_read = s.documents + s.quarantined                                                 AS reconciles
FROM shards s;
