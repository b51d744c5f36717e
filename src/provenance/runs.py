"""The work of each flow command as plain functions: scan a corpus, cluster near-duplicates, refresh robots.txt,
write the datasheet, build a code index.

The Prefect flows in ``pipelines/`` are thin: they call these same functions and hand them Prefect tasks for
their steps (one task per shard, retries, a task runner that may be a Dask cluster), so a scheduled or
deployed run is a real flow run with its tracking. The command line calls them in this process, with a
thread pool for the shards and no Prefect import at all (importing Prefect alone costs ~1.3 s; its temporary
API server ~10 s per command), unless tracking is asked for: ``--track``, ``PROVENANCE_TRACK=1``, or a
Prefect API configured (``PREFECT_API_URL`` in the environment, the active Prefect profile, ``prefect.toml``
or ``.env``), in which case it runs the flow and every run is recorded there. ``--cluster`` always runs the
flow (Prefect's Dask task runner). Both ways record the same things in the ledger.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterator

from . import errors
from .errors import ProvenanceError

# -- in-process or tracked by Prefect ---------------------------------------------------------------------


def _profile_api_url() -> str | None:
    """PREFECT_API_URL from the active Prefect profile, ``prefect.toml`` or ``.env`` in the working folder
    (the places Prefect reads it from besides the environment), read without importing Prefect."""
    import tomllib

    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
        active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
        url = (data.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL")
        if url:
            return str(url)
    except (OSError, ValueError):
        pass
    try:
        url = (tomllib.loads(Path("prefect.toml").read_text(encoding="utf-8")).get("api") or {}).get("url")
        if url:
            return str(url)
    except (OSError, ValueError):
        pass
    try:
        for line in Path(".env").read_text(encoding="utf-8").splitlines():
            k, _, v = line.partition("=")
            if k.strip() == "PREFECT_API_URL" and v.strip():
                return v.strip().strip("'\"")
    except (OSError, ValueError):
        pass
    return None


def tracking(track: bool = False) -> str | None:
    """Why this command should run as a tracked Prefect flow (None: run in this process)."""
    if track:
        return "--track"
    if os.environ.get("PROVENANCE_TRACK", "").strip().lower() in ("1", "true", "yes", "on"):
        return "PROVENANCE_TRACK"
    if os.environ.get("PREFECT_API_URL"):
        return "PREFECT_API_URL"
    return "a Prefect profile's PREFECT_API_URL" if _profile_api_url() else None


def check_api() -> None:
    """When a Prefect API is configured, make sure it answers before any work (else the flow fails with
    Prefect's traceback after the ledger was opened): one line naming the URL and the ways out."""
    import urllib.error
    import urllib.request

    url = os.environ.get("PREFECT_API_URL") or _profile_api_url()
    if not url:
        return  # Prefect's temporary server will be started
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=5) as r:
            r.read(64)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise ProvenanceError(f"no Prefect API answers at {url} ({why}); start one (`prefect server start`) or unset "
                              f"PREFECT_API_URL to run in this process") from None


# -- scanning shards -------------------------------------------------------------------------------------


class ShardReadError(ProvenanceError, OSError):
    """A read that failed (a remote file that timed out, a full disk): retried. Its message is
    ``errors.safe_message`` of the original, so no log ever holds record bytes."""


def scan_one(shard, work_dir: str, options, chash: str, scanners: list | None = None, reuse: bool = True):
    """One shard's work (the body of the scan flow's task). Bad input never raises (it is quarantined inside
    scan_shard); an OSError is a failed read, raised for the caller's retries; anything else is a bug on some
    input: the shard is recorded as failed with a message that names the error's type and place, never its
    text (which may quote a record)."""
    from .pipeline import failed_result, scan_shard

    try:
        return scan_shard(shard, work_dir, options=options, chash=chash, scanners=scanners, reuse=reuse)
    except OSError as exc:
        raise ShardReadError(errors.safe_message(exc)) from None
    except Exception as exc:  # noqa: BLE001
        return failed_result(shard, chash, exc)


#: a way to run scan_one over shards: yields (shard, result or the exception that ended its last retry)
ShardMap = Callable[..., Iterator[tuple]]

RETRIES = 2  # the same as the flow's task: a failed read is tried twice more, a second apart
RETRY_DELAY = 1.0


