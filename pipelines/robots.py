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

from provenance.ledger import Ledger
from provenance.robots.consent import evaluate, fetch_targets, store_snapshots
from provenance.robots.snapshots import Snapshot, from_fetch
from provenance.ruleset import evaluated_agents


@task(name="fetch-robots", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def fetch_chunk(hosts: list[str], allow_internal: bool, proxy: str | None, resolve: dict[str, str] | None,
                max_workers: int, per_host_delay: float) -> list[Snapshot]:
    from provenance.netguard import Resolver
    from provenance.robots.fetch import RobotsFetcher

    fetcher = RobotsFetcher(allow_internal=allow_internal, resolver=Resolver(resolve or {}),
                            proxies={"http": proxy, "https": proxy} if proxy else None,
                            max_workers=max_workers, per_host_delay=per_host_delay)
    return list(from_fetch(fetcher.fetch_many(hosts)))


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
) -> dict:
    agents = agents or [a.token for a in evaluated_agents(rules)]
    with Ledger(ledger) as led:
        if hosts is None:
            hosts = fetch_targets(led)
        new = 0
        for i in range(0, len(hosts), chunk):
            snaps = fetch_chunk(hosts[i : i + chunk], allow_internal, proxy, resolve, max_workers, per_host_delay)
            n, _ = store_snapshots(led, snaps)
            new += n
        result = evaluate(led, agents)
        changes = led.query(
            "SELECT host, agent, change, documents, words FROM consent_changes "
            "WHERE detected_at = (SELECT max(detected_at) FROM consent_changes) ORDER BY words DESC, host, agent"
        ).to_pylist() if result["changes"] else []
    create_table_artifact(
        key="consent-changes",
        table=changes or [{"host": "(none)", "agent": "", "change": "no host started or stopped disallowing an agent",
                           "documents": 0, "words": 0}],
        description=f"robots.txt refresh of {len(hosts)} host(s): {new} new snapshot(s), {len(changes)} change(s)",
    )
    return {"hosts": len(hosts), "new_snapshots": new, "changes": len(changes), "evaluation": result}
