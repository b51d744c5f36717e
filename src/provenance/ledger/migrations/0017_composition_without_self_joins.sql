-- 0017: the compositions by category and by license family read each document once. document_categories and
-- document_licenses are views over documents; the compositions (and the datasheet's top domains and top
-- licenses) joined them with documents again on (shard_id, position) for the words and the registered domain:
-- a join of documents with themselves, N x N rows, that spilled from a few million documents on (at 10M: 4.6 s
-- for the categories, 4.2 s for the license families, out of the datasheet's 27 s of facts).
--
-- categorized_documents and licensed_documents are the two lookups with the document's registered domain and
-- words beside them; document_categories and document_licenses keep their columns and now read them.

CREATE VIEW categorized_documents AS
SELECT d.shard_id, d.position, d.registered_domain, d.words,
       coalesce(h.category, r.category, s.category, 'Uncategorized') AS category
FROM documents d
LEFT JOIN rules_categories h ON h.domain = d.host
LEFT JOIN rules_categories r ON r.domain = d.registered_domain
LEFT JOIN rules_categories s ON s.domain = d.suffix;

CREATE OR REPLACE VIEW document_categories AS
SELECT shard_id, position, category FROM categorized_documents;

CREATE OR REPLACE VIEW composition_by_category AS
SELECT
    row_number() OVER (ORDER BY sum(words) DESC, category) AS rank,
    category,
    count(DISTINCT registered_domain)                       AS domains,
    count(*)                                                AS documents,
    sum(words)::BIGINT                                      AS words,
    count(*) / sum(count(*)) OVER ()                        AS share_documents,
    sum(words) / sum(sum(words)) OVER ()                    AS share_words
FROM categorized_documents
GROUP BY category;

CREATE VIEW licensed_documents AS
SELECT d.shard_id, d.position, d.registered_domain, d.words,
       coalesce(d.license, h.spdx, r.spdx)                                                  AS license,
       CASE WHEN d.license IS NOT NULL THEN 'document'
            WHEN coalesce(h.spdx, r.spdx) IS NOT NULL THEN 'domain' ELSE 'none' END         AS license_source,
       coalesce(f.family, 'unknown')                                                       AS family
FROM documents d
LEFT JOIN rules_domain_licenses h ON h.domain = d.host
LEFT JOIN rules_domain_licenses r ON r.domain = d.registered_domain
LEFT JOIN rules_license_families f ON f.spdx = coalesce(d.license, h.spdx, r.spdx);

CREATE OR REPLACE VIEW document_licenses AS
SELECT shard_id, position, license, license_source, family FROM licensed_documents;

CREATE OR REPLACE VIEW composition_by_license_family AS
SELECT
    row_number() OVER (ORDER BY sum(words) DESC, family) AS rank,
    family,
    count(DISTINCT license)                              AS licenses,
    count(*)                                             AS documents,
    sum(words)::BIGINT                                   AS words,
    count(*) FILTER (license_source = 'document')        AS found_in_document,
    count(*) FILTER (license_source = 'domain')          AS from_domain,
    count(*) / sum(count(*)) OVER ()                     AS share_documents,
    sum(words) / sum(sum(words)) OVER ()                 AS share_words
FROM licensed_documents
GROUP BY family;
