"""Corpus stages on a Dask cluster: the ``--cluster`` spec, a client for one run, and a map over partitions.

A stage splits its work into partitions (shards, bands, hosts) and writes each partition's input as files
in a work dir; a task function turns one partition's files into result files and returns a small summary.
``run_map`` runs the same task function in this process (no cluster) or on Dask workers (``client.map``):
the cluster only changes where the tasks run. Only the calling process opens the DuckDB ledger; it ingests
the result files. On a cluster the work dir must be a path every worker sees under the same name.

``--cluster`` is ``local:N`` (a LocalCluster of N single-threaded worker processes, started and stopped for
the run; ``local``: one per core) or the address of a running Dask scheduler (``tcp://HOST:8786``; a bare
``HOST:PORT`` means tcp). Only ``distributed`` is needed here; the scan flow adds prefect-dask on top of it.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager

from .errors import ProvenanceError

LOCAL = re.compile(r"local(?::(\d+))?")
ADDRESS = re.compile(r"(?:(tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(?::\d+)?")
METAVAR = "tcp://HOST:PORT|local:N"
WAIT_FOR_WORKERS = 60  # seconds a scheduler may take to have a first worker


def parse_cluster(cluster: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("address", "tcp://HOST:PORT")``; a one-line ProvenanceError if malformed."""
    m = LOCAL.fullmatch(cluster)
    a = ADDRESS.fullmatch(cluster)
    if (m and m.group(1) is not None and int(m.group(1)) < 1) or not (m or a):
        raise ProvenanceError(f"--cluster {cluster!r}: expected tcp://HOST:PORT (a running Dask scheduler) or local:N")
    if m:
        return "local", int(m.group(1)) if m.group(1) else (os.cpu_count() or 2)
    return "address", cluster if "://" in cluster else f"tcp://{cluster}"


def probe_scheduler(cluster: str) -> None:
    """A one-line ProvenanceError when nothing listens at a tcp/tls scheduler address (else Dask retries for
    30 s and then fails with a long traceback)."""
    a = ADDRESS.fullmatch(cluster)
    if LOCAL.fullmatch(cluster) or not a or (a.group(1) or "tcp") not in ("tcp", "tls"):
        return
    hostport = cluster.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":") if re.search(r":\d+$", hostport) else (hostport, "", "8786")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ProvenanceError(f"no Dask scheduler answers at {cluster} ({exc.strerror or exc}); start one with "
                              f"`dask scheduler`, or use --cluster local:N") from exc


def check_cluster(cluster: str, probe: bool = True, *, needs: str = "distributed", install: str = "Dask: pip install distributed") -> None:
    """Raise a one-line ProvenanceError for a malformed ``--cluster``, a missing ``needs`` module (the scan flow
    needs prefect_dask), or (``probe``) a scheduler address where nothing listens."""
    import importlib

    parse_cluster(cluster)
    try:
        importlib.import_module(needs)
    except ImportError as exc:
        raise ProvenanceError(f"--cluster needs {install} ({exc})") from exc
    if probe:
        probe_scheduler(cluster)


@contextmanager
def client(cluster: str | None):
    """A ``distributed.Client`` for ``cluster`` for the duration of the block (``local:N`` starts a
    LocalCluster of N single-threaded worker processes and stops it after); ``None`` gives ``None`` (the
    tasks run in this process)."""
    if not cluster:
        yield None
        return
    check_cluster(cluster)
    # no Dask INFO lines between a command's own lines (read when distributed is first imported, also by workers)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    import distributed

    kind, value = parse_cluster(cluster)
    if kind == "local":
        # no dashboard; the scheduler's HTTP server (health, metrics) on a free port, not 8787 (taken by any
        # other cluster on this machine: a warning on stderr)
        with distributed.LocalCluster(n_workers=value, threads_per_worker=1, processes=True, dashboard_address=None,
                                      scheduler_kwargs={"dashboard_address": ":0"}) as lc, distributed.Client(lc) as c:
            yield c
    else:
        try:
            c = distributed.Client(value, timeout="20s")
        except OSError as exc:
            raise ProvenanceError(f"no Dask scheduler answers at {cluster} ({exc}); start one with `dask scheduler`, "
                                  f"or use --cluster local:N") from exc
        with c:
            try:  # tasks sent to a scheduler without workers would wait forever
                c.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except (TimeoutError, OSError) as exc:
                raise ProvenanceError(f"the Dask scheduler at {cluster} has no workers (waited {WAIT_FOR_WORKERS} s); "
                                      f"start some with `dask worker {value}`") from exc
            yield c


def workers(c) -> int:
    """How many worker processes the client's cluster has (1 with no cluster)."""
    if c is None:
        return 1
    return max(1, len(c.nthreads()))


def _tuned_call(fn: Callable, item):
    """``fn(item)`` on a worker, its allocators tuned as the CLI's own process (budget.tune_allocators)."""
    from . import budget

    budget.tune_allocators()
    return fn(item)


def run_map(fn: Callable, items: Sequence, *, c=None, names: Iterable[str] | None = None,
            on_done: Callable[[int, object], None] | None = None) -> list:
    """``[fn(item) for item in items]``, in this process (``c`` None) or as one task per item on the client's
    cluster (``fn`` and the items must pickle: a module-level function and plain values). Results come back
    in the items' order; ``on_done(i, result)`` is called as each finishes. A task that raises becomes a
    one-line ProvenanceError naming its partition (``names[i]``); the rest of the tasks are cancelled."""
    items = list(items)
    names = list(names) if names is not None else [f"partition {i}" for i in range(len(items))]

    def failed(i, exc) -> ProvenanceError:
        if isinstance(exc, ProvenanceError):
            return ProvenanceError(f"{names[i]}: {exc}")
        msg = " ".join(str(exc).split())[:300]
        return ProvenanceError(f"{names[i]} failed{' on the cluster' if c is not None else ''}: "
                               f"{type(exc).__name__}{': ' + msg if msg else ''}")

    out: list = [None] * len(items)
    if c is None:
        for i, item in enumerate(items):
            try:
                out[i] = fn(item)
            except Exception as exc:  # noqa: BLE001 - one line naming the partition
                raise failed(i, exc) from exc
            if on_done:
                on_done(i, out[i])
        return out
    import distributed

    # pure=False: a rerun of the same stage computes again (its input files were written anew)
    futures = c.map(_tuned_call, [fn] * len(items), items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for f in distributed.as_completed(futures):
            i = index[f.key]
            try:
                out[i] = f.result()
            except Exception as exc:  # noqa: BLE001 - one line naming the partition
                raise failed(i, exc) from None
            if on_done:
                on_done(i, out[i])
    finally:
        c.cancel([f for f in futures if not f.done()])
    return out


__all__ = ["parse_cluster", "check_cluster", "probe_scheduler", "client", "workers", "run_map", "METAVAR"]
