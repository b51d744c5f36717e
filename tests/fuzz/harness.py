"""The fuzz harness: seeds -> cases -> a long-lived worker subprocess -> oracles -> a summary.

The parent builds every case file under a temporary folder outside the repository, computes the oracle's
expectation in a separate process (a damaged Parquet file may crash pyarrow; that must not take the harness
with it), and hands the case to the worker (``worker.py``), which runs ``scan_shard`` + ledger ingest and,
independently, ``read_shard``. The parent enforces a per-case timeout (hang), notices a dead worker (crash,
with the signal), polls the worker's RSS (kill at 3 GiB: memory) and restarts the worker after each of those.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from . import mutators as MU
from . import oracles as O
from . import seeds as S

REPO = Path(__file__).resolve().parents[2]
WORKER_PY = Path(__file__).with_name("worker.py")
GIB = 1 << 30
MIB = 1 << 20
CASE_TIMEOUT = 60.0
KILL_RSS = 3 * GIB
PEAK_LIMIT = int(1.5 * GIB)
FORMAT_GROUP = {"jsonl": "jsonl", "parquet": "parquet", "warc": "warc", "wet": "warc", "wat": "warc"}
PRODUCT_FAILURES = ("crash", "hang", "memory", "exception", "ingest", "accounting", "lost", "wrong_outcome",
                    "damage_report", "status", "leak", "invalid_utf8", "consistency", "clean_seed")


# ---------------------------------------------------------------------------------------------------
# the worker process
# ---------------------------------------------------------------------------------------------------
class WorkerDied(Exception):
    pass


class Worker:
    def __init__(self, python: str, cwd: str, tmp: Path, n: int):
        self.base = tmp / f"worker{n}"
        self.base.mkdir(parents=True, exist_ok=True)
        self.stderr_path = tmp / f"worker{n}.stderr"
        env = dict(os.environ)
        env.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("PYTHONPATH", None)  # the product comes from the target venv and checkout
        self.err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([python, str(WORKER_PY), str(self.base)], cwd=cwd, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, start_new_session=True)
        self.buf = b""
        self.t_start = time.monotonic()
        kind, payload = self._line(timeout=300)
        if kind != "ready":
            raise WorkerDied(f"worker did not start: {kind} {payload!r}; stderr: {self.stderr_tail()}")
        self.info = json.loads(payload)
        self.startup_seconds = time.monotonic() - self.t_start

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            return self.stderr_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _line(self, timeout: float, poll=None):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl].decode("utf-8", "replace"), self.buf[nl + 1 :]
                kind, _, payload = line.partition(" ")
                return kind, payload
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", ""
            r, _, _ = select.select([fd], [], [], min(0.1, left))
            if poll is not None:
                verdict = poll()
                if verdict:
                    return verdict, ""
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    self.proc.wait(timeout=10)
                    return "died", ""
                self.buf += chunk

    def rss(self) -> int:
        try:
            import psutil

            p = psutil.Process(self.proc.pid)
            total = p.memory_info().rss
            for c in p.children(recursive=True):
                try:
                    total += c.memory_info().rss
                except psutil.Error:
                    pass
            return total
        except Exception:  # noqa: BLE001
            return 0

    def run(self, req: dict, timeout: float) -> dict:
        """One case. Returns {"outcome": ok|hang|crash|memory, "result": ..., "stderr": ..., "peak_polled": ...}."""
        off = self.stderr_path.stat().st_size
        peak = [0]
        t0 = time.monotonic()

        def poll():
            if self.proc.poll() is not None:
                return "died"
            r = self.rss()
            peak[0] = max(peak[0], r)
            if r > KILL_RSS:
                return "memory"
            if time.monotonic() - t0 > timeout:
                return "hang"
            return None

        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._dead(off, peak[0], time.monotonic() - t0)
        result = None
        outcome = "ok"
        while True:
            kind, payload = self._line(timeout + 5, poll)
            if kind == "start":
                continue
            if kind == "result":
                result = json.loads(payload)
                break
            if kind == "died":
                return self._dead(off, peak[0], time.monotonic() - t0)
            if kind in ("hang", "memory", "timeout"):
                outcome = "hang" if kind in ("hang", "timeout") else "memory"
                self.kill()
                break
        return {"outcome": outcome, "result": result, "stderr": self._stderr_since(off), "peak_polled": peak[0],
                "seconds": time.monotonic() - t0}

    def _dead(self, off, peak, secs) -> dict:
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.returncode
        sig = -rc if rc is not None and rc < 0 else None
        return {"outcome": "crash", "result": None, "returncode": rc,
                "signal": signal.Signals(sig).name if sig else None, "stderr": self._stderr_since(off),
                "peak_polled": peak, "seconds": secs}

    def _stderr_since(self, off: int) -> str:
        try:
            self.err.flush()
            with open(self.stderr_path, "rb") as f:
                f.seek(off)
                return f.read(4 << 20).decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"cmd": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except Exception:  # noqa: BLE001
                self.kill()
        self.err.close()


# ---------------------------------------------------------------------------------------------------
# oracle jobs (run in a separate process)
# ---------------------------------------------------------------------------------------------------
def oracle_job(fmt: str, path: str, suffix: str, max_doc_bytes: int):
    if fmt == "jsonl":
        comp = "gzip" if suffix.endswith(".gz") else ("zstd" if suffix.endswith((".zst", ".zstd")) else None)
        with open(path, "rb") as f:
            data = f.read()
        return O.jsonl_expect(data, comp, max_doc_bytes)
    if fmt == "parquet":
        return O.parquet_expect(path, max_doc_bytes)
    return None


def warc_job(path: str, fmt: str):
    return O.warc_records(path, fmt)


class Oracles:
    def __init__(self):
        self.pool = None
        self._new()

    def _new(self):
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in list(getattr(self.pool, "_processes", {}).values()):
                try:
                    p.kill()
                except Exception:  # noqa: BLE001
                    pass
        self.pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))

    def submit(self, fn, *args):
        try:
            return self.pool.submit(fn, *args)
        except Exception:  # noqa: BLE001 - a broken pool
            self._new()
            return self.pool.submit(fn, *args)

    def result(self, fut, timeout: float = 180):
        try:
            return fut.result(timeout=timeout), None
        except cf.TimeoutError:
            self._new()
            return None, "oracle timed out"
        except cf.process.BrokenProcessPool:
            self._new()
            return None, "oracle process died (pyarrow/warcio crashed on this input)"
        except Exception as exc:  # noqa: BLE001
            return None, f"oracle raised {type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}"

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------------
@dataclass
class Failure:
    kind: str
    message: str


def _outcomes(read: dict) -> tuple[dict, dict, list, list]:
    """position -> ("doc", url_norm, sha, nbytes); position -> reason (record rows); range rows; problems."""
    docs, recs, problems = {}, {}, []
    for p, url, sha, nb, _ in read.get("docs", []):
        if p in docs:
            problems.append(f"position {p} is two documents")
        docs[p] = ("doc", O.norm_url(url or ""), sha, nb)
    ranges = []
    for q in read.get("quarantine", []):
        kind = q.get("kind")
        if kind == "record":
            p = q.get("position")
            if p in recs:
                problems.append(f"position {p} quarantined twice")
            if p in docs:
                problems.append(f"position {p} is both a document and quarantined")
            recs[p] = q.get("reason")
        elif kind == "range":
            ranges.append(q)
    return docs, recs, ranges, problems


def _got(docs, recs, p):
    if p in docs:
        return docs[p]
    if p in recs:
        return ("q", recs[p])
    return "absent"


def _kind_of(oc) -> str:
    if oc == "absent":
        return "absent"
    return "doc" if oc[0] == "doc" else oc[1]


def _same(a, b) -> bool:
    if a == "absent" or b == "absent":
        return a == b
    if a[0] != b[0]:
        return False
    if a[0] == "doc":
        return a[1] == b[1] and a[2] == b[2]
    return a[1] == b[1]


def _fmt(oc) -> str:
    if oc == "absent":
        return "absent"
    if oc[0] == "doc":
        return f"document (sha {oc[2][:10]})"
    return f"quarantined {oc[1]}"


def check_common(case: MU.Case, run: dict) -> list[Failure]:
    F: list[Failure] = []
    res = run.get("result") or {}
    texts = [run.get("stderr") or ""]
    for k in ("worker_exc", "discover_exc", "scan_exc", "read_exc", "ingest_exc", "ledger_exc"):
        if k in res:
            e = res[k]
            texts += [e.get("message") or "", e.get("traceback") or ""]
            kind = "ingest" if k in ("ingest_exc",) else "exception"
            where = {"scan_exc": "scan_shard", "read_exc": "read_shard", "ingest_exc": "ledger ingest",
                     "ledger_exc": "ledger query", "discover_exc": "discover", "worker_exc": "worker"}[k]
            F.append(Failure(kind, f"{where} raised {e.get('type')}: {_clip(e.get('message'))}"))
    scan, read, led = res.get("scan"), res.get("read"), res.get("ledger")
    if scan:
        texts += [scan.get("error") or ""] + [str(q.get("detail") or "") for q in scan.get("summary") or []]
        if scan["rows_read"] != scan["documents"] + scan["quarantined"]:
            F.append(Failure("accounting", f"ScanResult rows_read {scan['rows_read']} != documents {scan['documents']} + "
                                           f"quarantined {scan['quarantined']}"))
        if scan["status"] not in ("done", "partial", "failed"):
            F.append(Failure("status", f"unknown status {scan['status']!r}"))
    if read:
        if res.get("read_shard_error"):
            texts.append(res["read_shard_error"].get("detail") or "")
        texts += [str(q.get("detail") or "") for q in read["quarantine"]]
        docs, recs, ranges, problems = _outcomes(read)
        for p in problems:
            F.append(Failure("accounting", f"read_shard: {p}"))
        qsum = 0
        for q in read["quarantine"]:
            if q.get("kind") == "record":
                qsum += q["n_rows"] if q.get("n_rows") is not None else 1
            elif q.get("kind") == "range":
                qsum += q.get("n_rows") or 0
        if read["rows_read"] != len(read["docs"]) + qsum:
            F.append(Failure("accounting", f"read_shard rows_read {read['rows_read']} != documents {len(read['docs'])} + "
                                           f"quarantined rows {qsum}"))
        if read.get("invalid_utf8"):
            F.append(Failure("invalid_utf8", f"documents with invalid UTF-8 in url/text at positions {read['invalid_utf8'][:5]}"))
        if scan and "read_exc" not in res and scan["documents"] != len(read["docs"]):
            F.append(Failure("consistency", f"scan_shard kept {scan['documents']} documents, read_shard {len(read['docs'])}"))
    if led:
        texts += [str(q.get("detail") or "") for q in led.get("quarantine") or []]
        sh = led.get("shard")
        if sh is None:
            if scan and "ingest_exc" not in res:
                F.append(Failure("ingest", "no shards row after ingest"))
        else:
            texts.append(sh.get("error") or "")
            if sh["rows_read"] != sh["documents"] + sh["quarantined"]:
                F.append(Failure("accounting", f"ledger shards row: rows_read {sh['rows_read']} != documents {sh['documents']} + "
                                               f"quarantined {sh['quarantined']}"))
            if len(led["documents"]) != sh["documents"]:
                F.append(Failure("accounting", f"ledger holds {len(led['documents'])} documents, shards row says {sh['documents']}"))
            if led.get("has_n_rows"):
                lq = sum((q["n_rows"] if q.get("n_rows") is not None else (1 if q["kind"] == "record" else 0))
                         for q in led["quarantine"] if q["kind"] in ("record", "range"))
            else:
                lq = sum(1 for q in led["quarantine"] if q["kind"] == "record")
            if lq != sh["quarantined"]:
                F.append(Failure("accounting", f"ledger quarantine rows sum to {lq}, shards row says {sh['quarantined']}"))
            if scan and sh["status"] != scan["status"]:
                F.append(Failure("consistency", f"ledger status {sh['status']} != ScanResult status {scan['status']}"))
            if read and "read_exc" not in res and "ingest_exc" not in res:
                rd = sorted((p, O.norm_url(u or ""), nb) for p, u, _, nb, _ in read["docs"])
                ld = sorted((p, O.norm_url(u or ""), b) for p, u, b, _ in led["documents"])
                if rd != ld:
                    diff = sorted(set(rd) ^ set(ld))[:3]
                    F.append(Failure("consistency", f"ledger documents (position, url, bytes) differ from read_shard's: "
                                                    f"{len(ld)} vs {len(rd)}, e.g. {_redact(diff)}"))
    blob = "\n".join(texts)
    for m in S.MARKERS:
        if m in blob:
            where = _leak_where(texts, m)
            F.append(Failure("leak", f"record content ({m!r}) in {where}"))
            break
    peak = res.get("peak_kb")
    start = res.get("rss_start_kb")
    if peak and start:
        lim = case.mem_limit or PEAK_LIMIT
        if (peak - start) * 1024 > lim:
            F.append(Failure("memory", f"peak RSS {peak // 1024} MiB is {(peak - start) // 1024} MiB above the case's start "
                                       f"(limit {lim // MIB} MiB)"))
    return F


def _leak_where(texts, m) -> str:
    names = ["worker stderr"]
    for t in texts[1:]:
        if m in t:
            i = t.find(m)
            return f"a message: ...{_redact(t[max(0, i - 80) : i])}<MARK>..."
    return names[0]


def _redact(x) -> str:
    s = str(x)
    for m in S.MARKERS:
        s = s.replace(m, "<MARK>")
    return s


def _clip(s, n: int = 300) -> str:
    s = _redact(s or "")
    return s if len(s) <= n else s[:n] + "..."


def check_expectation(case: MU.Case, run: dict, exp: O.Expectation) -> list[Failure]:
    F: list[Failure] = []
    res = run.get("result") or {}
    read, scan = res.get("read"), res.get("scan")
    if read is None or "read_exc" in res:
        return F
    docs, recs, ranges, _ = _outcomes(read)
    lost, wrong = [], []
    for p, oc in exp.docs.items():
        g = _got(docs, recs, p)
        if g == "absent" or g[0] != "doc":
            lost.append(f"{p}: {_fmt(g)}")
        elif not _same(g, oc):
            wrong.append(f"{p}: document differs (url or text)")
    for p, reason in exp.quarantine.items():
        g = _got(docs, recs, p)
        if g == "absent":
            wrong.append(f"{p}: expected quarantined {reason}, absent")
        elif g[0] == "doc":
            wrong.append(f"{p}: expected quarantined {reason}, kept as a document")
        elif g[1] != reason:
            wrong.append(f"{p}: expected {reason}, got {g[1]}")
    for p, allowed in exp.flex.items():
        g = _kind_of(_got(docs, recs, p))
        if g not in allowed:
            wrong.append(f"{p}: expected one of {sorted(allowed)}, got {g}")
    known = set(exp.docs) | set(exp.quarantine) | set(exp.flex)
    extra = [p for p in list(docs) + list(recs) if p not in known and not any(lo <= p < hi for lo, hi in exp.extra_ok_ranges)]
    for p in sorted(extra)[:5]:
        wrong.append(f"{p}: unexpected {_fmt(_got(docs, recs, p))}")
    if lost:
        F.append(Failure("lost", f"{len(lost)} record(s) the contract keeps are lost: {', '.join(lost[:5])}"))
    if wrong:
        F.append(Failure("wrong_outcome", f"{len(wrong)} wrong outcome(s): {'; '.join(wrong[:6])}"))
    if exp.rows_min is not None and not (exp.rows_min <= read["rows_read"] <= exp.rows_max):
        want = exp.rows_min if exp.rows_min == exp.rows_max else f"{exp.rows_min}..{exp.rows_max}"
        F.append(Failure("accounting", f"rows_read {read['rows_read']}, the contract says {want}"))
    if exp.fmt == "jsonl":
        want = sorted((p, r) for p, r, _ in exp.damages)
        got = sorted((q.get("position"), q.get("reason")) for q in ranges)
        eith = [d for d in exp.damages if d[2]]
        ok = want == got or (eith and len(want) == len(got) and
                             sorted(p for p, _ in want) == sorted(p for p, _ in got))
        if not ok:
            extra_msg = ""
            if res.get("read_shard_error"):
                extra_msg = f"; read_shard raised ShardError {res['read_shard_error'].get('reason')} instead"
            F.append(Failure("damage_report", f"range rows (position, reason) {got[:4]} != contract's {want[:4]}{extra_msg}"))
    if exp.fmt == "parquet" and exp.status == {"failed"}:
        if read["docs"] or read["rows_read"]:
            F.append(Failure("wrong_outcome", f"unreadable footer but read_shard gave {read['rows_read']} rows"))
    st = scan.get("status") if scan else None
    allowed = exp.status
    if case.status is not None:
        allowed = (allowed & case.status) if allowed else case.status
        if not allowed:
            allowed = case.status
    if st is not None and allowed and st not in allowed:
        F.append(Failure("status", f"status {st}, the contract says {'/'.join(sorted(allowed))}"))
    return F


@dataclass
class WarcSeedInfo:
    records: list  # O.WarcRecord
    ref: dict | None = None  # position -> outcome from the product's run on the clean seed
    ref_error: str | None = None


def check_warc(case: MU.Case, run: dict, seed: S.Seed, info: WarcSeedInfo) -> list[Failure]:
    F: list[Failure] = []
    res = run.get("result") or {}
    read, scan = res.get("read"), res.get("scan")
    if read is None or "read_exc" in res:
        return F
    docs, recs, ranges, _ = _outcomes(read)
    ext = 16 if seed.packaging == "plain" else 0
    lost, wrong = [], []
    for i, r in enumerate(info.records):
        old = r.offset
        if case.warc_layout is not None:
            if i >= len(case.warc_layout):
                continue
            new = case.warc_layout[i]
            touched = i in case.warc_touched
        elif case.edit is not None:
            lo, hi = case.edit.touched()
            a, b = r.offset, r.offset + r.length + ext
            touched = a < hi and lo < b
            if case.edit.end == case.edit.start:  # insertion: shift what starts at or after it
                new = old + case.edit.shift if old >= case.edit.start else old
            else:
                new = old + case.edit.shift if old >= case.edit.end else old
        else:
            new, touched = old, False
        g = _got(docs, recs, new)
        if i in case.expect_at:
            if _kind_of(g) not in case.expect_at[i]:
                wrong.append(f"record {i} ({r.rtype}) at {new}: expected {'/'.join(sorted(case.expect_at[i]))}, got {_kind_of(g)}")
            continue
        if touched:
            continue
        if info.ref is not None:
            want = info.ref.get(old, "absent")
            if not _same(g, want):
                if want != "absent" and want[0] == "doc" and (g == "absent" or g[0] != "doc"):
                    lost.append(f"record {i} ({r.rtype}) at {new}: was {_fmt(want)}, now {_fmt(g)}")
                elif want != "absent" and g == "absent":
                    lost.append(f"record {i} ({r.rtype}) at {new}: was {_fmt(want)}, now absent")
                else:
                    wrong.append(f"record {i} ({r.rtype}) at {new}: was {_fmt(want)}, now {_fmt(g)}")
        elif r.is_row and g == "absent":
            lost.append(f"record {i} ({r.rtype}) at {new}: not a row")
    if lost:
        F.append(Failure("lost", f"{len(lost)} untouched record(s) lost: {'; '.join(lost[:4])}"))
    if wrong:
        F.append(Failure("wrong_outcome", f"{len(wrong)} record outcome(s) changed: {'; '.join(wrong[:4])}"))
    st = scan.get("status") if scan else None
    if case.status is not None and st is not None and st not in case.status:
        F.append(Failure("status", f"status {st}, the contract says {'/'.join(sorted(case.status))}"))
    return F


def check_clean_warc(run: dict, info: WarcSeedInfo) -> list[Failure]:
    F: list[Failure] = []
    res = run.get("result") or {}
    read, scan = res.get("read"), res.get("scan")
    if read is None:
        return F
    docs, recs, _, _ = _outcomes(read)
    rows = [r for r in info.records if r.is_row]
    missing = [r.offset for r in rows if r.offset not in docs and r.offset not in recs]
    if missing:
        F.append(Failure("clean_seed", f"{len(missing)} row record(s) warcio sees are not rows at their offsets: {missing[:5]}"))
    row_offs = {r.offset for r in rows}
    extra = [p for p in list(docs) + list(recs) if p not in row_offs]
    if extra:
        F.append(Failure("clean_seed", f"rows at positions that are no row record's offset: {sorted(extra)[:5]}"))
    if read["rows_read"] != len(rows):
        F.append(Failure("clean_seed", f"rows_read {read['rows_read']}, warcio counts {len(rows)} row records"))
    if scan and scan.get("status") != "done":
        F.append(Failure("clean_seed", f"clean seed status {scan.get('status')}"))
    return F


# ---------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------
@dataclass
class CaseRecord:
    id: str
    seed: str
    fmt: str
    mutator: str
    outcome: str
    failures: list
    seconds: float
    peak_mb: float | None
    delta_mb: float | None
    note: str = ""
    file: str | None = None


@dataclass
class Config:
    budget: float = 150.0
    seed: int = 0
    formats: tuple = ("jsonl", "parquet", "warc")
    out: str | None = None
    replay: str | None = None
    python: str = sys.executable
    product: str = str(REPO)
    use_shared: bool = True
    known: bool = True
    timeout: float = CASE_TIMEOUT
    max_failures_listed: int = 60
    verbose: bool = False


class Harness:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.tmp = Path(tempfile.mkdtemp(prefix="provenance-fuzz-"))
        self.cases_dir = self.tmp / "cases"
        self.cases_dir.mkdir()
        self.out = Path(cfg.out) if cfg.out else self.tmp / "out"
        self.out.mkdir(parents=True, exist_ok=True)
        self.records: list[CaseRecord] = []
        self.worker: Worker | None = None
        self.n_workers = 0
        self.restarts = 0
        self.startup: list[float] = []
        self.oracles = Oracles()
        self.notes: list[str] = []
        self.warc_info: dict[str, WarcSeedInfo] = {}
        self.oracle_errors: list[str] = []

    # ---- workers
    def _worker(self) -> Worker:
        if self.worker is None or self.worker.proc.poll() is not None:
            if self.worker is not None:
                self.worker.close()
                self.restarts += 1
            self.n_workers += 1
            self.worker = Worker(self.cfg.python, self.cfg.product, self.tmp, self.n_workers)
            self.startup.append(self.worker.startup_seconds)
        return self.worker

    def _log(self, msg: str) -> None:
        if self.cfg.verbose:
            print(msg, file=sys.stderr, flush=True)

    # ---- one case
    def run_case(self, case: MU.Case, seed: S.Seed, clean_ref: bool = False) -> CaseRecord:
        path = self.cases_dir / f"{case.id}{case.suffix}"
        path.write_bytes(case.data)
        m = case.max_doc_bytes or O.DEFAULT_MAX_DOC_BYTES
        fut = self.oracles.submit(oracle_job, case.fmt, str(path), case.suffix, m) if case.fmt in ("jsonl", "parquet") else None
        w = self._worker()
        run = w.run({"id": case.id, "path": str(path), "max_doc_bytes": case.max_doc_bytes}, self.cfg.timeout)
        F: list[Failure] = []
        outcome = run["outcome"]
        if outcome == "crash":
            F.append(Failure("crash", f"worker died: signal {run.get('signal')} (exit {run.get('returncode')})"))
        elif outcome == "hang":
            F.append(Failure("hang", f"no result after {self.cfg.timeout:.0f} s; worker killed"))
        elif outcome == "memory":
            F.append(Failure("memory", f"worker RSS passed {KILL_RSS // GIB} GiB; killed"))
        if outcome != "ok":
            m_ = [x for x in S.MARKERS if x in (run.get("stderr") or "")]
            if m_:
                F.append(Failure("leak", "record content in the worker's stderr"))
            self.worker.kill()
        else:
            F += check_common(case, run)
        exp = None
        if fut is not None:
            exp, err = self.oracles.result(fut)
            if err:
                self.oracle_errors.append(f"{case.id}: {err.splitlines()[0]}")
        if outcome == "ok":
            if exp is not None:
                F += check_expectation(case, run, exp)
            elif case.fmt in ("warc", "wet", "wat"):
                info = self.warc_info.get(case.seed)
                if info is not None:
                    F += check_clean_warc(run, info) if clean_ref else check_warc(case, run, seed, info)
        res = run.get("result") or {}
        peak = res.get("peak_kb")
        start = res.get("rss_start_kb")
        rec = CaseRecord(case.id, case.seed, FORMAT_GROUP.get(case.fmt, case.fmt), case.mutator, outcome,
                         [asdict(f) for f in F], run.get("seconds", 0.0),
                         (peak / 1024) if peak else (run.get("peak_polled", 0) / MIB or None),
                         ((peak - start) / 1024) if peak and start else None, case.note)
        if F:
            keep = self.out / "cases" / path.name
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, keep)
            rec.file = str(keep)
        path.unlink(missing_ok=True)
        self.records.append(rec)
        self._log(f"{case.id:40s} {case.mutator:34s} {outcome:6s} {rec.seconds:6.2f}s "
                  f"{'FAIL ' + ','.join(sorted({f.kind for f in F})) if F else 'ok'}")
        if clean_ref and outcome == "ok":
            self._set_ref(case.seed, res)
        return rec

    def _set_ref(self, name: str, res: dict) -> None:
        info = self.warc_info.get(name)
        read = res.get("read")
        if info is None or read is None or "read_exc" in res:
            return
        docs, recs, _, _ = _outcomes(read)
        ref = dict(docs)
        ref.update({p: ("q", r) for p, r in recs.items()})
        info.ref = ref

    # ---- the whole run
    def run(self) -> dict:
        t0 = time.monotonic()
        seeds, notes = S.build_seeds(self.tmp / "seeds", self.cfg.seed, self.cfg.use_shared)
        self.notes += notes
        self.all_seeds = list(seeds)
        groups = set(self.cfg.formats)
        seeds = [s for s in seeds if FORMAT_GROUP[s.fmt] in groups]
        by_name = {s.name: s for s in seeds}
        # WARC seeds: warcio's records of the clean files, then the product's outcome on each clean seed
        warc_seeds = [s for s in seeds if s.fmt in ("warc", "wet", "wat")]
        for s in warc_seeds:
            p = self.tmp / "seeds" / f"clean-{s.name}{s.suffix}"
            p.write_bytes(s.data)
            try:
                self.warc_info[s.name] = WarcSeedInfo(O.warc_records(str(p), s.fmt))
            except Exception as exc:  # noqa: BLE001
                self.notes.append(f"warcio cannot read seed {s.name}: {exc}")
        try:
            self._worker()
        except WorkerDied as exc:
            self.notes.append(str(exc))
            return self.summary(time.monotonic() - t0, fatal=str(exc))
        replay = self.cfg.replay
        needed_refs = warc_seeds
        if replay:
            case = self._rebuild(replay, seeds, by_name)
            if case is None:
                return self.summary(time.monotonic() - t0, fatal=f"no case {replay!r} (seed list or formats differ?)")
            needed_refs = [by_name[case.seed]] if case.fmt in ("warc", "wet", "wat") else []
        for s in needed_refs:
            if s.name in self.warc_info:
                self.run_case(MU.Case(id=f"clean-{s.name}", seed=s.name, fmt=s.fmt, suffix=s.suffix, mutator="none(clean seed)",
                                      data=s.data), s, clean_ref=True)
        if replay:
            self.run_case(case, by_name[case.seed])
            return self.summary(time.monotonic() - t0)
        # clean JSON Lines / Parquet seeds: the oracle on unmutated input
        for s in seeds:
            if s.fmt in ("jsonl", "parquet"):
                self.run_case(MU.Case(id=f"clean-{s.name}", seed=s.name, fmt=s.fmt, suffix=s.suffix, mutator="none(clean seed)",
                                      data=s.data), s)
        if self.cfg.known:
            for case in MU.known_cases(by_name):
                self.run_case(case, by_name[case.seed])
        # a random case picks its seed among all seeds, so that its id means the same case whatever --formats
        # says; cases whose seed is filtered out are skipped
        i = 0
        while seeds and time.monotonic() - t0 < self.cfg.budget:
            case = MU.random_case(self.cfg.seed, i, self.all_seeds, allowed=by_name)
            i += 1
            if case is not None:
                self.run_case(case, by_name[case.seed])
        return self.summary(time.monotonic() - t0)

    def _rebuild(self, cid: str, seeds: list[S.Seed], by_name: dict) -> MU.Case | None:
        if cid.startswith("k-"):
            return next((c for c in MU.known_cases(by_name) if c.id == cid), None)
        if cid.startswith("clean-"):
            s = by_name.get(cid[len("clean-") :])
            return MU.Case(id=cid + "-replay", seed=s.name, fmt=s.fmt, suffix=s.suffix, mutator="none", data=s.data) if s else None
        if cid.startswith("r") and "-" in cid:
            seed_s, idx = cid[1:].split("-", 1)
            return MU.random_case(int(seed_s), int(idx), self.all_seeds, allowed=by_name)
        return None

    # ---- reporting
    def summary(self, seconds: float, fatal: str | None = None) -> dict:
        recs = self.records
        per_fmt_mut = Counter((r.fmt, r.mutator.split(":")[0] + (":" + r.mutator.split(":")[1].split("@")[0] if ":" in r.mutator else ""))
                              for r in recs)
        fail_kinds = Counter()
        fail_by_mut = defaultdict(Counter)
        crash_signals = Counter()
        failing = []
        for r in recs:
            kinds = sorted({f["kind"] for f in r.failures})
            for k in kinds:
                fail_kinds[k] += 1
                fail_by_mut[r.mutator][k] += 1
            for f in r.failures:
                if f["kind"] == "crash":
                    crash_signals[f["message"]] += 1
            if r.failures:
                failing.append(r)
        worst = sorted((r for r in recs if r.delta_mb is not None), key=lambda r: -r.delta_mb)[:8]
        out = {
            "seconds": round(seconds, 1),
            "budget": self.cfg.budget,
            "seed": self.cfg.seed,
            "python": self.cfg.python,
            "product": self.cfg.product,
            "cases": len(recs),
            "known_cases": sum(1 for r in recs if r.id.startswith("k-")),
            "random_cases": sum(1 for r in recs if r.id.startswith("r")),
            "cases_per_format": dict(Counter(r.fmt for r in recs)),
            "cases_per_format_and_mutator": {f"{a}/{b}": n for (a, b), n in sorted(per_fmt_mut.items())},
            "failing_cases": len(failing),
            "failures_by_kind": dict(fail_kinds),
            "crash_signals": dict(crash_signals),
            "failures_by_mutator": {m: dict(c) for m, c in sorted(fail_by_mut.items())},
            "worker_starts": self.n_workers,
            "worker_restarts": self.restarts,
            "worker_startup_seconds": [round(x, 1) for x in self.startup],
            "peak_rss_mb": round(max((r.peak_mb or 0) for r in recs), 1) if recs else None,
            "worst_by_rss": [{"id": r.id, "mutator": r.mutator, "delta_mb": round(r.delta_mb, 1), "peak_mb": round(r.peak_mb or 0, 1)}
                             for r in worst],
            "oracle_errors": self.oracle_errors[:20],
            "notes": self.notes,
            "fatal": fatal,
            "failures": [{"id": r.id, "seed": r.seed, "mutator": r.mutator, "note": r.note, "file": r.file,
                          "failures": r.failures} for r in failing],
            "out": str(self.out),
        }
        (self.out / "report.json").write_text(json.dumps(out, indent=1, default=str))
        (self.out / "cases.json").write_text(json.dumps([asdict(r) for r in recs], indent=0, default=str))
        return out

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        self.oracles.close()
        shutil.rmtree(self.tmp / "cases", ignore_errors=True)
        shutil.rmtree(self.tmp / "seeds", ignore_errors=True)
        for p in self.tmp.glob("worker*"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
        if self.cfg.out:  # everything worth keeping is in --out
            shutil.rmtree(self.tmp, ignore_errors=True)


def failed(summary: dict) -> bool:
    return bool(summary.get("fatal")) or summary.get("failing_cases", 0) > 0


def format_summary(s: dict, max_listed: int = 60, detailed: bool = True) -> str:
    L = []
    def here(path) -> str:  # paths under the working directory, relative to it
        rel = os.path.relpath(str(path)) if path else str(path)
        return rel if not rel.startswith("..") else str(path)

    L.append(f"fuzz: {s['cases']} cases in {s['seconds']} s (budget {s['budget']} s, seed {s['seed']}; "
             f"{s.get('known_cases', 0)} known, {s.get('random_cases', 0)} random) against {here(s['product'])} "
             f"with {here(s['python'])}")
    L.append(f"  cases per format: {s.get('cases_per_format')}")
    if detailed:
        L.append("  cases per format/mutator: " + ", ".join(f"{k}={v}" for k, v in s.get("cases_per_format_and_mutator", {}).items()))
    fk = s.get("failures_by_kind", {})
    sig = f" {s['crash_signals']}" if s.get("crash_signals") else ""
    L.append(f"  failing cases: {s.get('failing_cases', 0)}; by kind: crashes {fk.get('crash', 0)}{sig}, "
             f"hangs {fk.get('hang', 0)}, memory {fk.get('memory', 0)}, records lost {fk.get('lost', 0)}, "
             f"wrong outcomes {fk.get('wrong_outcome', 0)}, accounting {fk.get('accounting', 0)}, "
             f"damage not reported as ranges {fk.get('damage_report', 0)}, status {fk.get('status', 0)}, "
             f"content leaks {fk.get('leak', 0)}, exceptions {fk.get('exception', 0)}, ingest {fk.get('ingest', 0)}, "
             f"invalid UTF-8 kept {fk.get('invalid_utf8', 0)}, scan/read/ledger inconsistent {fk.get('consistency', 0)}, "
             f"clean seeds {fk.get('clean_seed', 0)}")
    L.append(f"  workers started {s.get('worker_starts')} (restarts {s.get('worker_restarts')}), start-up seconds "
             f"{s.get('worker_startup_seconds')}; peak RSS {s.get('peak_rss_mb')} MiB")
    L.append("  worst inputs by RSS above the case start: " + ", ".join(
        f"{w['id']} ({w['mutator']}) +{w['delta_mb']} MiB" for w in s.get("worst_by_rss", [])[:5]))
    if s.get("oracle_errors"):
        L.append(f"  oracle errors (not product failures): {s['oracle_errors'][:5]}")
    for n in s.get("notes", []):
        L.append(f"  note: {n}")
    if s.get("fatal"):
        L.append(f"  FATAL: {s['fatal']}")
    if s.get("failures_by_mutator"):
        L.append("  failures by mutator:")
        for m, c in s["failures_by_mutator"].items():
            L.append(f"    {m}: {dict(c)}")
    if s.get("failures"):
        L.append(f"  failing cases (replay with --replay ID; files in {s['out']}/cases):")
        for f in s["failures"][:max_listed]:
            L.append(f"    {f['id']} [{f['seed']}] {f['mutator']}{(' ' + f['note']) if f.get('note') else ''}")
            for x in f["failures"][:4]:
                L.append(f"      {x['kind']}: {x['message'][:400]}")
        if len(s["failures"]) > max_listed:
            L.append(f"    ... and {len(s['failures']) - max_listed} more (report.json)")
    L.append(f"  report: {here(s['out'])}/report.json")
    return "\n".join(L)


def run(cfg: Config) -> dict:
    h = Harness(cfg)
    try:
        return h.run()
    finally:
        h.close()
