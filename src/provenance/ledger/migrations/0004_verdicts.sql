-- 0004: licenses found in documents, Terms-of-Service rules, verdicts per document under a policy.

-- License notices found at scan time (provenance.licenses: CC, SPDX tags, header notices) and the primary one.
ALTER TABLE documents ADD COLUMN licenses STRUCT(spdx VARCHAR, kind VARCHAR, port VARCHAR, "start" BIGINT, "end" BIGINT, evidence VARCHAR)[];
ALTER TABLE documents ADD COLUMN license VARCHAR;

-- tos.yaml, one row per clause.
CREATE TABLE rules_tos (
    domain       VARCHAR NOT NULL,               -- a host or a registered domain
    clause       VARCHAR NOT NULL,               -- no-scraping-and-ai | no-ai | no-scraping | conditional | unrestricted | non-commercial | no-redistribution | non-compete
    source       VARCHAR NOT NULL,               -- URL of the terms
    seen         DATE NOT NULL,
    evidence     VARCHAR NOT NULL,               -- quotation
    section      VARCHAR,
    reported_by  VARCHAR,
    note         VARCHAR
);

-- One row per document: the verdict of the last `provenance verdicts` (or scan) under a policy.
CREATE TABLE document_verdicts (
    shard_id  VARCHAR NOT NULL,
    position  BIGINT NOT NULL,
    verdict   VARCHAR NOT NULL,                  -- include | exclude | review
    reasons   VARCHAR[] NOT NULL                 -- reason codes whose action is exclude or review, sorted
);

-- Each evaluation: which policy and rules produced document_verdicts.
CREATE TABLE verdict_runs (
    evaluation_id  VARCHAR PRIMARY KEY,
    evaluated_at   TIMESTAMPTZ NOT NULL,
    policy         VARCHAR NOT NULL,
    purpose        VARCHAR NOT NULL,
    policy_json    JSON NOT NULL,
    rules_hash     VARCHAR NOT NULL,
    documents      BIGINT NOT NULL,
    included       BIGINT NOT NULL,
    excluded       BIGINT NOT NULL,
    review         BIGINT NOT NULL,
    seconds        DOUBLE
);

-- A document's effective license: found in the document, else its host's or registered domain's (licenses.yaml).
CREATE VIEW document_licenses AS
SELECT d.shard_id, d.position,
       coalesce(d.license, h.spdx, r.spdx)                                                  AS license,
       CASE WHEN d.license IS NOT NULL THEN 'document'
            WHEN coalesce(h.spdx, r.spdx) IS NOT NULL THEN 'domain' ELSE 'none' END         AS license_source,
       coalesce(f.family, 'unknown')                                                       AS family
FROM documents d
LEFT JOIN rules_domain_licenses h ON h.domain = d.host
LEFT JOIN rules_domain_licenses r ON r.domain = d.registered_domain
LEFT JOIN rules_license_families f ON f.spdx = coalesce(d.license, h.spdx, r.spdx);

CREATE VIEW composition_by_license_family AS
SELECT
    row_number() OVER (ORDER BY sum(d.words) DESC, l.family) AS rank,
    l.family,
    count(DISTINCT l.license)                                AS licenses,
    count(*)                                                 AS documents,
    sum(d.words)::BIGINT                                     AS words,
    count(*) FILTER (l.license_source = 'document')          AS found_in_document,
    count(*) FILTER (l.license_source = 'domain')            AS from_domain,
    count(*) / sum(count(*)) OVER ()                         AS share_documents,
    sum(d.words) / sum(sum(d.words)) OVER ()                 AS share_words
FROM documents d JOIN document_licenses l USING (shard_id, position)
GROUP BY l.family;

-- A domain's ToS summary: the most restrictive class clause, and the restrictions.
CREATE VIEW tos_domains AS
SELECT domain,
       CASE WHEN bool_or(clause = 'no-scraping-and-ai') THEN 'no-scraping-and-ai'
            WHEN bool_or(clause = 'no-ai') THEN 'no-ai'
            WHEN bool_or(clause = 'no-scraping') THEN 'no-scraping'
            WHEN bool_or(clause = 'conditional') THEN 'conditional'
            WHEN bool_or(clause = 'unrestricted') THEN 'unrestricted' END AS tos_class,
       bool_or(clause = 'non-commercial')     AS non_commercial,
       bool_or(clause = 'no-redistribution')  AS no_redistribution,
       bool_or(clause = 'non-compete')        AS non_compete,
       list(DISTINCT clause ORDER BY clause)  AS clauses
FROM rules_tos GROUP BY domain;

-- A document's ToS: its host's entry, else its registered domain's (the whole entry, not a mix).
CREATE VIEW document_tos AS
SELECT d.shard_id, d.position, t.domain AS tos_domain,
       CASE WHEN t.domain IS NULL THEN 'no-terms-listed' ELSE coalesce(t.tos_class, 'restrictions-only') END AS tos_class,
       coalesce(t.non_commercial, false)       AS non_commercial,
       coalesce(t.no_redistribution, false)    AS no_redistribution,
       coalesce(t.non_compete, false)          AS non_compete,
       coalesce(t.clauses, []::VARCHAR[])      AS clauses
FROM documents d
LEFT JOIN tos_domains t ON t.domain = CASE WHEN d.host IN (SELECT domain FROM tos_domains) THEN d.host ELSE d.registered_domain END;

CREATE VIEW composition_by_tos_class AS
SELECT
    row_number() OVER (ORDER BY sum(d.words) DESC, t.tos_class) AS rank,
    t.tos_class,
    count(DISTINCT t.tos_domain)                                AS domains,
    count(*)                                                    AS documents,
    sum(d.words)::BIGINT                                        AS words,
    count(*) FILTER (t.non_commercial)                          AS non_commercial_docs,
    count(*) FILTER (t.no_redistribution)                       AS no_redistribution_docs,
    count(*) / sum(count(*)) OVER ()                            AS share_documents,
    sum(d.words) / sum(sum(d.words)) OVER ()                    AS share_words
FROM documents d JOIN document_tos t USING (shard_id, position)
GROUP BY t.tos_class;

CREATE VIEW verdict_counts AS
SELECT v.verdict,
       count(*)                                   AS documents,
       sum(d.words)::BIGINT                       AS words,
       count(*) / sum(count(*)) OVER ()           AS share_documents,
       sum(d.words) / sum(sum(d.words)) OVER ()   AS share_words
FROM document_verdicts v JOIN documents d USING (shard_id, position)
GROUP BY v.verdict;

-- Documents and words by reason code (a document with several reasons counts under each).
CREATE VIEW verdict_reasons AS
SELECT r.reason, r.verdict,
       count(*)                 AS documents,
       sum(d.words)::BIGINT     AS words,
       count(DISTINCT d.registered_domain) AS domains
FROM (SELECT shard_id, position, verdict, unnest(reasons) AS reason FROM document_verdicts) r
JOIN documents d USING (shard_id, position)
GROUP BY r.reason, r.verdict;

-- What was left out (or held for review), and why.
CREATE VIEW excluded_documents AS
SELECT d.shard_id, d.position, d.doc_id, d.url, d.registered_domain, d.words, v.verdict, v.reasons
FROM document_verdicts v JOIN documents d USING (shard_id, position)
WHERE v.verdict <> 'include';
