"""Refresh robots.txt for every host in the ledger, re-evaluate consent, record what changed.

Fetching is done in chunks of hosts, one Prefect task each (retried once on unexpected errors); inside
a task the fetcher applies RFC 9309, the SSRF guard, per-host politeness and a global concurrency limit.
The ledger has one writer: this flow. Hosts that started or stopped disallowing an agent go to
``consent_changes`` and are shown as a Prefect table artifact (key ``consent-changes``).
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from provenance import runs
from provenance.robots.snapshots import Snapshot


@task(name="fetch-robots", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def fetch_chunk(hosts: list[str], allow_internal: bool, proxy: str | None, resolve: dict[str, str] | None,
                max_workers: int, per_host_delay: float) -> list[Snapshot]:
    return runs.fetch_chunk(hosts, allow_internal, proxy, resolve, max_workers, per_host_delay)


@flow(name="refresh-robots", log_prints=False)
def refresh_robots(
    ledger: str = "provenance.duckdb",
    hosts: list[str] | None = None,
    allow_internal: bool = False,
    proxy: str | None = None,
    resolve: dict[str, str] | None = None,
    agents: list[str] | None = None,
    rules: list[str] | None = None,
    max_workers: int = 8,
    per_host_delay: float = 1.0,
    chunk: int = 500,
    cluster: str | None = None,
) -> dict:
    r = runs.refresh_robots(ledger, hosts, allow_internal, proxy, resolve, agents, rules, max_workers, per_host_delay,
                            chunk, fetch_step=fetch_chunk, cluster=cluster)
    create_table_artifact(
        key="consent-changes",
        table=r["changed"] or [{"host": "(none)", "agent": "", "change": "no host started or stopped disallowing an agent",
                                "documents": 0, "words": 0}],
        description=f"robots.txt refresh of {r['hosts']} host(s): {r['new_snapshots']} new snapshot(s), {r['changes']} change(s)",
    )
    return r