def local_map(todo: list, work_dir: str, options, chash: str, scanners: list, reuse: bool = True,
              workers: int | None = None) -> Iterator[tuple]:
    """scan_one over ``todo`` on a thread pool in this process, results as they complete. On an interrupt the
    shards in progress stop at their next batch (their temporary files are removed) and nothing is waited for."""
    from .progress import cancel, reset_cancel

    def attempt(shard):
        for i in range(RETRIES + 1):
            try:
                return scan_one(shard, work_dir, options, chash, scanners, reuse)
            except ShardReadError:
                if i == RETRIES:
                    raise
                time.sleep(RETRY_DELAY)

    reset_cancel()
    pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2, thread_name_prefix="shard")
    pending = {pool.submit(attempt, s): s for s in todo}
    try:
        while pending:
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for fut in done:
                shard = pending.pop(fut)
                try:
                    yield shard, fut.result()
                except Exception as exc:  # noqa: BLE001 - a shard whose reads kept failing
                    yield shard, exc
    finally:
        if pending:  # interrupted (or the consumer stopped): stop the shards in progress
            cancel()
        pool.shutdown(wait=not pending, cancel_futures=True)


def _reraise_interrupt(exc: BaseException) -> None:
    """Ctrl-C during a DuckDB call arrives as ``duckdb.InterruptException``, an ``Exception``: raised again as
    the KeyboardInterrupt it is, so that no ``except Exception`` takes it for a failure (the ingest did: it
    rescanned the shard and the run went on to exit 0)."""
    if is_interrupt(exc):
        raise KeyboardInterrupt from None


def is_interrupt(exc: BaseException) -> bool:
    """``exc`` is DuckDB's report of a Ctrl-C (checked by name: duckdb is not imported for it)."""
    return type(exc).__name__ == "InterruptException" and type(exc).__module__.lstrip("_").startswith("duckdb")


def _ingest(led, res, shard, run_id: str, work_dir: str, options, chash: str, scanners: list):
    """Ingest a shard's result. A result the ledger refuses is never reused: its cached files are deleted and
    the shard is scanned once more here; if that fails too, the shard is recorded as failed (and its cache
    stays deleted, so the next run tries again)."""
    from .pipeline import failed_result, forget_shard, scan_shard

    if res.status == "failed" and res.error_reason == errors.FAILED:
        forget_shard(shard, work_dir, chash)
    try:
        led.ingest_shard(res, run_id)
        return res
    except Exception as exc:  # noqa: BLE001 - DuckDB refusing a sink: a bug or a damaged cache file
        _reraise_interrupt(exc)
        first = errors.safe_message(exc)
    forget_shard(shard, work_dir, chash)
    try:
        res = scan_shard(shard, work_dir, options=options, chash=chash, scanners=scanners, reuse=False)
        led.ingest_shard(res, run_id)
        return res
    except Exception as exc:  # noqa: BLE001
        _reraise_interrupt(exc)
        forget_shard(shard, work_dir, chash)
        failed = failed_result(shard, chash, exc)
        failed.error = f"the ledger could not ingest this shard's result ({first}), nor a fresh scan of it ({failed.error})"
        led.ingest_shard(failed, run_id)
        return failed


