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
# # Composition: which sites make up the corpus
#
# The questions of Dodge et al. (2021), *Documenting Large Webtext Corpora: A Case Study on the
# Colossal Clean Crawled Corpus*, asked of a provenance ledger: which registered domains contribute the
# most text, what kind of sites they are, and which public suffixes (`.com`, `.org`, `.co.uk`, ...) the
# text comes from.
#
# "Tokens" in the paper's domain table are counted here as **words**: whitespace-separated runs
# (`len(text.split())`), not a model tokenizer's count. Every number below is a SQL query over the
# ledger named by `PROVENANCE_LEDGER` (default `provenance.duckdb`), opened read-only.

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


def show(sql: str, relation: str, empty: str = "no documents have been scanned into this ledger",
         no_rows: str = "no rows match"):
    """Print the query's result as an aligned table (or why there is none)."""
    table = query(sql, relation, empty, no_rows)
    if table is not None:
        print(format_table(table))


print(f"ledger: {LEDGER}")
show("""
SELECT count(*) AS documents, sum(words)::BIGINT AS words, sum(bytes)::BIGINT AS bytes,
       count(DISTINCT registered_domain) AS registered_domains, count(DISTINCT host) AS hosts,
       count(DISTINCT shard_id) AS shards, min(crawl_date)::DATE::VARCHAR AS first_crawled,
       max(crawl_date)::DATE::VARCHAR AS last_crawled
FROM documents HAVING count(*) > 0
""", "documents")

# %% [markdown]
# ## Top 30 registered domains by share of words
#
# The shape of the paper's top-domains table: rank by words (tokens), the registered domain (the domain
# a registrar sells, one level below its public suffix: `blog.example.co.uk` counts as `example.co.uk`),
# its category, documents, words, and its share of all the corpus's words. A domain's category comes
# from `rules/categories.yaml` (host, else registered domain, else suffix); when its hosts fall in
# different categories the one with the most words is shown. `Uncategorized` means no rule matched.

# %% tags=["top-domains"]
TOP_DOMAINS_SQL = """
WITH by_category AS (
    SELECT d.registered_domain, c.category, sum(d.words) AS words
    FROM documents d JOIN document_categories c USING (shard_id, position)
    GROUP BY ALL
), domain_category AS (
    SELECT registered_domain, category FROM by_category
    QUALIFY row_number() OVER (PARTITION BY registered_domain ORDER BY words DESC, category) = 1
)
SELECT b.rank, coalesce(b.registered_domain, '(no registered domain)') AS registered_domain,
       coalesce(dc.category, 'Uncategorized') AS category, b.documents, b.words, b.share_words
FROM composition_by_domain b
LEFT JOIN domain_category dc ON dc.registered_domain IS NOT DISTINCT FROM b.registered_domain
ORDER BY b.rank LIMIT 30
"""
top = query(TOP_DOMAINS_SQL, "composition_by_domain", "no documents have been scanned into this ledger")
if top is not None:
    print(format_table(top))
    covered = sum(top.column("share_words").to_pylist())
    print(f"\nthe top {top.num_rows} domains hold {100 * covered:.2f}% of all words")

# %%
if top is not None:
    import matplotlib.pyplot as plt

    names = top.column("registered_domain").to_pylist()[::-1]
    shares = [100 * s for s in top.column("share_words").to_pylist()[::-1]]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(names) + 1))
    ax.barh(names, shares)
    ax.set_xlabel("share of all words (%)")
    ax.set_title(f"Top {len(names)} registered domains by share of words")
    fig.tight_layout()
    plt.show()
else:
    print("no chart: there are no documents")

# %% [markdown]
# ## Category mix
#
# Share of documents and of words per site category (`composition_by_category`). The categories are
# the rules in `categories.yaml`, so a large `Uncategorized` row says how much of the corpus the rules do
# not cover yet (import the Data Provenance Initiative's annotated C4 domains with
# `provenance rules import-categories`, or write your own `--rules DIR`, then `provenance rules apply`).

# %% tags=["categories"]
show("SELECT count(*) AS category_rules FROM rules_categories HAVING count(*) > 0", "rules_categories",
     "no category rules loaded (`provenance rules apply`): every document is Uncategorized")
print()
show("""
SELECT rank, category, domains, documents, words, share_documents, share_words
FROM composition_by_category ORDER BY rank
""", "composition_by_category")

# %% [markdown]
# ## Suffix mix
#
# Share of documents and of words per public suffix (`composition_by_suffix`, from the Public Suffix
# List, private section included: `github.io` is a suffix), the paper's breakdown by top-level domain.
# Top 15.

# %% tags=["suffixes"]
show("""
SELECT rank, coalesce(suffix, '(none)') AS suffix, domains, documents, words, share_documents, share_words
FROM composition_by_suffix ORDER BY rank LIMIT 15
""", "composition_by_suffix")
