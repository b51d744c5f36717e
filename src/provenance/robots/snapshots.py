"""robots.txt snapshots: what a host's robots.txt said, when, and where we learned it.

Sources (every one lands in the ledger's ``robots_snapshots``):

- ``live``: fetched now with ``provenance.robots.fetch`` (RFC 9309 status semantics, SSRF guard);
- ``cc-warc``: Common Crawl robots.txt captures (the ``robotstxt`` subset of a crawl, WARC response
  records), with their capture dates — the historical truth at crawl time;
- ``jsonl``: JSON Lines of bodies (``host``, ``robots_txt``, optional ``url``, ``captured_at``/``fetched_at``,
  ``status``), the format of ../shared/data/robots_txt/protego_top10k_robots.jsonl.gz;
- ``folder``: files named ``<host>.txt``, ``<host>.robots.txt`` or ``<host>/robots.txt``.

HTTP status → outcome (RFC 9309 §2.3.1): 2xx ``parsed``; 4xx ``allow_all`` (unavailable) except 429;
429 (rate limited, as Google treats it), 5xx and network errors ``disallow_all`` (unreachable); a redirect
captured on its own (CC stores each hop as its own record) is ``unknown`` here, since the target is a
different capture. ``blocked`` (live fetches only) is our own refusal to fetch (the SSRF guard, an invalid
target): it says nothing about the publisher, and consent evaluation treats it as ``unknown``.

Bodies: a WARC capture's Content-Encoding is undone (``provenance.robots.content``: gzip, deflate, br,
zstd; an unknown coding or damaged data makes the snapshot ``unknown``, never a parse of coded octets),
then the first 500 KiB are decoded as text: UTF-16/32 when a byte order mark says so, else UTF-8.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import orjson

from .. import errors
from ..domains import normalize_host
from ..errors import ProvenanceError
from ..readers.base import _parse_one

MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least 500 KiB; we keep exactly that much


@dataclass
class Snapshot:
    host: str
    source: str
    captured_at: datetime
    outcome: str  # parsed | allow_all | disallow_all | unknown | blocked (our refusal: live fetches only)
    body: str | None = None
    url: str | None = None
    http_status: int | None = None
    n_bytes: int | None = None
    truncated: bool = False
    error: str | None = None

    @property
    def body_sha256(self) -> str | None:
        return hashlib.sha256(self.body.encode()).hexdigest() if self.body is not None else None

    @property
    def snapshot_id(self) -> str:
        key = f"{self.host}\0{self.source}\0{self.captured_at.isoformat()}\0{self.outcome}\0{self.body_sha256}"
        return hashlib.sha256(key.encode()).hexdigest()[:20]


def outcome_for_status(status: int | None) -> str:
    if status is None:
        return "disallow_all"
    if 200 <= status < 300:
        return "parsed"
    if 300 <= status < 400:
        return "unknown"
    if status == 429:
        return "disallow_all"  # rate limited: unreachable, like a 5xx (never "allowed" because we were throttled)
    if 400 <= status < 500:
        return "allow_all"
    return "disallow_all"


def decode_body(raw: bytes) -> tuple[str, int, bool]:
    """(text, original size, truncated): the first 500 KiB decoded (``matcher.decode_bytes``: UTF-16/32
    when a byte order mark says so, else UTF-8 with invalid bytes replaced; a BOM is dropped)."""
    from .matcher import decode_bytes

    n = len(raw)
    text = decode_bytes(raw[:MAX_BYTES])
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, n, n > MAX_BYTES


def _robots_url(host: str) -> str:
    """https URL of a host's robots.txt; an IPv6 literal keeps its brackets (``https://[::1]/robots.txt``)."""
    return f"https://[{host}]/robots.txt" if ":" in host else f"https://{host}/robots.txt"


