-- 0014: the signals vocabulary of draft-ietf-aipref-vocab-07 (see provenance.signals): the use `ai-use` is now
-- `ai-input` (the asset as input to a model at inference time: Content Signals / RSL `ai-input`, AIPREF -02
-- "AI Use") and `train-genai` is `train-ai` (AIPREF -05 on: train-ai is generative-model training).
-- robots_signals is rewritten; documents.page_signals is not (in a parquet-mode ledger its files cannot be
-- rewritten), so the page_signals view reads the old names as the new ones, as verdicts do (signals.use_sql).

UPDATE robots_signals SET "use" = 'ai-input' WHERE "use" = 'ai-use';
UPDATE robots_signals SET "use" = 'train-ai' WHERE "use" = 'train-genai';

CREATE OR REPLACE VIEW page_signals AS
SELECT shard_id, position, url, host, registered_domain, s.source,
       CASE s."use" WHEN 'ai-use' THEN 'ai-input' WHEN 'train-genai' THEN 'train-ai' ELSE s."use" END AS "use",
       s.allowed, s.agent, s.scope, s.evidence
FROM (SELECT shard_id, position, url, host, registered_domain, unnest(page_signals) AS s FROM documents
      WHERE len(page_signals) > 0);
