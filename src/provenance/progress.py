"""Terminal progress for scans: a first line at once, then one line per shard done (documents, docs/s, every
problem), and for shards that take long their rows/s and bytes/s while they are read: a live status line on
a terminal, a plain line every ``PROVENANCE_PROGRESS_SECONDS`` (default 10) otherwise.

Lines go to stderr so stdout stays clean for tables and JSON. With ``quiet`` nothing is printed.

Shard workers in this process (threads: the CLI's pool and Prefect's thread task runner) report what they
read through :func:`reporter`, keyed by shard URI; workers elsewhere (Dask) report nothing, and only the
per-shard lines are shown. :func:`cancel` asks the shards in progress to stop at their next batch (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import threading
import time

from .ledger import ShardResult


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def _shown(line: str) -> str:
    """``line`` safe for a terminal: shard names and details come from the corpus (a file may be named with an
    ANSI escape sequence). Plain ASCII lines, nearly all of them, skip the import of the report escaping."""
    if line.isascii() and line.isprintable():
        return line
    from .reports.escape import plain

    return plain(line)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


# -- what shard workers report ---------------------------------------------------------------------------


class Reading:
    """Counters of one shard being read (written by its worker thread, read by the display)."""

    __slots__ = ("uri", "size", "rows", "text_bytes", "raw_bytes", "raw", "t0")

    def __init__(self, uri: str, size: int | None):
        self.uri, self.size = uri, size
        self.rows = self.text_bytes = self.raw_bytes = 0
        self.raw = None  # the shard's raw file (sources.open_binary): its position is how far reading got
        self.t0 = time.perf_counter()

    def position(self) -> int:
        f = self.raw
        if f is not None:
            try:
                self.raw_bytes = max(self.raw_bytes, int(f.tell()))
            except (OSError, ValueError, AttributeError):  # closed, or not seekable
                pass
        return self.raw_bytes


_READING: dict[str, Reading] = {}
_CANCEL = threading.Event()


class Cancelled(BaseException):
    """Raised in a shard worker when the run was interrupted (not an Exception: nothing records it as a
    shard failure; the shard's temporary files are removed and it is scanned again on the next run)."""


def reporter(uri: str) -> Reading | None:
    """The counters a worker updates while reading ``uri`` (None when nobody watches)."""
    return _READING.get(uri)


def cancel() -> None:
    _CANCEL.set()


def reset_cancel() -> None:
    _CANCEL.clear()


def check_cancelled() -> None:
    if _CANCEL.is_set():
        raise Cancelled("interrupted")


# -- the display -------------------------------------------------------------------------------------------


class Progress:
    def __init__(self, total_shards: int, skipped: int = 0, stream=None, quiet: bool = False,
                 interval: float | None = None, live: bool | None = None):
        self.total = total_shards
        self.skipped = skipped
        self.done = 0
        self.docs = 0
        self.quarantined = 0
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = (live if live is not None else _isatty(self.stream)) and not quiet
        env = os.environ.get("PROVENANCE_PROGRESS_SECONDS", "")
        self.interval = interval if interval is not None else (
            float(env) if env.replace(".", "", 1).isdigit() and float(env) > 0 else 10.0)
        self._lock = threading.Lock()
        self._status = ""  # the live line currently drawn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mine: list[str] = []
        self._last_plain: dict[str, float] = {}

    # output
    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is never worth failing a scan for
            pass

    def _print(self, line: str) -> None:
        if self.quiet:
            return
        with self._lock:
            clear = "\r\x1b[K" if self._status else ""
            self._write(f"{clear}{_shown(line)}\n{self._status}")

    # lifecycle
    def start(self, pending: int, todo: list | None = None) -> None:
        skip = f", {self.skipped} unchanged and skipped" if self.skipped else ""
        self._print(f"scanning {pending} shard(s){skip}")
        for s in todo or []:
            _READING[s.uri] = Reading(s.uri, s.size)
            self._mine.append(s.uri)
        if not self.quiet and todo:
            self._thread = threading.Thread(target=self._watch, name="progress", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self._status:
                self._write("\r\x1b[K")
                self._status = ""
        for uri in self._mine:
            _READING.pop(uri, None)
        self._mine = []

    def _watch(self) -> None:
        tick = 0.2 if self.live else min(1.0, self.interval)
        while not self._stop.wait(tick):
            now = time.perf_counter()
            busy = [r for u in self._mine if (r := _READING.get(u)) is not None and r.rows]
            if self.live:
                line = self._live_line(busy, now)
                with self._lock:
                    if line != self._status:
                        self._write("\r\x1b[K" + line)
                        self._status = line
                continue
            for r in busy:  # plain lines for shards that take long, every interval (when they moved on)
                last_t, last_rows = self._last_plain.get(r.uri, (r.t0, 0))
                if now - last_t >= self.interval and r.rows != last_rows:
                    self._last_plain[r.uri] = (now, r.rows)
                    self._print("  " + _reading_line(r, now))

    def _live_line(self, busy: list[Reading], now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        rows = self.docs + sum(r.rows for r in busy)
        head = f"[{self.done}/{self.total - self.skipped} shards] {_fmt(rows)} rows, {_fmt(rows / elapsed)} rows/s"
        parts = [_reading_line(r, now, short=True) for r in busy[:3]]
        more = f" +{len(busy) - 3}" if len(busy) > 3 else ""
        line = _shown(head + (" | " + "; ".join(parts) + more if parts else ""))
        width = _width(self.stream)
        return line if len(line) < width else line[: width - 2] + "…"

    # events
    def shard_done(self, r: ShardResult) -> None:
        _READING.pop(r.uri, None)
        self._last_plain.pop(r.uri, None)
        self.done += 1
        self.docs += r.documents
        self.quarantined += r.quarantined
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        cached = " (cached)" if r.from_cache else ""
        name = r.uri.rsplit("/", 1)[-1]
        self._print(
            f"[{self.done}/{self.total - self.skipped}] {name}: {_fmt(r.documents)} docs, {_fmt(r.quarantined)} quarantined"
            f"{cached} | total {_fmt(self.docs)} docs, {_fmt(self.docs / elapsed)} docs/s"
        )
        for q in r.quarantine_summary:
            where = f"position {q['position']}" if q.get("position") is not None else "shard"
            if q.get("kind") == "range":
                rows = f", {_fmt(q['n_rows'])} row(s)" if q.get("n_rows") else ""
                self._print(f"  damaged {name} {where}{rows}: {q['reason']}: {q['detail']}")
            else:
                self._print(f"  quarantined {name} {where}: {q['reason']}: {q['detail']}")
        shown = sum((q.get("n_rows") or 0) if q.get("kind") == "range" else 1 for q in r.quarantine_summary)
        extra = r.quarantined - shown
        if extra > 0:
            self._print(f"  ... and {_fmt(extra)} more quarantined in {name} (see the quarantine table)")
        if r.error:
            self._print(f"  quarantined {name} ({r.status}): {r.error_reason}: {r.error}")


def _reading_line(r: Reading, now: float, short: bool = False) -> str:
    t = max(now - r.t0, 1e-9)
    name = r.uri.rsplit("/", 1)[-1]
    r.position()
    pct = f", {min(100 * r.raw_bytes / r.size, 99.9):.0f}%" if r.size and r.raw_bytes else ""
    if short:
        return f"{name}{pct}"
    return (f"{name}: {_fmt(r.rows)} rows read, {_fmt(r.rows / t)} rows/s, {_mb(r.text_bytes / t)}/s of text"
            + (f", {_mb(r.raw_bytes)} of {_mb(r.size)} read{pct}" if r.size and r.raw_bytes else "") + f", {t:,.0f} s")


def _isatty(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def _width(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 100
