"""Terminal progress for long scans: shards done, documents, docs/s, and one line per problem.

Lines go to stderr so stdout stays clean for tables and JSON. With ``quiet`` nothing is printed.
"""

from __future__ import annotations

import sys
import time

from .ledger import ShardResult


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


class Progress:
    def __init__(self, total_shards: int, skipped: int = 0, stream=None, quiet: bool = False):
        self.total = total_shards
        self.skipped = skipped
        self.done = 0
        self.docs = 0
        self.quarantined = 0
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def _print(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.stream, flush=True)

    def start(self, pending: int) -> None:
        skip = f", {self.skipped} unchanged and skipped" if self.skipped else ""
        self._print(f"scanning {pending} shard(s){skip}")

    def shard_done(self, r: ShardResult) -> None:
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
