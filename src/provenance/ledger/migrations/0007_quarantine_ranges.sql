-- 0007: quarantine rows that stand for more than one row (a damaged Parquet row group) or for an unknown
-- number of rows (compressed bytes skipped between two intact gzip members): kind 'range' and n_rows.
-- shards.quarantined counts rows: the sum of n_rows over record and range rows (docs/bad-input.md).

ALTER TABLE quarantine ADD COLUMN n_rows BIGINT;
UPDATE quarantine SET n_rows = 1 WHERE kind = 'record';

CREATE OR REPLACE VIEW shard_reconciliation AS
SELECT
    s.shard_id, s.uri, s.status, s.rows_read, s.documents, s.quarantined,
    (SELECT count(*) FROM documents d WHERE d.shard_id = s.shard_id)                                  AS documents_present,
    (SELECT coalesce(sum(q.n_rows), 0) FROM quarantine q
      WHERE q.shard_id = s.shard_id AND q.kind IN ('record', 'range'))                                AS quarantined_present,
    s.rows_read = s.documents + s.quarantined                                                         AS reconciles
FROM shards s;
