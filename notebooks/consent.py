# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Consent: what AI crawlers may use, at crawl time and now
#
# For every document and every evaluated AI agent (GPTBot, CCBot, ClaudeBot, Google-Extended, ...) the
# ledger holds two robots.txt outcomes, `allowed`, `disallowed` or `unknown`:
#
# - **at crawl time**: decided by the latest robots.txt snapshot captured *at or before* the document's
#   crawl date. It says whether the publisher had opted out when the page was collected.
#   `unknown` means no snapshot is that old (e.g. a page crawled in 2016 when the oldest capture is
#   from 2019).
# - **now**: decided by the latest snapshot of the host, whenever the page was crawled. It says whether
#   the publisher opts out today; `unknown` means the host has no snapshot at all.
#
# The gap between the two is the "consent in crisis" story (Longpre et al. 2024): pages collected
# with the publisher's tacit permission whose publisher has since closed the door to AI crawlers.
# Every number below is a SQL query over the ledger named by `PROVENANCE_LEDGER` (default
# `provenance.duckdb`), opened read-only.

# %%
import os
from pathlib import Path

import duckdb

from provenance.cli import format_table

LEDGER = os.environ.get("PROVENANCE_LEDGER", "provenance.duckdb")
if not Path(LEDGER).is_file():
    raise FileNotFoundError(f"no ledger at {Path(LEDGER).resolve()} (cwd {Path.cwd()}): set PROVENANCE_LEDGER "
                            "to a ledger written by `provenance scan`")
con = duckdb.connect(LEDGER, read_only=True)
RELATIONS = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
NO_CONSENT = "no consent evaluated yet: `provenance robots import|fetch` robots.txt snapshots into this ledger"


def query(sql: str, relation: str, empty: str, no_rows: str = "no rows match"):
    """The query's result as an Arrow table, or None after one plain line saying why there is nothing."""
    if relation not in RELATIONS:
        print(f"`{relation}` is not in this ledger (an older schema: open it once with a newer `provenance`)")
        return None
    table = con.sql(sql).to_arrow_table()
    if table.num_rows == 0:
        if con.sql(f'SELECT count(*) FROM "{relation}"').fetchall()[0][0] == 0:
            print(f"`{relation}` is empty: {empty}")
        else:
            print(f"`{relation}`: {no_rows}")
        return None
    return table


def show(sql: str, relation: str, empty: str, no_rows: str = "no rows match"):
    """Print the query's result as an aligned table (or why there is none)."""
    table = query(sql, relation, empty, no_rows)
    if table is not None:
        print(format_table(table))


print(f"ledger: {LEDGER}")
show("""
SELECT count(*) AS documents, sum(words)::BIGINT AS words, count(DISTINCT host) AS hosts,
       min(crawl_date)::DATE::VARCHAR AS first_crawled, max(crawl_date)::DATE::VARCHAR AS last_crawled
FROM documents HAVING count(*) > 0
""", "documents", "no documents have been scanned into this ledger")
print()
show("""
SELECT source, count(*) AS snapshots, count(DISTINCT host) AS hosts,
       min(captured_at)::DATE::VARCHAR AS first_captured, max(captured_at)::DATE::VARCHAR AS last_captured
FROM robots_snapshots GROUP BY source ORDER BY source
""", "robots_snapshots", "no robots.txt snapshots: `provenance robots import FILE` or `provenance robots fetch`")

# %% [markdown]
# ## Per agent: share disallowed at crawl time and now
#
# `consent_by_agent`: for each agent, the share of all documents (and of all words) whose robots.txt
# disallowed that agent at crawl time and now, and the share whose outcome is unknown. The denominators
# are *all* documents, so a crawl-time share is a lower bound when many documents are `unknown` at crawl
# time. Sorted by share of words disallowed now.

