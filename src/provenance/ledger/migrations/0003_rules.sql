-- 0003: rules loaded into the ledger (`provenance rules apply`, and at the start of every scan), so that
-- views re-evaluate from the ledger when only the rules change.

CREATE TABLE rules_categories (
    domain    VARCHAR PRIMARY KEY,            -- a host, a registered domain or a public suffix (github.io)
    category  VARCHAR NOT NULL
);

CREATE TABLE rules_license_families (
    spdx    VARCHAR PRIMARY KEY,
    family  VARCHAR NOT NULL
);

CREATE TABLE rules_domain_licenses (
    domain  VARCHAR PRIMARY KEY,
    spdx    VARCHAR NOT NULL,
    source  VARCHAR NOT NULL,
    note    VARCHAR
);

-- A document's category: its host's entry, else its registered domain's, else its suffix's.
CREATE VIEW document_categories AS
SELECT d.shard_id, d.position, coalesce(h.category, r.category, s.category, 'Uncategorized') AS category
FROM documents d
LEFT JOIN rules_categories h ON h.domain = d.host
LEFT JOIN rules_categories r ON r.domain = d.registered_domain
LEFT JOIN rules_categories s ON s.domain = d.suffix;

CREATE VIEW composition_by_category AS
SELECT
    row_number() OVER (ORDER BY sum(d.words) DESC, c.category) AS rank,
    c.category,
    count(DISTINCT d.registered_domain)                         AS domains,
    count(*)                                                    AS documents,
    sum(d.words)::BIGINT                                        AS words,
    count(*) / sum(count(*)) OVER ()                            AS share_documents,
    sum(d.words) / sum(sum(d.words)) OVER ()                    AS share_words
FROM documents d JOIN document_categories c USING (shard_id, position)
GROUP BY c.category;
