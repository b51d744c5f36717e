-- 0005: personal data and secrets. Findings keep type, offsets and a salted hash of the value (the salt is
-- per ledger: the same value links inside one ledger, not across ledgers); `value` stays null unless the
-- scan was asked to keep raw values (--keep-pii-values).

CREATE TABLE ledger_meta (
    key    VARCHAR PRIMARY KEY,
    value  VARCHAR NOT NULL
);

ALTER TABLE documents ADD COLUMN pii STRUCT(type VARCHAR, "start" BIGINT, "end" BIGINT, hash VARCHAR, value VARCHAR)[];
ALTER TABLE documents ADD COLUMN pii_count INTEGER;

CREATE VIEW pii_findings AS
SELECT shard_id, position, url, host, registered_domain, f.type, f."start", f."end", f.hash, f.value
FROM (SELECT shard_id, position, url, host, registered_domain, unnest(pii) AS f FROM documents WHERE pii_count > 0);

-- Per type: findings, documents, distinct values (by hash), share of all documents.
CREATE VIEW pii_by_type AS
WITH t AS (SELECT count(*) AS n FROM documents)
SELECT type,
       count(*)                                        AS findings,
       count(DISTINCT (shard_id, position))            AS documents,
       count(DISTINCT hash)                            AS distinct_values,
       count(DISTINCT registered_domain)               AS domains,
       count(DISTINCT (shard_id, position)) / any_value(t.n) AS share_documents
FROM pii_findings, t
GROUP BY type;

CREATE VIEW pii_by_domain AS
SELECT d.registered_domain,
       count(*)                                         AS documents,
       count(*) FILTER (d.pii_count > 0)                AS documents_with_pii,
       coalesce(sum(d.pii_count), 0)::BIGINT            AS findings,
       count(*) FILTER (d.pii_count > 0) / count(*)     AS share_documents_with_pii
FROM documents d
GROUP BY d.registered_domain;

CREATE VIEW pii_summary AS
SELECT count(*)                                          AS documents,
       count(*) FILTER (pii_count > 0)                   AS documents_with_pii,
       count(*) FILTER (pii_count > 0) / count(*)        AS share_documents_with_pii,
       coalesce(sum(pii_count), 0)::BIGINT               AS findings,
       count(*) FILTER (pii_count IS NULL)               AS documents_not_scanned_for_pii
FROM documents;