# %% tags=["per-agent"]
show("""
SELECT agent,
       share_docs_disallowed_crawl  AS share_docs_crawl,
       share_docs_disallowed_now    AS share_docs_now,
       share_words_disallowed_crawl AS share_words_crawl,
       share_words_disallowed_now   AS share_words_now,
       unknown_docs_crawl / documents AS share_unknown_crawl,
       unknown_docs_now / documents   AS share_unknown_now
FROM consent_by_agent ORDER BY share_words_disallowed_now DESC, agent
""", "consent_by_agent", NO_CONSENT)

# %% [markdown]
# ### Like for like: documents known at both times
#
# The same shares over only the documents whose outcome is known both at crawl time and now, so that
# crawl time and now are compared on the same pages.

# %% tags=["like-for-like"]
show("""
SELECT c.agent, count(*) AS documents,
       count(*) FILTER (c.crawl_outcome = 'disallowed') / count(*)                  AS share_docs_crawl,
       count(*) FILTER (c.now_outcome = 'disallowed') / count(*)                    AS share_docs_now,
       coalesce(sum(d.words) FILTER (c.crawl_outcome = 'disallowed'), 0) / sum(d.words) AS share_words_crawl,
       coalesce(sum(d.words) FILTER (c.now_outcome = 'disallowed'), 0) / sum(d.words)   AS share_words_now
FROM document_consent c JOIN documents d USING (shard_id, position)
WHERE c.crawl_outcome <> 'unknown' AND c.now_outcome <> 'unknown'
GROUP BY c.agent ORDER BY share_words_now DESC, c.agent
""", "document_consent", NO_CONSENT, "no document has a known outcome both at crawl time and now")

# %% [markdown]
# ## What changed between crawl time and now
#
# `consent_changed_documents` lists the documents whose outcome for an agent differs between crawl time
# and now (both known): `started_disallowing` when the publisher has opted out since the page was
# crawled, `stopped_disallowing` when a block was lifted (or a robots.txt that was unreachable at crawl
# time, which counts as disallow-all, is reachable now). First per agent, then the registered domains
# with the most words affected (a document counts once, however many agents changed).

# %% tags=["changed-by-agent"]
show("""
SELECT agent,
       count(*) FILTER (now_outcome = 'disallowed')                           AS docs_started_disallowing,
       coalesce(sum(words) FILTER (now_outcome = 'disallowed'), 0)::BIGINT   AS words_started_disallowing,
       count(DISTINCT host) FILTER (now_outcome = 'disallowed')               AS hosts_started,
       count(*) FILTER (now_outcome = 'allowed')                              AS docs_stopped_disallowing,
       count(DISTINCT host) FILTER (now_outcome = 'allowed')                  AS hosts_stopped
FROM consent_changed_documents GROUP BY agent
ORDER BY docs_started_disallowing DESC, agent
""", "consent_changed_documents", "no document's outcome differs between crawl time and now (among documents known at both)")

# %% tags=["changed-domains"]
show("""
WITH per_doc AS (
    SELECT shard_id, position, host, any_value(words) AS words, count(*) AS agents,
           CASE WHEN now_outcome = 'disallowed' THEN 'started_disallowing' ELSE 'stopped_disallowing' END AS change
    FROM consent_changed_documents GROUP BY shard_id, position, host, change
)
SELECT coalesce(d.registered_domain, p.host) AS registered_domain, p.change, count(DISTINCT p.host) AS hosts,
       max(p.agents) AS agents, count(*) AS documents, sum(p.words)::BIGINT AS words
FROM per_doc p JOIN documents d USING (shard_id, position)
GROUP BY ALL ORDER BY words DESC, registered_domain, p.change LIMIT 20
""", "consent_changed_documents", "no domain changed between crawl time and now")

# %% [markdown]
# ## Changes recorded between evaluations
#
# `consent_changes` is a different clock: each consent evaluation (`provenance robots import`, `fetch`,
# or the `provenance robots refresh` flow) compares the new **now** outcome with the **now** of the
# previous evaluation and records the hosts that started or stopped disallowing an agent in between, with
# the documents and words that flipped. It stays empty until "now" has moved at least once.

