-- 0009: where on the page each license finding was found, and how far it speaks for the page (issue 16.3).
-- Each finding in documents.licenses gains "where" (rel-license | meta | footer | inline | credit | code) and
-- confidence (provenance.licenses.CONFIDENCE); the document gains the place and confidence of its primary
-- license (documents.license): its most confident finding of that license (never a credit or a code block).
-- Rows scanned before this migration keep NULL in the new fields until their shard is scanned again (the
-- scanners' fields are part of the configuration hash: the next scan redoes every shard). A parquet-mode
-- ledger carries these ALTERs over to its template, placeholder and view (Ledger._carry_documents_change).

ALTER TABLE documents ALTER COLUMN licenses SET DATA TYPE STRUCT(spdx VARCHAR, kind VARCHAR, port VARCHAR, "start" BIGINT, "end" BIGINT, evidence VARCHAR, "where" VARCHAR, confidence DOUBLE)[];
ALTER TABLE documents ADD COLUMN license_where VARCHAR;
ALTER TABLE documents ADD COLUMN license_confidence DOUBLE;

-- One row per license finding, with its place on the page.
CREATE VIEW license_findings AS
SELECT shard_id, position, url, registered_domain, f.spdx, f.kind, f.port, f."start", f."end", f."where", f.confidence,
       license AS document_license
FROM (SELECT shard_id, position, url, registered_domain, license, unnest(licenses) AS f FROM documents
      WHERE len(licenses) > 0);

-- Documents with a license found in them, by where their primary license was found (NULL: scanned before
-- 0009 and not since).
CREATE VIEW license_by_where AS
SELECT license_where,
       count(*)                                   AS documents,
       sum(words)::BIGINT                         AS words,
       count(DISTINCT license)                    AS licenses,
       avg(license_confidence)                    AS mean_confidence,
       count(*) / sum(count(*)) OVER ()           AS share_documents
FROM documents
WHERE license IS NOT NULL
GROUP BY license_where;
