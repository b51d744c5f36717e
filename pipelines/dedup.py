"""Near-duplicate clustering over the ledger's signature sinks, and takedown matching, as Prefect flows.

The clustering itself is out of core (band hashes in Parquet, DuckDB group-by and joins under a memory
limit); the flow is the one writer of the ledger. A table artifact (key ``duplicate-clusters``) lists
the largest clusters.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from provenance.dedup import cluster, match_takedowns
from provenance.ledger import Ledger
from provenance.settings import settle
from provenance.verdict import reevaluate


@task(name="cluster-near-duplicates", cache_policy=NO_CACHE)
def cluster_task(ledger: str, threshold: float, memory_limit: str | None) -> dict:
    with Ledger(ledger, create=False) as led:
        return cluster(led, threshold=threshold, memory_limit=memory_limit)


@flow(name="cluster-duplicates", log_prints=False)
def cluster_duplicates(ledger: str = "provenance.duckdb", threshold: float = 0.8, memory_limit: str | None = None,
                       rules: list[str] | None = None) -> dict:
    """Cluster every document by estimated Jaccard >= threshold, rematch takedowns, re-evaluate verdicts."""
    summary = cluster_task(ledger, threshold, memory_limit)
    with Ledger(ledger, create=False) as led:
        st = settle(led, rules=rules)  # the ledger's rules and policy unless new ones are given
        summary["settings"] = st.changes
        summary["takedown_matches"] = match_takedowns(led)
        ev = reevaluate(led, st.rules, policy=st.policy)
        summary["verdicts"] = {"policy": ev.policy, "include": ev.included, "exclude": ev.excluded, "review": ev.review}
        top = led.query("SELECT cluster_id, size, domains, words, representative_url FROM duplicate_clusters "
                        "ORDER BY size DESC, cluster_id LIMIT 20").to_pylist()
    if top:
        create_table_artifact(key="duplicate-clusters", table=top,
                              description=f"largest near-duplicate clusters (threshold {threshold})")
    return summary