# %% tags=["consent-changes"]
show("""
SELECT strftime(timezone('UTC', detected_at), '%Y-%m-%d %H:%M:%S') AS detected_utc, change,
       count(DISTINCT host) AS hosts, count(DISTINCT agent) AS agents,
       sum(documents)::BIGINT AS agent_documents, sum(words)::BIGINT AS agent_words
FROM consent_changes GROUP BY ALL ORDER BY detected_utc, change
""", "consent_changes", "no host's robots.txt outcome has changed between two consent evaluations of this ledger")
if "consent_changes" in RELATIONS and con.sql("SELECT count(*) FROM consent_changes").fetchall()[0][0]:
    print()
    show("""
    SELECT host, change, count(*) AS agents, max(documents) AS documents, max(words) AS words,
           string_agg(agent, ', ' ORDER BY agent) AS agent_list
    FROM consent_changes GROUP BY host, change ORDER BY words DESC, host LIMIT 10
    """, "consent_changes", "")

# %% [markdown]
# ## Page signals
#
# Opt-outs carried by the page itself, recorded at scan time in one vocabulary (`tdm`, `train-ai`,
# `search`, `ai-input`, `ai-index`; `reserved` or `allowed`; an older ledger's `ai-use` shows as
# `ai-input`): `X-Robots-Tag` headers and `<meta name="robots">` (`noai`, `noindex`), TDMRep, AIPREF
# `Content-Usage` (view `page_signals`).
# Text-only corpora (C4-style JSON or Parquet) carry no headers or HTML, so this is usually empty for
# them; WARC input fills it. Then the same vocabulary from robots.txt `Content-Signal` / `Content-Usage`
# lines (`robots_signals`), with the documents on the hosts that declare them.

# %% tags=["signals"]
show("""
SELECT source, "use", CASE WHEN allowed THEN 'allowed' ELSE 'reserved' END AS stance, agent,
       count(DISTINCT (shard_id, position)) AS documents, count(DISTINCT registered_domain) AS domains
FROM page_signals GROUP BY ALL ORDER BY documents DESC, source, "use", stance, agent
""", "page_signals", "no page carried an X-Robots-Tag, robots meta, TDMRep or Content-Usage signal")
print()
show("""
WITH sig AS (SELECT DISTINCT source, "use", allowed, agent, host FROM robots_signals)
SELECT sig.source, sig."use", CASE WHEN sig.allowed THEN 'allowed' ELSE 'reserved' END AS stance, sig.agent,
       count(DISTINCT sig.host) AS hosts, count(d.shard_id) AS documents, coalesce(sum(d.words), 0)::BIGINT AS words
FROM sig LEFT JOIN documents d ON d.host = sig.host
GROUP BY ALL ORDER BY documents DESC, sig.source, sig."use", stance, sig.agent
""", "robots_signals", "no robots.txt snapshot carries a Content-Signal or Content-Usage line")

# %% [markdown]
# ## Terms of Service
#
# Documents and words per Terms-of-Service class of their domain (`composition_by_tos_class`, from
# `rules/tos.yaml` in the Consent in Crisis taxonomy: `no-scraping-and-ai`, `no-ai`, `no-scraping`,
# `conditional`, `unrestricted`; `no-terms-listed` when the rules have no entry for the domain).

# %% tags=["tos"]
show("SELECT count(DISTINCT domain) AS domains_with_terms, count(*) AS clauses FROM rules_tos HAVING count(*) > 0",
     "rules_tos", "no Terms-of-Service rules loaded (`provenance rules apply`)")
print()
show("""
SELECT rank, tos_class, domains, documents, words, non_commercial_docs, no_redistribution_docs,
       share_documents, share_words
FROM composition_by_tos_class ORDER BY rank
""", "composition_by_tos_class", "no documents have been scanned into this ledger")
