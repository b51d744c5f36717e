"""RSL (Really Simple Licensing 1.0) license documents: parsing, fetching, and the consent signals they make.

What we implemented, and from which text
========================================

Specification: "Really Simple Licensing (RSL) 1.0 Specification", RSL-SPEC-1.0, Recommendation published
2025-11-06 by the RSL Technical Steering Committee (https://rslstandard.org/rsl, namespace
``https://rslstandard.org/rsl``; errata up to 2026-05-27 at https://rslstandard.org/rsl/errata). What we
could read of it here: its front matter and errata list, the element and attribute tables of the 1.0 drafts
of 2025-07-10 and 2025-09-16 (which the Recommendation keeps), and rslstandard.org's guide on RSL with AI
Preferences. What we implemented:

* Discovery: a robots.txt ``License: <url>`` line, site-wide like ``Sitemap:`` (not part of a user-agent
  group): ``provenance.robots.matcher`` keeps it in ``extensions`` with agents ``None``. A relative URL is
  resolved against the robots.txt URL; only http(s) URLs are read.
* ``<rsl>`` is the root; its ``xmlns`` must be the namespace above. It holds one or more ``<content>``.
* ``<content url="..." server="...">``: ``url`` is required and is either a full URL or a path that follows
  RFC 9309 URL matching (``*`` any sequence, trailing ``$`` end of path). A full URL on another host than
  the robots.txt host does not describe this host: its terms are recorded (``applies = false``) but make no
  signal. ``server`` (a license server: clients must obtain a license even when it is free) is recorded.
* ``<license>`` (one or more per ``<content>``) holds ``<permits type=...>`` / ``<prohibits type=...>``
  (``type`` is ``usage``, ``user`` or ``geo``; the value is a list of tokens separated by commas and/or
  white space) and ``<payment type=...>`` (``purchase``, ``subscription``, ``training``, ``crawl``, ``use``,
  ``contribution``, ``attribution``, ``free``, ...; missing: ``free``) with ``<amount currency=...>``,
  ``<standard>`` and ``<custom>``. Other elements (``<legal>``, ``<schema>``, ``<copyright>``, ``<terms>``,
  extensions in other namespaces) are not read.
* Usage tokens: ``all`` (any automated processing), ``ai-all`` (every AI use: ``ai-train``, ``ai-input`` and
  ``ai-index``), ``ai-train``, ``ai-input``, ``ai-index``, ``search``. Unknown tokens are kept in
  ``rsl_terms`` and otherwise ignored.

Mapping to the project vocabulary (``provenance.signals.USES``): ``ai-train`` -> ``train-ai``,
``ai-input`` -> ``ai-input``, ``ai-index`` -> ``ai-index``, ``search`` -> ``search``, ``all`` -> ``tdm`` (the
umbrella: a prohibition is recorded as such, not expanded, as signals.py does for every umbrella; a permission
of ``all`` is also a permission of each specific use, so that a more specific scope's ``permits all`` can
outrank a broader refusal), ``ai-all`` -> ``train-ai``, ``ai-input`` and ``ai-index`` (the token's definition
as issue 18 and implementers' mappings read it; we could not read the Recommendation's vocabulary section,
3.4.1). Only ``type="usage"`` terms make signals; ``user`` and ``geo`` terms are recorded in ``rsl_terms``
only (they say who and where, not what use).

Signals (``robots_signals``, ``source = 'rsl'``, agent ``*``, ``scope`` = the content path pattern):

* ``<prohibits type="usage">`` -> ``allowed = false`` for each mapped use.
* ``<permits type="usage">`` -> ``allowed = true``; a payment other than ``free`` (or a license server) does
  not make it less of a permission, the evidence names the payment terms, and ``rsl_terms`` keeps them.
* Uses a license does not permit: the stored copies of the Recommendation we could read did not include the
  paragraph on what an unlisted use means, so this follows our reading (the conservative one, which
  implementers' guides also take): when the ``<content>`` elements of one ``url`` carry at least one
  ``<permits type="usage">``, a specific use (``train-ai``, ``ai-input``, ``ai-index``, ``search``) that none
  of their licenses permits (directly, or through ``all`` / ``ai-all``) and none prohibits is *not
  permitted*: ``allowed = false``, evidence ``... permits usage <tokens> only: <use> not permitted``.
  Licenses of one ``url`` are alternatives (a content may be offered under several), so a use is not
  permitted only when no alternative permits it. The umbrella ``tdm`` is never implied: not permitting
  ``all`` leaves the listed uses permitted; only an explicit ``prohibits all`` reserves it. A content
  with no ``<permits type="usage">`` at all implies nothing.
* Where several ``<content>`` patterns match a document's path, the verdict (``provenance.verdict``) lets
  the longest matching pattern decide, per use (RFC 9309 matching, which RSL adopts for ``url``: the more
  specific scope wins); patterns of equal length combine, a refusal winning (unlike RFC 9309's allow-wins
  tie: a permission and a prohibition of one use for one scope read as a refusal). So ``/`` prohibiting
  ``ai-train`` and ``/open/*`` permitting ``all`` refuse training for ``/about`` and not for ``/open/x``.
  The refusals of several licenses of one host (several ``License:`` lines) meet in the same ranking.

Documents are parsed with ``defusedxml`` with DTDs forbidden: any ``<!DOCTYPE>`` -- hence every entity
declaration (XXE, "billion laughs") and external DTD -- is refused before anything is resolved. Further
limits: at most :data:`MAX_BYTES` octets (larger: refused, never parsed), :data:`MAX_ELEMENTS` elements,
depth :data:`MAX_DEPTH`, :data:`MAX_LICENSE_LINES` ``License:`` lines per robots.txt, token and text
lengths bounded. A root element that is not ``rsl`` or is in another namespace is ``invalid``; a root
``rsl`` with *no* namespace is read leniently (as RSL 1.0, with a note in ``reason``), since hand-written
files forget ``xmlns`` and the element names are unambiguous. Parsers never raise on bad input: they return
a status and a reason, and a reason never quotes the document beyond a short, escaped, bounded excerpt.

Where license bodies come from (:class:`LicenseSource`)
=======================================================

* ``folder`` (the offline twin, ``--rsl-dir DIR``): the license URL mirrored as a path, as ``wget -x``
  lays out a download: ``https://example.com/legal/license.xml`` -> ``DIR/example.com/legal/license.xml``;
  a non-default port is part of the folder name (``DIR/example.com:8080/...``); a URL ending in ``/`` ->
  ``.../index.xml``; a query is kept in the file name after ``?`` (``license.xml?v=2``). The scheme is not
  part of the key. A missing file is ``not_fetched`` (reason says which file was looked for); names that
  would leave DIR (``..``, symbolic links pointing outside) are refused.
* ``live``: the robots.txt fetcher (``provenance.robots.fetch.RobotsFetcher``, one per license path, made
  by the caller's factory with the same SSRF guard, proxies, resolver overrides, redirect and size limits;
  the licenses of one batch of snapshots are fetched 8 at a time, each distinct URL once).
  2xx -> parsed; 4xx (or too many redirects) -> ``unavailable``; 5xx, 429 and network errors ->
  ``unreachable``; the SSRF guard's refusal (also on a redirect hop) -> ``blocked``.
* neither: ``not_fetched`` with the reason (an offline import without ``--rsl-dir``).

When both are given, the folder is asked first and the network only for files it lacks. A later import that
only could not fetch a license (``not_fetched``) keeps what an earlier one stored for the same snapshot.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urljoin, urlsplit

NAMESPACE = "https://rslstandard.org/rsl"
MAX_BYTES = 512 * 1024
MAX_ELEMENTS = 10_000
MAX_DEPTH = 24
MAX_LICENSE_LINES = 16
MAX_TOKENS = 64          # tokens kept per permits/prohibits element
MAX_TOKEN_CHARS = 64
MAX_TEXT_CHARS = 500     # url attributes, amounts, standard/custom URLs
EVIDENCE_CHARS = 300

#: RSL usage token -> project uses (provenance.signals.USES)
USAGE_MAP: dict[str, tuple[str, ...]] = {
    "all": ("tdm",),
    "ai-all": ("train-ai", "ai-input", "ai-index"),
    "ai-train": ("train-ai",),
    "ai-input": ("ai-input",),
    "ai-index": ("ai-index",),
    "search": ("search",),
}
#: the specific uses an unlisted use can be "not permitted" for (never the umbrella tdm)
IMPLIED_USES = ("train-ai", "ai-input", "ai-index", "search")
_TERM_TYPES = ("usage", "user", "geo")
_SPLIT = re.compile(r"[\s,]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ROBOTS_WORDING = re.compile(r"[:;] (?:robots\.txt|unreachable|rate limited)|, (?:allow|disallow) all")

STATUSES = ("parsed", "not_fetched", "unavailable", "unreachable", "blocked", "refused", "invalid")


def excerpt(value, limit: int = 60) -> str:
    """A short, escaped, bounded excerpt of document text for a reason or evidence (repr-escaped)."""
    s = value if isinstance(value, str) else str(value)
    r = repr(s[:limit])
    return r + ("..." if len(s) > limit else "")


def _clean(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None:
        return None
    s = _CONTROL.sub(" ", value).strip()
    return s[:limit]


# --------------------------------------------------------------------------------------- parsing


@dataclass
class Term:
    content_no: int
    content_url: str | None
    scope: str | None
    applies: bool
    server: str | None
    license_no: int | None
    kind: str                      # permits | prohibits | payment
    type: str | None
    value: str | None = None
    payment_type: str | None = None
    amount: str | None = None
    currency: str | None = None
    standard_url: str | None = None
    custom_url: str | None = None


@dataclass
class Parsed:
    status: str                    # parsed | refused | invalid
    reason: str | None = None
    terms: list[Term] = field(default_factory=list)
    contents: int = 0


def content_scope(url: str | None, host: str | None) -> tuple[str | None, bool]:
    """(path pattern, applies) of a ``<content url>`` for the robots.txt ``host``: a path is used as is; a
    full URL applies when its host is ``host`` and its pattern is its path (and query); anything else does
    not apply (scope None)."""
    if not url:
        return None, False
    if url.startswith("/"):
        return url, True
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None, False
        other = parts.hostname.rstrip(".").lower()
    except ValueError:
        return None, False
    from .domains import normalize_host

    if host is None or normalize_host(other) != normalize_host(host):
        return None, False
    path = parts.path or "/"
    return (path + (f"?{parts.query}" if parts.query else "")), True


def parse(body: bytes | str, host: str | None = None) -> Parsed:
    """Terms of an RSL document (``host``: the robots.txt host the terms are read for). Never raises on
    bad input: a status (``parsed`` | ``refused`` | ``invalid``) and a reason come back."""
    try:
        return _parse(body, host)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take an import down; say so, no content
        return Parsed("invalid", f"could not be read ({type(exc).__name__})")


def _parse(body: bytes | str, host: str | None) -> Parsed:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse
    from xml.etree.ElementTree import ParseError

    if isinstance(body, str):
        body = body.encode("utf-8")
    if body is None or not body.strip():
        return Parsed("invalid", "empty document")
    if len(body) > MAX_BYTES:
        return Parsed("refused", f"larger than {MAX_BYTES // 1024} KiB ({len(body):,} bytes): not parsed")
    root = None
    stack: list = []
    n = 0
    try:
        for event, elem in iterparse(io.BytesIO(body), events=("start", "end"), forbid_dtd=True,
                                     forbid_entities=True, forbid_external=True):
            if event == "start":
                n += 1
                if n > MAX_ELEMENTS:
                    return Parsed("refused", f"more than {MAX_ELEMENTS:,} elements: not read")
                if root is None:
                    root = elem
                stack.append(elem)
                if len(stack) > MAX_DEPTH:
                    return Parsed("refused", f"elements nested deeper than {MAX_DEPTH}: not read")
            else:
                stack.pop()
    except DefusedXmlException as exc:
        # DTDForbidden / EntitiesForbidden / ExternalReferenceForbidden: nothing was resolved
        return Parsed("refused", f"XML with a DTD, entity declaration or external reference is refused "
                                 f"({type(exc).__name__}); nothing was resolved")
    except ParseError as exc:
        pos = getattr(exc, "position", None)
        where = f" at line {pos[0]}, column {pos[1]}" if pos else ""
        return Parsed("invalid", f"not well-formed XML{where}")
    except (ValueError, LookupError) as exc:   # e.g. an encoding expat does not know
        return Parsed("invalid", f"cannot be read as XML ({type(exc).__name__})")
    if root is None:
        return Parsed("invalid", "no root element")
    ns, local = _split_tag(root.tag)
    if local != "rsl":
        return Parsed("invalid", f"root element is {excerpt(local, 40)}, not rsl")
    notes = []
    if ns is None:
        notes.append(f"no xmlns: read as RSL 1.0 ({NAMESPACE})")
    elif ns != NAMESPACE:
        return Parsed("invalid", f"namespace {excerpt(ns, 80)} is not {NAMESPACE}")
    out = Parsed("parsed")
    for ci, content in enumerate(_children(root, ns, "content"), start=1):
        out.contents += 1
        url = _clean(content.get("url"))
        server = _clean(content.get("server"))
        scope, applies = content_scope(url, host)
        if not url:
            notes.append(f"<content> {ci} has no url: not applied")
        for li, lic in enumerate(_children(content, ns, "license"), start=1):
            base = dict(content_no=ci, content_url=url, scope=scope, applies=applies, server=server, license_no=li)
            payments = []
            for pay in _children(lic, ns, "payment"):
                ptype = (_clean(pay.get("type"), MAX_TOKEN_CHARS) or "free").lower()
                amt = next(iter(_children(pay, ns, "amount")), None)
                std = next(iter(_children(pay, ns, "standard")), None)
                cus = next(iter(_children(pay, ns, "custom")), None)
                payments.append(Term(**base, kind="payment", type=ptype, payment_type=ptype,
                                     amount=_clean(amt.text, 40) if amt is not None and amt.text else None,
                                     currency=_clean(amt.get("currency"), 12) if amt is not None else None,
                                     standard_url=_clean(std.text) if std is not None and std.text else None,
                                     custom_url=_clean(cus.text) if cus is not None and cus.text else None))
            ptypes = ",".join(dict.fromkeys(p.payment_type for p in payments)) or None
            for kind in ("permits", "prohibits"):
                for el in _children(lic, ns, kind):
                    ttype = (el.get("type") or "").strip().lower()
                    if ttype not in _TERM_TYPES:
                        notes.append(f"<{kind}> with type {excerpt(ttype, 20)} ignored")
                        continue
                    tokens = [t.lower() for t in _SPLIT.split(el.text or "") if t][:MAX_TOKENS]
                    for tok in dict.fromkeys(tokens):
                        out.terms.append(Term(**base, kind=kind, type=ttype, value=_clean(tok, MAX_TOKEN_CHARS),
                                              payment_type=ptypes))
            out.terms.extend(payments)
    if out.contents == 0:
        notes.append("no <content> element")
    out.reason = "; ".join(notes[:5]) or None
    return out


def _split_tag(tag) -> tuple[str | None, str]:
    if not isinstance(tag, str):      # comments / processing instructions
        return None, ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _children(elem, ns: str | None, local: str):
    want = f"{{{ns}}}{local}" if ns else local
    return [c for c in elem if c.tag == want]


# --------------------------------------------------------------------------------------- signals


def signals(license_url: str, terms: list[Term]) -> list[tuple[str, bool, str, str]]:
    """(use, allowed, scope, evidence) of the usage terms that apply to this host (module docstring)."""
    out: list[tuple[str, bool, str, str]] = []
    groups: dict[str, list[Term]] = {}
    for t in terms:
        if t.applies and t.scope is not None and t.kind in ("permits", "prohibits") and t.type == "usage":
            groups.setdefault(t.scope, []).append(t)
    pay_of: dict[tuple[int, int | None], str] = {}
    for t in terms:
        if t.kind == "payment" and t.payment_type != "free":
            amount = f" {t.amount} {t.currency or ''}".rstrip() if t.amount else ""
            prev = pay_of.get((t.content_no, t.license_no))
            pay_of[(t.content_no, t.license_no)] = (prev + ", " if prev else "") + f"{t.payment_type}{amount}"
    for scope, ts in groups.items():
        cu = (_clean(ts[0].content_url or scope, 100) or "").replace('"', "%22")
        head = f'License: {_clean(license_url, 120)} <content url="{cu}">'
        permitted: set[str] = set()
        prohibited: set[str] = set()
        seen = set()
        for t in ts:
            uses = USAGE_MAP.get(t.value or "")
            if not uses:
                continue                   # unknown token: kept in rsl_terms, no signal
            allowed = t.kind == "permits"
            if allowed and t.value == "all":
                uses = uses + IMPLIED_USES   # permitting everything permits each use (for the longest match)
            (permitted if allowed else prohibited).update(uses)
            pay = ""
            if allowed and (t.content_no, t.license_no) in pay_of:
                pay = f" (payment: {pay_of[(t.content_no, t.license_no)]})"
            if allowed and t.server:
                pay += " (license server)"
            for use in uses:
                key = (use, allowed)
                if key in seen:
                    continue
                seen.add(key)
                out.append((use, allowed, scope, f"{head} {t.kind} usage {t.value}{pay}"[:EVIDENCE_CHARS]))
        has_permits = any(t.kind == "permits" and t.value in USAGE_MAP for t in ts)
        if has_permits:
            listed = " ".join(dict.fromkeys(t.value for t in ts if t.kind == "permits" and t.value in USAGE_MAP))
            for use in IMPLIED_USES:
                if use not in permitted and use not in prohibited:
                    out.append((use, False, scope,
                                f"{head} permits usage {listed} only: {use} not permitted"[:EVIDENCE_CHARS]))
    return out


# --------------------------------------------------------------------------------------- sources


@dataclass
class Fetched:
    status: str                    # parsed (a body to parse) | not_fetched | unavailable | unreachable | blocked | refused
    origin: str                    # live | folder | none
    body: bytes | None = None
    reason: str | None = None
    http_status: int | None = None
    fetched_at: datetime | None = None


def folder_key(url: str) -> str | None:
    """The relative file name of ``url`` in an ``--rsl-dir`` folder (module docstring), or None."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    top = f"[{host}]" if ":" in host else host
    if port and port != default:
        top = f"{top}:{port}"
    path = parts.path or "/"
    if path.endswith("/"):
        path += "index.xml"
    if parts.query:
        path += f"?{parts.query}"
    segs = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segs) or top in (".", ".."):
        return None
    return "/".join([top, *segs])