def default_work_dir(ledger: str) -> str:
    """Per-shard Parquet results live beside the ledger: ``<ledger>.parts/``."""
    return str(Path(ledger).with_name(Path(ledger).name + ".parts"))


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
    map_shards: ShardMap | None = None,
    orchestrator: str = "in-process",
    shards: list | None = None,
    progress_stream=None,
) -> dict:
    """Scan shards into the ledger and return the run's totals (the scan flow's body; see the module
    docstring). ``map_shards`` runs scan_one over the shards (default: a thread pool here); ``shards`` are the
    inputs when the caller discovered them already, and checked ``column_map`` against them (as the CLI does
    before it opens the ledger); else they are discovered and checked here."""
    from .dedup import match_takedowns
    from .ledger import Ledger
    from .pii import load_config as load_pii_config
    from .pii_key import key_for_scan
    from .pipeline import config_hash, failed_result
    from .progress import Progress
    from .readers import ReadOptions
    from .ruleset import apply_to_ledger
    from .scanners import default_scanners
    from .settings import settle
    from .sources import discover
    from .verdict import evaluate as evaluate_verdicts
    from . import __version__

    t0 = time.perf_counter()
    options = ReadOptions(column_map=column_map or {})
    if max_doc_bytes is not None:
        options.max_doc_bytes = int(max_doc_bytes)
    # absolute: tasks may run in other processes and on other hosts, with another working directory
    work_dir = os.path.abspath(work_dir or default_work_dir(ledger))
    if shards is None:
        shards = discover(inputs, format=format)
        if column_map:
            from .readers import check_column_map

            # a --map path that matches nothing would quarantine every record (and, forced, replace a shard's
            # documents): stop here, before anything is scanned or replaced
            check_column_map([s for s in shards if s.error is None], options)
    totals = {"rows_read": 0, "documents": 0, "quarantined": 0, "shards_failed": 0, "shards_partial": 0}
    with Ledger(ledger, documents_store=documents_store) as led:
        # the ledger's rules, policy and code indexes unless new ones are given (changes are recorded)
        st = settle(led, rules=rules, policy=policy, code_indexes=code_indexes)
        rules, policy, code_indexes = st.rules, st.policy, st.code_indexes
        pii_config = load_pii_config(rules)
        pii_key, pii_scheme, key_notes = key_for_scan(led, pii_key_path)
        scanners = default_scanners(pii_config, pii_key, keep_pii_values, code_indexes, pii_scheme) + list(extra_scanners or [])
        chash = config_hash(scanners, options)
        config = {"inputs": inputs, "format": format, "column_map": options.column_map,
                  "max_doc_bytes": options.max_doc_bytes, "scanners": [s.name for s in scanners], "work_dir": work_dir,
                  "rules": rules or [], "keep_pii_values": keep_pii_values,
                  "code_indexes": code_indexes or [], "cluster": cluster, "orchestrator": orchestrator,
                  "force": force}
        apply_to_ledger(led, rules)  # categories and domain licenses, for the views
        finished = {} if force else led.finished_shards(chash)
        todo = [s for s in shards if s.error is not None or finished.get(s.shard_id) != s.fingerprint]
        skipped = len(shards) - len(todo)
        run_id = led.begin_run(config, st.rules_hash, chash, len(shards))
        progress = Progress(len(shards), skipped=skipped, quiet=quiet, stream=progress_stream)
        progress.start(len(todo), todo)
        status = "done"
        try:
            for shard, res in (map_shards or local_map)(todo, work_dir, options, chash, scanners, reuse=not force):
                if isinstance(res, BaseException):  # a shard whose reads kept failing after its retries
                    res = failed_result(shard, chash, res)
                res = _ingest(led, res, shard, run_id, work_dir, options, chash, scanners)
                progress.shard_done(res)
                totals["rows_read"] += res.rows_read
                totals["documents"] += res.documents
                totals["quarantined"] += res.quarantined
                totals["shards_failed"] += res.status == "failed"
                totals["shards_partial"] += res.status == "partial"
        except BaseException:
            status = "failed"
            raise
        finally:
            progress.close()
            seconds = time.perf_counter() - t0
            led.finish_run(run_id, status=status, shards_scanned=len(todo), shards_skipped=skipped,
                           rows_read=totals["rows_read"], documents=totals["documents"],
                           quarantined=totals["quarantined"], seconds=seconds, timings={"flow_seconds": seconds})
        # takedown requests cover future scans too: match the shards scanned now against them
        scanned_ids = [s.shard_id for s in todo]
        if scanned_ids and led.con.execute("SELECT count(*) FROM takedown_requests").fetchone()[0]:
            match_takedowns(led, shard_ids=scanned_ids)
        # verdicts from the ledger alone (consent, rules, findings): cheap next to the scan, and kept current
        ev = evaluate_verdicts(led, rules, policy, apply_rules=False)
    return {"run_id": run_id, "ledger": ledger, "settings": st.changes, "notes": key_notes,
            "shards": len(shards), "scanned": len(todo), "skipped": skipped,
            "seconds": seconds, "version": __version__, "orchestrator": orchestrator, **totals,
            "verdicts": {"policy": ev.policy, "include": ev.included, "exclude": ev.excluded, "review": ev.review,
                         "warnings": ev.warnings}}


# -- the other flow commands -----------------------------------------------------------------------------


def cluster_in_ledger(ledger: str, threshold: float, memory_limit: str | None, cluster: str | None = None) -> dict:
    """The clustering step (the dedup flow's task); ``cluster`` runs its band and candidate tasks on Dask."""
    from .dedup import cluster as cluster_documents
    from .ledger import Ledger

    with Ledger(ledger, create=False) as led:
        return cluster_documents(led, threshold=threshold, memory_limit=memory_limit, cluster=cluster)


