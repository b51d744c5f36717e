-- 0008: clusters that hold together. A cluster keeps a member only if its similarity to the cluster's
-- representative reaches the dedup threshold (the rest are split off and clustered again among
-- themselves); each member's similarity to its representative is recorded. Rows written by an earlier
-- dedup run have NULL here until dedup runs again.

ALTER TABLE document_duplicates ADD COLUMN similarity DOUBLE;       -- Jaccard to the representative (1.0 for it)
ALTER TABLE document_duplicates ADD COLUMN similarity_by VARCHAR;   -- exact (texts re-read) | minhash (estimate); NULL for the representative

ALTER TABLE dedup_runs ADD COLUMN split_off BIGINT;                 -- documents linked to a cluster but below the threshold to its representative
ALTER TABLE dedup_runs ADD COLUMN split_rounds INTEGER;             -- rounds of splitting until every cluster held together

CREATE OR REPLACE VIEW duplicate_clusters AS
SELECT g.cluster_id, any_value(g.cluster_size) AS size, any_value(d.url) FILTER (g.representative) AS representative_url,
       count(DISTINCT d.registered_domain) AS domains, sum(d.words)::BIGINT AS words,
       min(g.similarity) AS min_similarity
FROM document_duplicates g JOIN documents d USING (shard_id, position)
GROUP BY g.cluster_id;