class LicenseSource:
    """Where license bodies come from: an offline ``folder`` (``--rsl-dir``), live fetching through
    ``fetcher_for(path) -> RobotsFetcher`` (the guarded robots.txt fetcher, one per license path), both
    (folder first), or neither (every license ``not_fetched`` with ``why``)."""

    def __init__(self, folder: str | Path | None = None, fetcher_for: Callable | None = None,
                 why: str = "not fetched: no --rsl-dir folder given and this command does not fetch live"):
        self.folder = Path(folder) if folder is not None else None
        self.fetcher_for = fetcher_for
        self.why = why
        self._fetchers: dict[str, object] = {}
        self._lock = threading.Lock()
        self._memo: dict[str, Fetched] = {}
        self.counts: dict[str, int] = {}   # licenses per final status, over every collect() with this source

    def get(self, url: str) -> Fetched:
        hit = self._memo.get(url)
        if hit is None:
            hit = self._memo[url] = self._get(url)
        return hit

    def prefetch(self, urls, workers: int = 8) -> None:
        """Read many licenses at once (live fetches in ``workers`` threads; each fetcher keeps its own
        per-host politeness and the guard); :meth:`get` then answers from memory."""
        todo = [u for u in dict.fromkeys(urls) if u not in self._memo]
        if self.fetcher_for is None or len(todo) < 2:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="rsl-fetch") as ex:
            for url, got in zip(todo, ex.map(self._get, todo)):
                self._memo[url] = got

    def _get(self, url: str) -> Fetched:
        missing = None
        if self.folder is not None:
            got = self._from_folder(url)
            if got.status != "not_fetched" or self.fetcher_for is None:
                return got
            missing = got.reason
        if self.fetcher_for is not None:
            return self._live(url)
        return Fetched("not_fetched", "none", reason=missing or self.why)

    def _from_folder(self, url: str) -> Fetched:
        key = folder_key(url)
        if key is None:
            return Fetched("refused", "folder", reason="license URL has no usable file name in the --rsl-dir folder")
        root = self.folder.resolve()
        p = root / key
        try:
            real = p.resolve()
        except (OSError, RuntimeError):
            return Fetched("refused", "folder", reason="license file name cannot be resolved")
        if not real.is_relative_to(root):
            return Fetched("refused", "folder", reason="license file would lie outside the --rsl-dir folder")
        if not real.is_file():
            return Fetched("not_fetched", "folder", reason=f"no file {excerpt(key, 120)} in the --rsl-dir folder")
        try:
            with open(real, "rb") as f:
                data = f.read(MAX_BYTES + 1)
            when = datetime.fromtimestamp(real.stat().st_mtime, tz=timezone.utc)
        except OSError as exc:
            return Fetched("not_fetched", "folder", reason=f"cannot read the license file ({type(exc).__name__})")
        if len(data) > MAX_BYTES:
            return Fetched("refused", "folder", reason=f"larger than {MAX_BYTES // 1024} KiB: not parsed", fetched_at=when)
        return Fetched("parsed", "folder", body=data, fetched_at=when)

    def _live(self, url: str) -> Fetched:
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("not an http(s) URL")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            origin = f"{scheme}://{parts.netloc.rpartition('@')[2]}"
        except ValueError as exc:
            return Fetched("refused", "live", reason=f"license URL not fetched: {exc}")
        with self._lock:
            fetcher = self._fetchers.get(path)
            if fetcher is None:
                fetcher = self._fetchers[path] = self.fetcher_for(path)
                if getattr(fetcher, "max_bytes", MAX_BYTES) < MAX_BYTES:
                    fetcher.max_bytes = MAX_BYTES
        r = fetcher.fetch(origin)
        reason = _clean(r.error, 400) if r.error else None
        if r.outcome == "parsed":
            if r.truncated:
                return Fetched("refused", "live", reason=f"larger than {MAX_BYTES // 1024} KiB: not parsed",
                               http_status=r.status, fetched_at=r.fetched_at)
            return Fetched("parsed", "live", body=r.body or b"", http_status=r.status, fetched_at=r.fetched_at)
        status = {"allow_all": "unavailable", "disallow_all": "unreachable", "blocked": "blocked"}.get(r.outcome, "unreachable")
        if reason and r.outcome != "blocked":
            # the fetcher words its errors for robots.txt ("robots.txt unavailable ..., allow all"): keep what
            # happened (HTTP status, redirects, network error), not what it would mean for robots.txt
            reason = _ROBOTS_WORDING.split(reason, 1)[0].strip() or None
        return Fetched(status, "live", reason=reason, http_status=r.status, fetched_at=r.fetched_at)


