-- 0006: near-duplicates (MinHash signatures stay in the per-shard Parquet sinks; the ledger keeps where
-- they are, the clusters, and takedown requests with what they matched).

ALTER TABLE shards ADD COLUMN annotations_path VARCHAR;   -- the shard's per-document sink (signatures live there)

-- The last clustering: one row per document that has at least one near-duplicate.
CREATE TABLE document_duplicates (
    shard_id        VARCHAR NOT NULL,
    position        BIGINT NOT NULL,
    cluster_id      BIGINT NOT NULL,                 -- the key of the cluster's representative
    cluster_size    INTEGER NOT NULL,
    representative  BOOLEAN NOT NULL                 -- one document per cluster (the first in ledger order)
);

CREATE TABLE dedup_runs (
    run_at           TIMESTAMPTZ NOT NULL,
    threshold        DOUBLE NOT NULL,
    num_perm         INTEGER NOT NULL,
    bands            INTEGER NOT NULL,
    band_rows        INTEGER NOT NULL,
    documents        BIGINT NOT NULL,
    candidate_pairs  BIGINT NOT NULL,
    verified_pairs   BIGINT NOT NULL,
    clusters         BIGINT NOT NULL,
    duplicates       BIGINT NOT NULL,                -- documents in clusters minus one per cluster
    seconds          DOUBLE
);

CREATE TABLE takedown_requests (
    request_id  VARCHAR PRIMARY KEY,
    added_at    TIMESTAMPTZ NOT NULL,
    kind        VARCHAR NOT NULL,                    -- text | document | urls
    source      VARCHAR,
    note        VARCHAR,
    threshold   DOUBLE NOT NULL
);

CREATE TABLE takedown_items (
    request_id  VARCHAR NOT NULL,
    item        INTEGER NOT NULL,
    url         VARCHAR,
    minhash     UINTEGER[]
);

CREATE TABLE takedown_matches (
    shard_id    VARCHAR NOT NULL,
    position    BIGINT NOT NULL,
    request_id  VARCHAR NOT NULL,
    similarity  DOUBLE NOT NULL,                     -- estimated Jaccard to the closest item (1.0 for a URL match)
    matched_by  VARCHAR NOT NULL                     -- minhash | url
);

CREATE VIEW duplicate_clusters AS
SELECT g.cluster_id, any_value(g.cluster_size) AS size, any_value(d.url) FILTER (g.representative) AS representative_url,
       count(DISTINCT d.registered_domain) AS domains, sum(d.words)::BIGINT AS words
FROM document_duplicates g JOIN documents d USING (shard_id, position)
GROUP BY g.cluster_id;

-- Per domain: documents, documents that have a near-duplicate, and those that are a redundant copy.
CREATE VIEW duplicates_by_domain AS
SELECT d.registered_domain,
       count(*)                                                  AS documents,
       count(g.cluster_id)                                       AS in_clusters,
       count(*) FILTER (g.cluster_id IS NOT NULL AND NOT g.representative) AS duplicates,
       count(*) FILTER (g.cluster_id IS NOT NULL AND NOT g.representative) / count(*) AS duplicate_share
FROM documents d LEFT JOIN document_duplicates g USING (shard_id, position)
GROUP BY d.registered_domain;

-- Documents near-duplicate to a document with PII findings: redaction must not miss the copies.
CREATE VIEW pii_lookalikes AS
WITH c AS (
    SELECT g.cluster_id FROM document_duplicates g JOIN documents d USING (shard_id, position)
    WHERE d.pii_count > 0 GROUP BY g.cluster_id
)
SELECT g.shard_id, g.position, g.cluster_id, d.url, coalesce(d.pii_count, 0) AS own_findings
FROM document_duplicates g JOIN c USING (cluster_id) JOIN documents d USING (shard_id, position);

-- Code from reference indexes found in documents (provenance index build; scan --code-index DIR).
ALTER TABLE documents ADD COLUMN code_matches STRUCT(ref VARCHAR, license VARCHAR, containment DOUBLE, similarity DOUBLE, "start" BIGINT, "end" BIGINT, coverage DOUBLE)[];

CREATE VIEW code_matches AS
SELECT shard_id, position, url, registered_domain, m.ref, m.license, m.containment, m.similarity, m."start", m."end", m.coverage
FROM (SELECT shard_id, position, url, registered_domain, unnest(code_matches) AS m FROM documents WHERE len(code_matches) > 0);

CREATE VIEW code_matches_by_license AS
SELECT coalesce(c.license, 'unknown') AS license, coalesce(f.family, 'unknown') AS family,
       count(*) AS matches, count(DISTINCT (c.shard_id, c.position)) AS documents, count(DISTINCT c.ref) AS reference_files
FROM code_matches c LEFT JOIN rules_license_families f ON f.spdx = c.license
GROUP BY ALL;