def _when(value, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if value in (None, ""):
        return default
    d = _parse_one(str(value))
    return d or default


def import_jsonl(path: str | Path, captured_at: datetime | None = None) -> Iterator[Snapshot]:
    """Snapshots from JSON Lines (plain or .gz). ``captured_at`` applies to records without a date of
    their own (default: the file's modification time)."""
    path = Path(path)
    default = captured_at or datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ProvenanceError(f"{path}:{lineno}: not valid JSON ({exc})") from exc
            host = normalize_host(rec.get("host") or _host_of(rec.get("url")))
            if not host:
                raise ProvenanceError(f"{path}:{lineno}: record has no usable host")
            status = rec.get("status", rec.get("http_status", 200))
            status = int(status) if status is not None else None
            body_raw = rec.get("robots_txt", rec.get("body"))
            outcome = outcome_for_status(status)
            text = n = truncated = None
            if outcome == "parsed":
                raw = body_raw.encode("utf-8", "surrogatepass") if isinstance(body_raw, str) else (body_raw or b"")
                text, n, truncated = decode_body(raw)
            yield Snapshot(host=host, source="jsonl", captured_at=_when(rec.get("captured_at") or rec.get("fetched_at") or rec.get("date"), default),
                           outcome=outcome, body=text, url=rec.get("url") or _robots_url(host),
                           http_status=status, n_bytes=n, truncated=bool(truncated))


def import_folder(path: str | Path, captured_at: datetime | None = None) -> Iterator[Snapshot]:
    """Snapshots from ``<host>.txt``, ``<host>.robots.txt`` or ``<host>/robots.txt`` files (date: the
    file's modification time unless ``captured_at`` is given)."""
    root = Path(path)
    if not root.is_dir():
        raise ProvenanceError(f"{root}: not a folder")
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        if p.name == "robots.txt" and p.parent != root:
            host = p.parent.name
        elif p.name.endswith(".robots.txt"):
            host = p.name[: -len(".robots.txt")]
        elif p.name.endswith(".txt") and p.parent == root:
            host = p.name[: -len(".txt")]
        else:
            continue
        host = normalize_host(host)
        if not host:
            continue
        text, n, truncated = decode_body(p.read_bytes())
        when = captured_at or datetime.fromtimestamp(p.stat().st_mtime, tz=timezone.utc)
        yield Snapshot(host=host, source="folder", captured_at=when, outcome="parsed", body=text,
                       url=_robots_url(host), http_status=200, n_bytes=n, truncated=truncated)


def import_cc_warc(path: str | Path) -> Iterator[Snapshot]:
    """Snapshots from Common Crawl robots.txt captures (WARC ``response`` records of /robots.txt URLs),
    dated by WARC-Date. Other records are skipped."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from ..readers.warc import _dechunk
    from .content import UndecodableBody, decode

    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True, strict_mode=False):
            url = (rec.headers.get("WARC-Target-URI") or "").strip("<> ")
            if not url.lower().split("?", 1)[0].endswith("/robots.txt"):
                continue
            host = normalize_host(_host_of(url))
            if not host:
                continue
            when = _when(rec.headers.get("WARC-Date"), datetime.now(timezone.utc))
            status = rec.http_headers.status_code if rec.is_http else None
            outcome = outcome_for_status(status)
            text = n = None
            truncated = False
            if outcome == "parsed":
                headers = {k.lower(): v for k, v in rec.http_headers.items()}
                raw = rec.reader.read(MAX_BYTES * 4)
                try:
                    if "chunked" in headers.get("transfer-encoding", "").lower():
                        raw = _dechunk(raw, MAX_BYTES * 4)
                    # Common Crawl stores bodies decoded (and renames the header); other crawlers keep the
                    # coding the server sent. Output is capped at the parse limit: the rest is cut, not refused.
                    raw, cut = decode(raw, headers.get("content-encoding"), MAX_BYTES)
                except Exception as exc:  # noqa: BLE001 - UndecodableBody, _Bad (damaged chunking) or a bug
                    # An archive may hold a coding we cannot decode that the crawler of the day could: we
                    # cannot tell what the publisher said, so unknown (a live fetch would be unreachable).
                    why = str(exc) if isinstance(exc, UndecodableBody) else (
                        getattr(exc, "detail", None) or errors.safe_message(exc))
                    yield Snapshot(host=host, source="cc-warc", captured_at=when, outcome="unknown", url=url,
                                   http_status=status, error=f"body cannot be decoded: {why}")
                    continue
                text, n, truncated = decode_body(raw)
                truncated = truncated or cut
            yield Snapshot(host=host, source="cc-warc", captured_at=when, outcome=outcome, body=text, url=url,
                           http_status=status, n_bytes=n, truncated=truncated)


def from_fetch(results: Iterable) -> Iterator[Snapshot]:
    """Snapshots from live FetchResults (provenance.robots.fetch). ``blocked`` stays ``blocked``: our own
    refusal is never stored as the publisher's ``disallow_all``."""
    for r in results:
        text = n = None
        truncated = False
        if r.outcome == "parsed" and r.body is not None:
            text, n, _ = decode_body(r.body)
            truncated = bool(r.truncated)
        yield Snapshot(host=r.host, source="live", captured_at=r.fetched_at, outcome=r.outcome, body=text,
                       url=r.final_url or r.url, http_status=r.status, n_bytes=n, truncated=truncated, error=r.error)


def _host_of(url: str | None) -> str | None:
    from ..domains import host_from_url

    return host_from_url(url) if url else None


def detect_source(path: str | Path) -> str:
    p = str(path).lower()
    if os.path.isdir(path):
        return "folder"
    if p.endswith((".warc", ".warc.gz")):
        return "cc-warc"
    if p.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")):
        return "jsonl"
    raise ProvenanceError(f"{path}: cannot tell the kind of robots.txt source; use a folder, *.warc[.gz] or *.jsonl[.gz]")


def import_any(path: str | Path, captured_at: datetime | None = None) -> Iterator[Snapshot]:
    if not Path(path).exists():
        raise ProvenanceError(f"{path}: no such file or folder")
    kind = detect_source(path)
    if kind == "folder":
        return import_folder(path, captured_at)
    if kind == "cc-warc":
        return import_cc_warc(path)
    return import_jsonl(path, captured_at)

