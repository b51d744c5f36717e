"""The fuzz worker: a long-lived process that runs the product on one case at a time.

Run as a script (``python tests/fuzz/worker.py WORK_DIR``) with the product's checkout as the working
directory, so that ``import provenance`` is the code under test (the parent may point it at another
checkout and venv). Self-contained on purpose: it imports only the standard library and the product.

Protocol: one JSON request per line on stdin ``{"id", "path", "max_doc_bytes"}``; on the protocol stream
(the original stdout; the product's own stdout goes to stderr) the worker answers ``start <id>`` and then
``result <json>``. ``ready <json>`` after start-up (numba warm-up included).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import sys
import time
import traceback


def _proto():
    fd = os.dup(1)
    os.dup2(2, 1)  # anything the product prints goes to stderr, which the parent watches
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1)


PROTO = _proto()


def say(kind: str, payload) -> None:
    sys.stderr.flush()
    PROTO.write(f"{kind} {payload if isinstance(payload, str) else json.dumps(payload)}\n")
    PROTO.flush()


def _status_kb(key: str) -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _exc(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)[:4000],
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-8000:]}


def _bytes_col(batch, name):
    import pyarrow as pa

    if name not in batch.schema.names:
        return [None] * batch.num_rows
    col = batch.column(name)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = col.cast(pa.large_binary())
    elif not (pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)):
        return [None if v is None else str(v).encode() for v in col.to_pylist()]
    return col.to_pylist()


def _dec(b):
    if b is None:
        return None, True
    try:
        return b.decode("utf-8"), True
    except UnicodeDecodeError:
        return b.decode("utf-8", "replace"), False


class Runner:
    def __init__(self, base: str):
        self.base = base
        os.makedirs(base, exist_ok=True)
        from provenance.ledger import Ledger

        self.ledger_path = os.path.join(base, f"ledger-{os.getpid()}.duckdb")
        for p in (self.ledger_path, self.ledger_path + ".wal"):
            if os.path.exists(p):
                os.remove(p)
        self.led = Ledger(self.ledger_path)
        self.run_id = None
        self.qcols = None

    def case(self, req: dict) -> dict:
        import provenance.pipeline
        import provenance.sources
        from provenance.errors import ShardError
        from provenance.readers import ReadOptions, read_shard

        out: dict = {"id": req["id"]}
        m = int(req.get("max_doc_bytes") or 0)
        opts = (lambda: ReadOptions(max_doc_bytes=m)) if m else ReadOptions
        work = os.path.join(self.base, "w-" + req["id"].replace("/", "_"))
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        t0 = time.perf_counter()
        shard = None
        try:
            shard = provenance.sources.discover([req["path"]])[0]
            out["shard"] = {"shard_id": shard.shard_id, "format": shard.format, "error": shard.error}
        except Exception as exc:  # noqa: BLE001
            out["discover_exc"] = _exc(exc)
        # a. scan_shard
        res = None
        if shard is not None:
            try:
                res = provenance.pipeline.scan_shard(shard, work, options=opts())
                out["scan"] = {k: getattr(res, k, None) for k in (
                    "status", "rows_read", "documents", "quarantined", "error", "error_reason", "config_hash")}
                out["scan"]["summary"] = [dict(q) for q in (getattr(res, "quarantine_summary", None) or [])]
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out["scan_exc"] = _exc(exc)
        out["t_scan"] = time.perf_counter() - t0
        # b. ledger
        if res is not None:
            try:
                if self.run_id is None:
                    self.run_id = self.led.begin_run({}, "fuzz", res.config_hash, 1)
                self.led.ingest_shard(res, self.run_id)
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out["ingest_exc"] = _exc(exc)
            try:
                out["ledger"] = self._ledger_rows(shard.shard_id)
            except Exception as exc:  # noqa: BLE001
                out["ledger_exc"] = _exc(exc)
        # c. read_shard, independently
        t1 = time.perf_counter()
        if shard is not None:
            docs, quar, rows, invalid = [], [], 0, []
            try:
                for ch in read_shard(shard, opts()):
                    rows += int(ch.rows_read or 0)
                    for q in ch.quarantine or []:
                        quar.append({k: q.get(k) for k in ("position", "kind", "reason", "detail", "n_rows", "n_bytes")})
                    b = ch.batch
                    if b is not None and b.num_rows:
                        pos = b.column("position").to_pylist()
                        urls = _bytes_col(b, "url")
                        texts = _bytes_col(b, "text")
                        for p, u, t in zip(pos, urls, texts):
                            us, uok = _dec(u)
                            if not uok or (t is not None and not _dec(t)[1]):
                                invalid.append(p)
                            docs.append([p, us, hashlib.sha256(t or b"").hexdigest(), len(t or b""),
                                         t is None])
            except ShardError as exc:
                out["read_shard_error"] = {"reason": exc.reason, "detail": str(exc.detail)[:4000]}
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out["read_exc"] = _exc(exc)
            out["read"] = {"docs": docs, "quarantine": quar, "rows_read": rows, "invalid_utf8": invalid}
        out["t_read"] = time.perf_counter() - t1
        shutil.rmtree(work, ignore_errors=True)
        return out

    def _ledger_rows(self, shard_id: str) -> dict:
        con = self.led.con
        if self.qcols is None:
            self.qcols = [r[0] for r in con.execute("DESCRIBE quarantine").fetchall()]
        cols = [c for c in ("position", "kind", "reason", "detail", "n_bytes", "n_rows") if c in self.qcols]
        q = con.execute(f"SELECT {', '.join(cols)} FROM quarantine WHERE shard_id = ? ORDER BY position NULLS LAST",
                        [shard_id]).fetchall()
        d = con.execute("SELECT position, url, bytes, words FROM documents WHERE shard_id = ? ORDER BY position",
                        [shard_id]).fetchall()
        s = con.execute("SELECT status, rows_read, documents, quarantined, error FROM shards WHERE shard_id = ?",
                        [shard_id]).fetchall()
        return {
            "quarantine": [dict(zip(cols, r)) for r in q],
            "documents": [list(r) for r in d],
            "shard": dict(zip(("status", "rows_read", "documents", "quarantined", "error"), s[0])) if s else None,
            "has_n_rows": "n_rows" in self.qcols,
        }


def _warm_up(runner: Runner) -> None:
    p = os.path.join(runner.base, "warmup.jsonl")
    with open(p, "w") as f:
        f.write('{"url": "https://warm.example.com/", "text": "warm up the scanners once"}\n')
    r = runner.case({"id": "warmup", "path": p, "max_doc_bytes": 0})
    runner.led.con.execute("DELETE FROM documents WHERE shard_id = ?", [r.get("shard", {}).get("shard_id", "")])
    os.remove(p)


def main() -> None:
    base = sys.argv[1]
    runner = Runner(base)
    _warm_up(runner)
    say("ready", {"pid": os.getpid(), "rss_kb": _status_kb("VmRSS"), "python": sys.executable,
                  "cwd": os.getcwd()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        if req.get("cmd") == "exit":
            break
        say("start", req["id"])
        rss0 = _status_kb("VmRSS")
        reset = _reset_peak()
        try:
            out = runner.case(req)
        except BaseException as exc:  # noqa: BLE001 - the worker itself must answer
            out = {"id": req["id"], "worker_exc": _exc(exc)}
        out["rss_start_kb"] = rss0
        out["peak_kb"] = _status_kb("VmHWM") if reset else None
        out["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        say("result", out)
    runner.led.close()


if __name__ == "__main__":
    main()
