"""The scan flow: one Prefect task per shard, one writer into the DuckDB ledger.

Tasks read and scan shards and write per-shard Parquet; the flow ingests each result into the ledger as it
completes, one transaction per shard. Shards already in the ledger with the same fingerprint and
configuration are skipped, so an interrupted run resumes where it stopped.

Tasks run on threads by default. ``cluster="tcp://HOST:8786"`` (an existing Dask scheduler) or
``cluster="local:N"`` (a Dask LocalCluster of N worker processes, started for the run) runs them on Dask
through prefect-dask's ``DaskTaskRunner``; ``scan_corpus.with_options(task_runner=...)`` works for any other
Prefect task runner. Either way only this flow's process opens the ledger: workers write Parquet into the
work dir, which must therefore be a path every worker sees (a shared file system).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from provenance import runs
from provenance.distribute import check_cluster as _check_cluster, parse_cluster  # one parser of --cluster
from provenance.errors import ProvenanceError
from provenance.ledger import ShardResult
from provenance.readers import ReadOptions
from provenance.runs import ShardReadError, default_work_dir  # noqa: F401 - part of this module's API
from provenance.sources import Shard


def dask_task_runner(cluster: str):
    """Prefect's Dask task runner for ``cluster``: ``local:N`` starts a LocalCluster of N single-threaded
    worker processes for the run (``local``: one per core); anything else is the address of a running
    Dask scheduler (``tcp://HOST:8786``; a bare ``HOST:PORT`` means tcp)."""
    check_cluster(cluster, probe=False)
    from prefect_dask import DaskTaskRunner

    kind, value = parse_cluster(cluster)
    if kind == "local":
        return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                              cluster_kwargs={"n_workers": value, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    return DaskTaskRunner(address=value)


def check_cluster(cluster: str, probe: bool = True) -> None:
    """Raise a one-line ProvenanceError for a malformed ``--cluster``, a missing prefect-dask, or (``probe``)
    a scheduler address where nothing listens (else Dask retries for 30 s, then the flow fails with a long
    traceback): distribute.check_cluster, for Prefect's Dask integration."""
    _check_cluster(cluster, probe, needs="prefect_dask", install="Prefect's Dask integration: pip install prefect-dask")


@contextmanager
def _api_for_workers():
    """Tasks on Dask workers report to the Prefect API named in the settings shipped with each task. With no
    PREFECT_API_URL (ephemeral mode) that names nothing, and every worker would boot a temporary server of
    its own (~10 s each; its task runs recorded where nobody looks). Name this process's temporary server
    instead: workers on this host reach it. Workers on other hosts need a real server: ``prefect server
    start`` and PREFECT_API_URL."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with get_client(sync_client=True) as client:
        url = str(client.api_url).rstrip("/")
    with temporary_settings({PREFECT_API_URL: url}):
        yield


def _on_dask() -> bool:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx is not None and type(ctx.task_runner).__module__.startswith("prefect_dask")


# Bad input never raises here (it is quarantined inside scan_shard); retries are for transient failures such
# as a remote read that times out (runs.scan_one raises ShardReadError for those). Anything else is a bug on
# some input: the shard is recorded as failed with a message that never quotes record bytes, so that neither
# the ledger nor Prefect's log database ever holds document content.
@task(name="scan-shard", retries=runs.RETRIES, retry_delay_seconds=runs.RETRY_DELAY, cache_policy=NO_CACHE)
def scan_shard_task(shard: Shard, work_dir: str, options: ReadOptions, chash: str, scanners: list | None = None,
                    reuse: bool = True) -> ShardResult:
    return runs.scan_one(shard, work_dir, options, chash, scanners, reuse)


def _prefect_map(todo, work_dir, options, chash, scanners, reuse=True):
    """runs.scan_corpus's shard map as Prefect tasks on this flow's task runner (threads, or Dask)."""
    by_future = {scan_shard_task.submit(s, work_dir, options, chash, scanners, reuse): s for s in todo}
    for fut in as_completed(list(by_future)):
        try:
            yield by_future[fut], fut.result()
        except Exception as exc:  # noqa: BLE001 - a task that failed after its retries
            yield by_future[fut], exc


@flow(name="scan-corpus", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
def scan_corpus(
    inputs: list[str],
    ledger: str = "provenance.duckdb",
    work_dir: str | None = None,
    format: str | None = None,
    column_map: dict[str, list[str]] | None = None,
    max_doc_bytes: int | None = None,
    force: bool = False,
    quiet: bool = False,
    rules: list[str] | None = None,
    policy: str | None = None,
    keep_pii_values: bool = False,
    code_indexes: list[str] | None = None,
    cluster: str | None = None,
    extra_scanners: list | None = None,
    documents_store: str | None = None,
    pii_key_path: str | None = None,
) -> dict:
    """Scan shards into the ledger and return the run's totals.

    ``cluster`` runs the shard tasks on Dask (see the module docstring); ``extra_scanners`` are scanner
    objects run after the default ones (they must pickle when the tasks run on a cluster);
    ``documents_store`` (``table`` or ``parquet``) is chosen when the ledger is created: ``parquet`` keeps
    the per-document rows in a Parquet dataset beside the ledger (``<ledger>.documents/``) that the ledger
    reads as the ``documents`` view."""
    if cluster and not _on_dask():
        # One flow has one task runner; Prefect's way to use another for part of a run is a subflow with
        # that runner. The scan runs there, the ledger is opened there, in this same process.
        check_cluster(cluster)
        runner = dask_task_runner(cluster)
        with _api_for_workers():
            return scan_corpus.with_options(task_runner=runner)(
                inputs=inputs, ledger=ledger, work_dir=work_dir, format=format, column_map=column_map,
                max_doc_bytes=max_doc_bytes, force=force, quiet=quiet, rules=rules, policy=policy,
                keep_pii_values=keep_pii_values, code_indexes=code_indexes, cluster=cluster,
                extra_scanners=extra_scanners, documents_store=documents_store, pii_key_path=pii_key_path)
    return runs.scan_corpus(
        inputs=inputs, ledger=ledger, work_dir=work_dir, format=format, column_map=column_map,
        max_doc_bytes=max_doc_bytes, force=force, quiet=quiet, rules=rules, policy=policy,
        keep_pii_values=keep_pii_values, code_indexes=code_indexes, cluster=cluster, extra_scanners=extra_scanners,
        documents_store=documents_store, pii_key_path=pii_key_path, map_shards=_prefect_map,
        orchestrator="prefect-dask" if _on_dask() else "prefect")