# --------------------------------------------------------------------------------------- snapshots -> rows


def license_lines(body: str) -> list[tuple[int, str]]:
    """(line, value) of the site-wide ``License:`` lines of a robots.txt body."""
    from .robots.matcher import RobotsTxt

    return [(n, v.strip()) for n, f, v, _agents in RobotsTxt.parse(body).extensions if f == "license" and v.strip()]


def resolve_url(value: str, robots_url: str | None, host: str) -> str | None:
    base = robots_url or (f"https://[{host}]/robots.txt" if ":" in host else f"https://{host}/robots.txt")
    try:
        url = urljoin(base, value.strip())
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url.split("#", 1)[0]


def collect(snapshots: list[dict], source: LicenseSource) -> tuple[list[dict], list[dict], list[dict]]:
    """Rows for ``rsl_licenses``, ``rsl_terms`` and ``robots_signals`` from parsed robots.txt snapshot rows
    (dicts with ``snapshot_id``, ``host``, ``url``, ``body``)."""
    lic_rows: list[dict] = []
    term_rows: list[dict] = []
    sig_rows: list[dict] = []
    now = datetime.now(timezone.utc)
    parsed_memo: dict[tuple[str, str], Parsed] = {}
    snapshots = [s for s in snapshots if s.get("body") and "license" in s["body"].lower()]
    source.prefetch(u for s in snapshots for _n, v in license_lines(s["body"])[:MAX_LICENSE_LINES]
                    if (u := resolve_url(v, s.get("url"), s["host"])))
    for s in snapshots:
        body = s.get("body")
        if not body or "license" not in body.lower():
            continue
        lines = license_lines(body)
        for line, value in lines[:MAX_LICENSE_LINES]:
            host = s["host"]
            url = resolve_url(value, s.get("url"), host)
            row = {"snapshot_id": s["snapshot_id"], "host": host, "license_url": _clean(url or value, 1000),
                   "line": line, "origin": "none", "fetched_at": None, "http_status": None, "status": "invalid",
                   "reason": None, "sha256": None, "n_bytes": None, "contents": None, "imported_at": now}
            lic_rows.append(row)
            if url is None:
                row["reason"] = f"License value {excerpt(value, 80)} is not an http(s) URL"
                continue
            got = source.get(url)
            row.update(origin=got.origin, fetched_at=got.fetched_at, http_status=got.http_status,
                       status=got.status, reason=got.reason)
            if got.status != "parsed":
                continue
            row["sha256"] = hashlib.sha256(got.body).hexdigest()
            row["n_bytes"] = len(got.body)
            key = (row["sha256"], host)
            p = parsed_memo.get(key)
            if p is None:
                p = parsed_memo[key] = parse(got.body, host)
            row.update(status=p.status, reason=p.reason, contents=p.contents)
            if p.status != "parsed":
                continue
            for t in p.terms:
                term_rows.append({"snapshot_id": s["snapshot_id"], "host": host, "license_url": url,
                                  **t.__dict__})
            for use, allowed, scope, evidence in signals(url, p.terms):
                sig_rows.append({"snapshot_id": s["snapshot_id"], "host": host, "source": "rsl", "use": use,
                                 "allowed": allowed, "agent": "*", "scope": scope, "evidence": evidence})
        if len(lines) > MAX_LICENSE_LINES:
            lic_rows.append({"snapshot_id": s["snapshot_id"], "host": s["host"], "license_url": "(more License lines)",
                             "line": lines[MAX_LICENSE_LINES][0], "origin": "none", "fetched_at": None,
                             "http_status": None, "status": "refused",
                             "reason": f"more than {MAX_LICENSE_LINES} License lines: the rest not read",
                             "sha256": None, "n_bytes": None, "contents": None, "imported_at": now})
    for r in lic_rows:
        source.counts[r["status"]] = source.counts.get(r["status"], 0) + 1
    return lic_rows, term_rows, sig_rows


__all__ = ["NAMESPACE", "MAX_BYTES", "USAGE_MAP", "Term", "Parsed", "Fetched", "LicenseSource", "parse",
           "signals", "collect", "content_scope", "folder_key", "license_lines", "resolve_url"]
