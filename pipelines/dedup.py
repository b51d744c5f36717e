"""Near-duplicate clustering over the ledger's signature sinks, and takedown matching, as a Prefect flow.

The work is ``provenance.runs.cluster_duplicates`` (the CLI runs it in-process unless tracking is asked
for); here its clustering step is a Prefect task and the largest clusters are posted as a table artifact
(key ``duplicate-clusters``). The clustering itself is out of core (band hashes in Parquet, DuckDB group-by
and joins under a memory limit); the flow is the one writer of the ledger.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from provenance import runs


@task(name="cluster-near-duplicates", cache_policy=NO_CACHE)
def cluster_task(ledger: str, threshold: float, memory_limit: str | None, cluster: str | None = None) -> dict:
    return runs.cluster_in_ledger(ledger, threshold, memory_limit, cluster)


@flow(name="cluster-duplicates", log_prints=False)
def cluster_duplicates(ledger: str = "provenance.duckdb", threshold: float = 0.8, memory_limit: str | None = None,
                       rules: list[str] | None = None, cluster: str | None = None) -> dict:
    """Cluster every document by estimated Jaccard >= threshold, rematch takedowns, re-evaluate verdicts;
    ``cluster`` runs the band and candidate tasks on Dask (``provenance.dedup.cluster``)."""
    summary = runs.cluster_duplicates(ledger, threshold, memory_limit, rules, cluster_step=cluster_task, cluster=cluster)
    if summary["top_clusters"]:
        create_table_artifact(key="duplicate-clusters", table=summary["top_clusters"],
                              description=f"largest near-duplicate clusters (threshold {threshold})")
    return summary