def cluster_duplicates(ledger: str = "provenance.duckdb", threshold: float = 0.8, memory_limit: str | None = None,
                       rules: list[str] | None = None, cluster_step: Callable = cluster_in_ledger,
                       cluster: str | None = None) -> dict:
    """Cluster every document by estimated Jaccard >= threshold, rematch takedowns, re-evaluate verdicts.
    The summary's ``top_clusters`` are the 20 largest clusters (the flow posts them as an artifact).
    ``cluster`` (``local:N`` or a Dask scheduler's address) runs the band hashing and the candidate pairs on
    Dask workers (``provenance.dedup.cluster``); takedown matching and verdicts stay here, out of core."""
    from .dedup import match_takedowns
    from .ledger import Ledger
    from .settings import settle
    from .verdict import reevaluate

    summary = cluster_step(ledger, threshold, memory_limit, cluster) if cluster else cluster_step(ledger, threshold, memory_limit)
    with Ledger(ledger, create=False) as led:
        st = settle(led, rules=rules)  # the ledger's rules and policy unless new ones are given
        summary["settings"] = st.changes
        summary["takedown_matches"] = match_takedowns(led)
        ev = reevaluate(led, st.rules, policy=st.policy)
        summary["verdicts"] = {"policy": ev.policy, "include": ev.included, "exclude": ev.excluded, "review": ev.review}
        summary["top_clusters"] = led.query(
            "SELECT cluster_id, size, domains, words, representative_url FROM duplicate_clusters "
            "ORDER BY size DESC, cluster_id LIMIT 20").to_pylist()
    return summary


def write_datasheet(ledger: str, out_dir: str, about: str | None = None, top: int = 30, sme: bool | None = None) -> dict:
    """The datasheet's files (the datasheet flow's task)."""
    from .reports import write_datasheet as write

    r = write(ledger, out_dir, about=about, top=top, sme=sme)
    return {"out_dir": str(r.out_dir), "files": {k: str(v) for k, v in r.files.items()}, "facts": r.facts,
            "documents": r.facts["corpus"]["documents"]}


def build_code_index(name: str, sources: list[str], out_dir: str, license: str | None = None) -> dict:
    from .codeindex import build_index

    return build_index(sources, out_dir, name=name, license=license)


def fetch_chunk(hosts: list[str], allow_internal: bool, proxy: str | None, resolve: dict[str, str] | None,
                max_workers: int, per_host_delay: float) -> list:
    """robots.txt of ``hosts`` as snapshots (the refresh flow's task)."""
    from .netguard import Resolver
    from .robots.fetch import RobotsFetcher
    from .robots.snapshots import from_fetch

    fetcher = RobotsFetcher(allow_internal=allow_internal, resolver=Resolver(resolve or {}),
                            proxies={"http": proxy, "https": proxy} if proxy else None,
                            max_workers=max_workers, per_host_delay=per_host_delay)
    return list(from_fetch(fetcher.fetch_many(hosts)))


def refresh_robots(ledger: str = "provenance.duckdb", hosts: list[str] | None = None, allow_internal: bool = False,
                   proxy: str | None = None, resolve: dict[str, str] | None = None, agents: list[str] | None = None,
                   rules: list[str] | None = None, max_workers: int = 8, per_host_delay: float = 1.0, chunk: int = 500,
                   fetch_step: Callable = fetch_chunk, cluster: str | None = None) -> dict:
    """Fetch robots.txt of every host in the ledger (in chunks), re-evaluate consent, record what changed;
    ``changed`` lists the host/agent changes of this refresh (the flow posts them as an artifact). ``cluster``
    decides consent on Dask workers (``provenance.robots.consent.evaluate``)."""
    from .ledger import Ledger
    from .robots.consent import evaluate, fetch_targets, store_snapshots
    from .ruleset import evaluated_agents

    from .netguard import Resolver
    from .robots.fetch import RobotsFetcher
    from .rsl import LicenseSource

    agents = agents or [a.token for a in evaluated_agents(rules)]
    # RSL licenses named by the fetched robots.txt: fetched live with the same guard and settings
    rsl = LicenseSource(fetcher_for=lambda path: RobotsFetcher(
        allow_internal=allow_internal, resolver=Resolver(resolve or {}),
        proxies={"http": proxy, "https": proxy} if proxy else None, max_workers=max_workers,
        per_host_delay=per_host_delay, path=path))
    with Ledger(ledger, create=False) as led:
        if hosts is None:
            hosts = fetch_targets(led)
        new = 0
        for i in range(0, len(hosts), chunk):
            snaps = fetch_step(hosts[i : i + chunk], allow_internal, proxy, resolve, max_workers, per_host_delay)
            n, _ = store_snapshots(led, snaps, rsl=rsl)
            new += n
        result = evaluate(led, agents, cluster=cluster, rules=rules)
        changes = led.query(
            "SELECT host, agent, change, documents, words FROM consent_changes "
            "WHERE detected_at = (SELECT max(detected_at) FROM consent_changes) ORDER BY words DESC, host, agent"
        ).to_pylist() if result["changes"] else []
    return {"hosts": len(hosts), "new_snapshots": new, "changes": len(changes), "changed": changes,
            "evaluation": result}
