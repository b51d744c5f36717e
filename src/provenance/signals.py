"""AI-usage signals from pages, HTTP headers and robots.txt, in one vocabulary, columnar over Arrow.

Every source below is turned into :class:`Signal` records ``(source, use, allowed, agent, scope,
evidence)``. ``use`` is one of :data:`USES`; ``allowed`` is ``False`` for a reservation / refusal and
``True`` for an explicit permission (the absence of a signal means "unknown" and produces nothing).
Parsers never raise on bad input: whatever cannot be read yields no signal.

Vocabulary (``USES``)
=====================

Follows the IETF AIPREF working group's drafts as of draft-ietf-aipref-vocab-07 and
draft-ietf-aipref-attach-05 (both tagged for submission on 19 August 2026 in github.com/ietf-wg-aipref/drafts;
the vocabulary's categories are unchanged from draft-ietf-aipref-vocab-06, 28 April 2026). Those drafts
define two categories: "AI Model Training" (label ``train-ai``; called "Foundation Model Production" in
-04 and -05) and "Search" (``search``). A category for the asset as input at inference time (RAG,
grounding; "AI Input", issue #172, discussed at the April 2026 interim) is not in any draft: proposals
for it (``rag-ground``, May 2026; ``infer-user`` / ``infer-system``, August 2026) are unmerged pull
requests, so those labels are unknown labels and, as the vocabulary requires, ignored. The uses below
that the AIPREF drafts do not define come from Cloudflare's Content Signals and RSL 1.0.

``tdm``
    Text and data mining in the sense of the EU DSM Directive (2019/790) Art. 4(3), the reservation that
    W3C TDMRep expresses. It is the broadest category (the "Automated Processing" umbrella of AIPREF
    vocab -02 to -04, labelled ``all`` in -02 and ``bots`` in -03/-04, ``tdm`` in -01; -05 and later have
    no umbrella): a reservation of ``tdm`` covers every narrower use. We record it as such and do not
    expand it into the narrower uses.
``train-ai``
    AIPREF "AI Model Training" (vocab -06/-07, label ``train-ai``): using the asset to change the learned
    parameters of an AI model that generates content. Since -05 this is generative / foundation-model
    training, i.e. what -02/-03 called "Generative AI Training" (``train-genai``), so that label maps here
    too. Cloudflare ``ai-train`` and the ``noai`` robots directive map here.
``search``
    AIPREF "Search" (label ``search``): use in an application whose primary purpose is to select assets
    and link users to them. The robots directives ``noindex`` / ``none`` are recorded here: they are
    search directives, not AI preferences.
``ai-input``
    The asset as input to an AI model at inference time: retrieval-augmented generation, grounding,
    answers built from fetched pages. Cloudflare Content Signals ``ai-input``; RSL 1.0 ``ai-input``; AIPREF
    vocab -02 "AI Use" (``ai-use``) and -01 "AI Inference" (``inference``). Ledgers written before this
    name stored ``ai-use``: verdicts and the ``page_signals`` view read it as ``ai-input``
    (:data:`LEGACY_USES`, :func:`use_sql`; migration 0014 rewrites ``robots_signals``).
``ai-index``
    RSL 1.0 ``ai-index``: building an AI-powered search engine or index from the asset (rslstandard.org).
    No AIPREF or Content Signals label maps here.

Labels of every source and revision, and the use each maps to (:data:`AIPREF_LABELS`,
:data:`CONTENT_SIGNAL_KEYS`):

    ==========================  ==================================  ===================
    label                       where                               use
    ==========================  ==================================  ===================
    ``train-ai``                AIPREF vocab -02 .. -07             train-ai
    ``search``                  AIPREF vocab -01 .. -07             search
    ``train-genai``             AIPREF vocab -02, -03               train-ai
    ``genai``                   AIPREF vocab -01                    train-ai
    ``ai``                      AIPREF vocab -01 ("AI Training")    train-ai
    ``ai-use``                  AIPREF vocab -02                    ai-input
    ``inference``               AIPREF vocab -01                    ai-input
    ``ai-output``               AIPREF vocab -04 ("AI Output")      ai-input and search
    ``tdm``                     AIPREF vocab -01                    tdm
    ``all``                     AIPREF vocab -02                    tdm
    ``bots``                    AIPREF vocab -03, -04               tdm
    ``ai-train``                Cloudflare Content Signals          train-ai
    ``ai-input``                Cloudflare Content Signals          ai-input
    ``search``                  Cloudflare Content Signals          search
    ==========================  ==================================  ===================

(``ai-output`` covered search results, hence both uses.) Uses stored by older versions of this package:
``ai-use`` is read as ``ai-input`` and ``train-genai`` as ``train-ai``; a policy may still name them
(deprecated aliases, see :mod:`provenance.ruleset`).

Sources (``Signal.source``), their syntax and mapping
=====================================================

``x-robots-tag`` -- HTTP ``X-Robots-Tag`` response header (Google's robots-meta specification, and the
DeviantArt / Spawning ``noai`` convention). A comma-separated list of directives; an item may start with
a product token and a colon (``X-Robots-Tag: GPTBot: noai, noimageai``), which applies to that item and
the following ones of the same value (Google's rule). Items whose name is a valued directive
(``unavailable_after: <date>``, ``max-snippet:``, ``max-image-preview:``, ``max-video-preview:``) are not
agent prefixes, and their value is skipped (so ``max-image-preview: none`` is not ``none``). Mapping:

    ``noai``      -> train-ai, refused, scope None
    ``noimageai`` -> train-ai, refused, scope ``"images"`` (the images of the page only)
    ``noindex``   -> search, refused
    ``none``      -> search, refused (``none`` = ``noindex, nofollow``)

Other directives (``index``, ``follow``, ``nofollow``, ``noarchive``, ``nosnippet``, ...) produce nothing.
When several ``X-Robots-Tag`` fields were joined into one value with ", " (how our readers store repeated
headers), an agent prefix of an earlier field also covers the unprefixed items of later fields; that
cannot be undone after the join.

``meta-robots`` -- ``<meta name="robots" content="...">`` (agent ``*``) and ``<meta name="<botname>"
content="...">`` (agent = the lower-cased name, e.g. ``<meta name="GPTBot" content="noindex">``), in the
document ``<head>`` only; same directive list and mapping as ``x-robots-tag``. A ``<meta>`` name counts as
a bot name when it is a known crawler token (``google-extended``, ``anthropic-ai``, ``img2dataset``, ...)
or ends in ``bot`` / ``spider`` / ``crawler`` (optionally followed by a ``-suffix``); other names
(``description``, ``keywords``) are never read as directives. ``<meta http-equiv="X-Robots-Tag">`` is read
like the header (agent prefixes allowed).

``tdmrep-header`` -- W3C TDM Reservation Protocol (TDMRep, Community Group final report 2024), HTTP
headers ``tdm-reservation: 1|0`` and optional ``tdm-policy: <url>``. ``1`` -> tdm refused, ``0`` -> tdm
allowed (explicitly not reserved); any other value is a protocol error and means unset (no signal).
``tdm-policy`` alone makes no signal; with a reservation it is quoted in the evidence.

``tdmrep-meta`` -- TDMRep in HTML: ``<meta name="tdm-reservation" content="1">`` and ``<meta
name="tdm-policy" content="<url>">`` in ``<head>`` (``http-equiv`` accepted too); same mapping.

``tdmrep-json`` -- TDMRep ``/.well-known/tdmrep.json``: a JSON array of rules ``{"location": <pattern>,
"tdm-reservation": 0|1, "tdm-policy": <url>}``. ``location`` uses robots.txt pattern syntax (``*`` any
characters, trailing ``$`` end of path), matched as a prefix against the path; the first matching rule
applies (TDMRep: "the most specific match is the first in sequence"). Each rule maps like the header, with
``scope`` = its ``location``. :func:`from_tdmrep_json` returns the rule that applies to ``path``
(default ``/``), or every rule with ``path=None``. A top-level object is read as a one-rule array; rules
without a string ``location`` or with a ``tdm-reservation`` other than 0/1 are skipped; a file that is not
JSON yields ``[]``.

``content-usage-header`` -- IETF AIPREF attachment (draft-ietf-aipref-attach-05, section 3; the same in -01
to -04): ``Content-Usage`` HTTP response field (representation metadata: it applies to the content of that
response), a Structured Field Dictionary (RFC 9651) whose keys are usage labels and whose values are
the tokens ``y`` (allowed) / ``n`` (refused), e.g. ``Content-Usage: train-ai=n, search=y``. Parsed as the
vocabulary draft prescribes: the whole dictionary is parsed with RFC 9651 rules (a parse failure, e.g.
an uppercase key, makes every preference unknown, i.e. no signal); duplicate keys keep the last value;
values that are not the tokens ``y`` / ``n`` and unknown labels are ignored, parameters are ignored.
Labels: ``train-ai`` and ``search`` (current) and every older label of the table above. Agent ``*``,
scope None. Our WARC reader keeps a response's headers and the WAT reader the ``Content-Usage`` of the
WAT's ``HTTP-Response-Metadata`` in ``http_headers``, so the field reaches ``page_signals`` from both.

``content-usage-robots`` -- the same draft's robots.txt rule ``Content-Usage: [<path> ]<preferences>``
inside a group (section 4: ``Content-Usage: /public/ train-ai=y``; without a path it covers every path).
Agent = each user-agent of the group (lower-cased), ``*`` outside a group; ``scope`` = the path (``/``
when omitted). The value ends at ``#``. Precedence, as the draft defines it and verdicts apply it
(:mod:`provenance.verdict`): a crawler uses the group RFC 9309 selects for it (the groups naming its
product token, else the ``*`` groups), and within it the Content-Usage rule whose path is the longest
match for the document's path (octets of the pattern, as for Allow / Disallow) decides -- its whole
statement, for every label in it; rules of equally long matching paths are combined, a refusal winning
(vocab section 7.1). So ``Content-Usage: / train-ai=n`` with ``Content-Usage: /public/ train-ai=y``
refuses training everywhere but under ``/public/``. Groups are those of our robots.txt parser, which (like
Google's) ends a run of ``User-agent`` lines only at an Allow / Disallow line: ``User-agent: *``,
``Content-Usage: ...``, ``User-agent: X`` with no Allow / Disallow between them is one group for both, where
the draft, which makes Content-Usage a group rule, would start a new group at ``User-agent: X``.

``content-signal-robots`` -- Cloudflare's Content Signals Policy (contentsignals.org, also
draft-romm-aipref-contentsignals): robots.txt line ``Content-Signal: search=yes, ai-train=no,
ai-input=no`` in a user-agent group. ``yes`` -> allowed, ``no`` -> refused, anything else / omitted ->
nothing. ``search`` -> search, ``ai-train`` -> train-ai, ``ai-input`` -> ai-input. Agent and scope as for
``content-usage-robots`` (an optional leading path is accepted), but each line applies on its own to the
paths it matches (the Content Signals Policy defines no precedence between lines). Parsed leniently (keys
and values are case-insensitive, bad items are skipped), as publishers write it by hand.

Two further sources, beyond the ones above, for forms seen in the wild (not standardised):

``content-signal-header`` -- the ``Content-Signal`` HTTP header Cloudflare sends with e.g. its Markdown
responses (same syntax and mapping as ``content-signal-robots``, agent ``*``, scope None).

``content-usage-meta`` -- ``<meta name="content-usage" content="train-ai=n">`` (or ``http-equiv``): the
attachment draft defines no embedding in HTML; read with the header's rules when a page does it.

Our WAT reader stores ``{"headers": {...}, "html_metas": [{"name":..., "content":...}, ...]}`` in
``http_headers``; :func:`from_headers` reads both parts (the metas as ``meta-robots`` / ``tdmrep-meta`` /
``content-usage-meta``).

Speed
=====

:func:`scan_batch` runs one RE2 prefilter per column (``pyarrow.compute.match_substring_regex``) for the
few strings that can carry a signal (``noai``, ``noindex``, ``tdm-reservation``, ``X-Robots-Tag``, ...);
only the rows that match are parsed in Python, and only their ``<head>``. Rows with null ``html`` /
``http_headers`` cost nothing beyond the vectorised pass.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "USES",
    "LEGACY_USES",
    "AIPREF_LABELS",
    "CONTENT_SIGNAL_KEYS",
    "current_use",
    "use_sql",
    "SOURCES",
    "Signal",
    "SIGNAL_STRUCT",
    "SIGNAL_TYPE",
    "from_headers",
    "from_html",
    "from_robots_extensions",
    "from_tdmrep_json",
    "location_matches",
    "parse_sf_dictionary",
    "scan_batch",
]

USES = ("tdm", "train-ai", "search", "ai-input", "ai-index")

#: uses stored by earlier versions of this package -> the use they are read as today
LEGACY_USES = {"ai-use": "ai-input", "train-genai": "train-ai"}


def current_use(use: str | None) -> str | None:
    """The use a stored value stands for today (``ai-use`` -> ``ai-input``, ``train-genai`` -> ``train-ai``)."""
    return LEGACY_USES.get(use, use) if use is not None else None


def use_sql(expr: str) -> str:
    """SQL reading a stored use column / struct field as today's use (for ledgers written before a rename)."""
    cases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY_USES.items())
    return f"(CASE {expr} {cases} ELSE {expr} END)"

SOURCES = (
    "x-robots-tag",
    "meta-robots",
    "tdmrep-header",
    "tdmrep-meta",
    "tdmrep-json",
    "content-usage-header",
    "content-usage-robots",
    "content-signal-robots",
    "content-signal-header",
    "content-usage-meta",
    "rsl",
)

_EVIDENCE_MAX = 300


@dataclass(frozen=True)
class Signal:
    source: str  # one of SOURCES
    use: str  # one of USES
    allowed: bool  # False = reserved / refused, True = explicitly allowed
    agent: str  # product token, lower-case, or "*"
    scope: str | None  # "images" (noimageai), a path pattern (robots.txt, tdmrep.json), None = whole resource
    evidence: str  # the header / meta tag / robots line, at most 300 characters


SIGNAL_STRUCT = pa.struct(
    [
        pa.field("source", pa.string()),
        pa.field("use", pa.string()),
        pa.field("allowed", pa.bool_()),
        pa.field("agent", pa.string()),
        pa.field("scope", pa.string()),
        pa.field("evidence", pa.string()),
    ]
)
SIGNAL_TYPE = pa.list_(SIGNAL_STRUCT)


def _ev(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _EVIDENCE_MAX else s[: _EVIDENCE_MAX - 1] + "…"


def _dedupe(sigs: Iterable[Signal]) -> list[Signal]:
    seen: set[tuple] = set()
    out: list[Signal] = []
    for s in sigs:
        k = (s.source, s.use, s.allowed, s.agent, s.scope)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


# --------------------------------------------------------------------------------------------------
# robots directives (X-Robots-Tag, <meta name="robots">)

_DIRECTIVES = {
    "noai": ("train-ai", None),
    "noimageai": ("train-ai", "images"),
    "noindex": ("search", None),
    "none": ("search", None),
}
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
_PREFIX = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*:\s*(.*)\Z", re.S)
_TOKEN_SPLIT = re.compile(r"[\s;]+")


def _robots_directives(value: str, source: str, agent: str, evidence: str, allow_prefix: bool) -> list[Signal]:
    out: list[Signal] = []
    for item in value.split(","):
        m = _PREFIX.match(item)
        if m:
            name = m.group(1).lower()
            if name in _VALUED:
                continue  # "max-image-preview: none", "unavailable_after: 25 Jun 2010 15:00:00 PST"
            if not allow_prefix or not any("a" <= ch <= "z" for ch in name):
                continue  # no agent prefixes here, or a time piece of a date ("15:00:00")
            agent = name
            item = m.group(2)
            m2 = _PREFIX.match(item)
            if m2 and m2.group(1).lower() in _VALUED:
                continue  # "googlebot: unavailable_after: ..."
        for tok in _TOKEN_SPLIT.split(item.strip().lower()):
            hit = _DIRECTIVES.get(tok)
            if hit:
                out.append(Signal(source, hit[0], False, agent, hit[1], evidence))
    return out


_BOT_NAMES = frozenset(
    {
        "google-extended", "anthropic-ai", "cohere-ai", "img2dataset", "chatgpt-user", "claude-web",
        "meta-externalagent", "meta-externalfetcher", "facebookexternalhit", "slurp", "yandex", "msnbot",
        "teoma", "ia_archiver", "omgili", "perplexity-user", "mistralai-user", "diffbot", "bytespider",
        "applebot-extended", "googleother", "google-cloudvertexbot", "webzio-extended",
    }
)
_BOT_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*(?:bot|spider|crawler)(?:[\-_.][a-z0-9]+)*\Z")


def _is_bot_name(name: str) -> bool:
    return name in _BOT_NAMES or (name != "robots" and _BOT_RE.match(name) is not None)


# --------------------------------------------------------------------------------------------------
# RFC 9651 Structured Field Dictionary (for Content-Usage)

_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SF_NUM = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_SF_BYTES = re.compile(r":[A-Za-z0-9+/=]*:")
_SF_BOOL = re.compile(r"\?[01]")
_SF_DATE = re.compile(r"@-?[0-9]{1,15}(?![.0-9])")
_SF_DSTRING = re.compile(r'%"(?:[\x20\x21\x23\x24\x26-\x7e]|%[0-9a-f]{2})*"')


class _SFError(ValueError):
    pass


def _sf_bare(s: str, i: int) -> tuple[tuple[str, Any], int]:
    if i >= len(s):
        raise _SFError("empty item")
    c = s[i]
    if c == "-" or c.isdigit():
        m = _SF_NUM.match(s, i)
        if not m:
            raise _SFError("bad number")
        txt = m.group(0)
        ip, _, fp = txt.lstrip("-").partition(".")
        if (fp and (len(ip) > 12 or len(fp) > 3)) or (not fp and len(ip) > 15) or txt.endswith("."):
            raise _SFError("number out of range")
        return ("num", txt), m.end()
    if c == '"':
        j = i + 1
        buf = []
        while j < len(s):
            ch = s[j]
            if ch == "\\":
                if j + 1 >= len(s) or s[j + 1] not in '"\\':
                    raise _SFError("bad escape")
                buf.append(s[j + 1])
                j += 2
                continue
            if ch == '"':
                return ("str", "".join(buf)), j + 1
            if not (" " <= ch <= "~"):
                raise _SFError("bad string char")
            buf.append(ch)
            j += 1
        raise _SFError("unterminated string")
    for kind, rx in (("tok", _SF_TOKEN), ("bytes", _SF_BYTES), ("bool", _SF_BOOL), ("date", _SF_DATE), ("dstr", _SF_DSTRING)):
        m = rx.match(s, i)
        if m:
            return (kind, m.group(0)), m.end()
    raise _SFError(f"unexpected {c!r}")


def _sf_params(s: str, i: int) -> int:
    while i < len(s) and s[i] == ";":
        i += 1
        while i < len(s) and s[i] == " ":
            i += 1
        m = _SF_KEY.match(s, i)
        if not m:
            raise _SFError("bad parameter key")
        i = m.end()
        if i < len(s) and s[i] == "=":
            _, i = _sf_bare(s, i + 1)
    return i


def _sf_item_or_list(s: str, i: int) -> tuple[tuple[str, Any], int]:
    if i < len(s) and s[i] == "(":
        i += 1
        while True:
            while i < len(s) and s[i] == " ":
                i += 1
            if i >= len(s):
                raise _SFError("unterminated inner list")
            if s[i] == ")":
                return ("list", None), _sf_params(s, i + 1)
            _, i = _sf_bare(s, i)
            i = _sf_params(s, i)
            if i >= len(s) or s[i] not in " )":
                raise _SFError("bad inner list")
    v, i = _sf_bare(s, i)
    return v, _sf_params(s, i)


def parse_sf_dictionary(value: str) -> dict[str, tuple[str, Any]] | None:
    """Parse an RFC 9651 Dictionary; values are ``(kind, text)`` with kind ``tok``, ``str``, ``num``,
    ``bool``, ``bytes``, ``date``, ``dstr`` or ``list`` (parameters are checked and dropped). Returns
    ``None`` when the input is not a valid Dictionary (the AIPREF rule: then every preference is unknown).
    """
    if not isinstance(value, str) or not value.isascii():
        return None
    s = value.strip(" ")
    out: dict[str, tuple[str, Any]] = {}
    i = 0
    try:
        while i < len(s):
            m = _SF_KEY.match(s, i)
            if not m:
                raise _SFError("bad key")
            key = m.group(0)
            i = m.end()
            if i < len(s) and s[i] == "=":
                v, i = _sf_item_or_list(s, i + 1)
            else:
                v = ("bool", "?1")
                i = _sf_params(s, i)
            out.pop(key, None)
            out[key] = v
            while i < len(s) and s[i] in " \t":
                i += 1
            if i >= len(s):
                return out
            if s[i] != ",":
                raise _SFError("expected comma")
            i += 1
            while i < len(s) and s[i] in " \t":
                i += 1
            if i >= len(s):
                raise _SFError("trailing comma")
    except _SFError:
        return None
    return out


#: AIPREF usage labels of every vocabulary revision -> our uses (see the table in the module docstring)
AIPREF_LABELS: dict[str, tuple[str, ...]] = {
    "train-ai": ("train-ai",),  # -02 .. -07
    "search": ("search",),  # -01 .. -07
    "train-genai": ("train-ai",),  # -02, -03 "Generative AI Training" = today's train-ai
    "genai": ("train-ai",),  # -01
    "ai": ("train-ai",),  # -01 "AI Training"
    "ai-use": ("ai-input",),  # -02 "AI Use"
    "inference": ("ai-input",),  # -01 "AI Inference"
    "ai-output": ("ai-input", "search"),  # -04 "AI Output" (search results included)
    # umbrella "Automated Processing" category of -01 .. -04
    "tdm": ("tdm",),
    "all": ("tdm",),
    "bots": ("tdm",),
}


def _content_usage(prefs: str, source: str, agent: str, scope: str | None, evidence: str) -> list[Signal]:
    d = parse_sf_dictionary(prefs)
    if not d:
        return []
    out = []
    for key, (kind, val) in d.items():
        uses = AIPREF_LABELS.get(key)
        if uses is None or kind != "tok" or val not in ("y", "n"):
            continue
        out += [Signal(source, use, val == "y", agent, scope, evidence) for use in uses]
    return out


#: Cloudflare Content Signals keys -> our uses
CONTENT_SIGNAL_KEYS = {"search": "search", "ai-train": "train-ai", "ai-input": "ai-input"}
_CS_KEYS = CONTENT_SIGNAL_KEYS
_CS_VALUES = {"yes": True, "y": True, "no": False, "n": False}


def _content_signal(value: str, source: str, agent: str, scope: str | None, evidence: str) -> list[Signal]:
    out = []
    for item in value.split(","):
        k, eq, v = item.partition("=")
        if not eq:
            continue
        use = _CS_KEYS.get(k.strip().lower())
        allowed = _CS_VALUES.get(v.strip().strip("\"'").lower())
        if use is not None and allowed is not None:
            out.append(Signal(source, use, allowed, agent, scope, evidence))
    return out


def _tdm_value(v: Any) -> bool | None:
    """TDMRep reservation value -> allowed (True for 0, False for 1); None for a protocol error."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return {0: True, 1: False}.get(v)
    if isinstance(v, str):
        return {"0": True, "1": False}.get(v.strip())
    return None


# --------------------------------------------------------------------------------------------------
# HTTP headers


def _header_values(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, (list, tuple)):
        return [x for x in v if isinstance(x, str)]
    return []


def _from_header_dict(headers: dict) -> list[Signal]:
    h: dict[str, list[str]] = {}
    for k, v in headers.items():
        if isinstance(k, str):
            vals = _header_values(v)
            if vals:
                h.setdefault(k.strip().lower(), []).extend(vals)
    out: list[Signal] = []
    for v in h.get("x-robots-tag", ()):
        out += _robots_directives(v, "x-robots-tag", "*", _ev("X-Robots-Tag: " + v), allow_prefix=True)
    res = h.get("tdm-reservation")
    if res:
        allowed = _tdm_value(res[0])
        if allowed is not None:
            ev = "tdm-reservation: " + res[0].strip()
            pol = h.get("tdm-policy")
            if pol:
                ev += "; tdm-policy: " + pol[0].strip()
            out.append(Signal("tdmrep-header", "tdm", allowed, "*", None, _ev(ev)))
    cu = h.get("content-usage")
    if cu:
        v = ", ".join(cu)
        out += _content_usage(v, "content-usage-header", "*", None, _ev("Content-Usage: " + v))
    for v in h.get("content-signal", ()):
        out += _content_signal(v, "content-signal-header", "*", None, _ev("Content-Signal: " + v))
    return out


def from_headers(headers: dict[str, str] | str | None) -> list[Signal]:
    """Signals in HTTP response headers: a dict (any key case; values strings or lists of strings), a list
    of ``(name, value)`` pairs (e.g. FastWARC's ``http_headers.items()``, which keeps repeated fields
    apart), or the JSON string our readers store in ``http_headers`` (including the WAT form
    ``{"headers": ..., "html_metas": [...]}``, whose metas are read like ``<meta>`` tags)."""
    try:
        if isinstance(headers, (str, bytes)):
            try:
                headers = orjson.loads(headers)
            except orjson.JSONDecodeError:
                return []
        if isinstance(headers, (list, tuple)):
            pairs: dict[str, list[str]] = {}
            for pair in headers:
                if isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], str):
                    pairs.setdefault(pair[0], []).append(pair[1])
            headers = pairs
        if not isinstance(headers, dict):
            return []
        inner = headers.get("headers")
        metas = headers.get("html_metas")
        if isinstance(inner, dict) and ("html_metas" in headers or len(headers) == 1):
            out = _from_header_dict(inner)
            if isinstance(metas, list):
                out += _from_metas(_wat_metas(metas))
            return _dedupe(out)
        return _dedupe(_from_header_dict(headers))
    except Exception:  # noqa: BLE001 - never raise on bad input
        return []


# --------------------------------------------------------------------------------------------------
# HTML <meta>

_HEAD_END = re.compile(r"</head\s*>|<body[\s>]", re.I)
_HEAD_MAX = 200_000  # when a page has no </head> / <body>, look this far
# a <meta> tag that mentions a signal word ("none" only as a whole attribute word, not CSS display:none)
_HINT = re.compile(r"<meta\b[^>]*(?:no(?:ai|imageai|index)|tdm-reservation|content-usage|x-robots-tag|[=\"',;\s]none\b)", re.I)
_META = re.compile(r"<meta\b([^>]*)>", re.I)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")


def _attrs(inner: str) -> dict[str, str]:
    a: dict[str, str] = {}
    for m in _ATTR.finditer(inner):
        k = m.group(1).lower()
        if k not in a:
            v = m.group(2) if m.group(2) is not None else m.group(3) if m.group(3) is not None else m.group(4) or ""
            a[k] = _html.unescape(v) if "&" in v else v
    return a


def _wat_metas(metas: list) -> Iterable[tuple[dict[str, str], str]]:
    for m in metas:
        if isinstance(m, dict):
            a = {str(k).lower(): v for k, v in m.items() if isinstance(v, str)}
            ev = "<meta " + " ".join(f'{k}="{v}"' for k, v in a.items()) + ">"
            yield a, ev


def _from_metas(metas: Iterable[tuple[dict[str, str], str]]) -> list[Signal]:
    out: list[Signal] = []
    tdm_res: tuple[str, str] | None = None
    tdm_pol: tuple[str, str] | None = None
    for a, ev in metas:
        content = a.get("content")
        if content is None:
            continue
        name = a.get("name")
        equiv = a.get("http-equiv")
        key = (name or equiv or "").strip().lower()
        if not key:
            continue
        if name is not None and key == "robots":
            out += _robots_directives(content, "meta-robots", "*", _ev(ev), allow_prefix=False)
        elif name is None and key == "x-robots-tag":
            out += _robots_directives(content, "meta-robots", "*", _ev(ev), allow_prefix=True)
        elif key == "tdm-reservation":
            if tdm_res is None and _tdm_value(content) is not None:
                tdm_res = (content, ev)
        elif key == "tdm-policy":
            if tdm_pol is None:
                tdm_pol = (content, ev)
        elif key == "content-usage":
            out += _content_usage(content.strip(), "content-usage-meta", "*", None, _ev(ev))
        elif name is not None and _is_bot_name(key):
            out += _robots_directives(content, "meta-robots", key, _ev(ev), allow_prefix=False)
    if tdm_res is not None:
        ev = tdm_res[1] + (" " + tdm_pol[1] if tdm_pol else "")
        out.append(Signal("tdmrep-meta", "tdm", bool(_tdm_value(tdm_res[0])), "*", None, _ev(ev)))
    return out


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)


def _head(html: str) -> str:
    m = _HEAD_END.search(html, 0, _HEAD_MAX)
    head = html[: m.start()] if m else html[:_HEAD_MAX]
    return _COMMENT.sub(" ", head) if "<!--" in head else head


def from_html(html: str | None) -> list[Signal]:
    """Signals in the ``<meta>`` tags of the document's ``<head>`` (robots / bot-name directives,
    TDMRep, Content-Usage). Pages whose head mentions none of the signal words are rejected by one regex
    search, without looking at any tag."""
    if not isinstance(html, str) or not html:
        return []
    try:
        head = _head(html)
        if not _HINT.search(head):
            return []
        return _dedupe(_from_metas((_attrs(m.group(1)), m.group(0)) for m in _META.finditer(head)))
    except Exception:  # noqa: BLE001
        return []


# --------------------------------------------------------------------------------------------------
# robots.txt extension lines


def _split_path(value: str) -> tuple[str, str]:
    v = value.strip()
    if v[:1] in ("/", "*"):
        parts = v.split(None, 1)
        return parts[0], (parts[1].strip() if len(parts) > 1 else "")
    return "/", v


def from_robots_extensions(ext: Iterable[tuple[int, str, str, tuple[str, ...] | None]]) -> list[Signal]:
    """Signals from robots.txt extension lines ``(line_no, field_lower, value, group_user_agents or
    None)`` given by the robots.txt parser: ``content-usage`` (AIPREF attachment) and ``content-signal``
    (Cloudflare). One signal per user-agent of the group (``*`` outside a group); scope = the path."""
    out: list[Signal] = []
    try:
        for entry in ext or ():
            try:
                line_no, field, value, agents = entry
            except (TypeError, ValueError):
                continue
            if not isinstance(field, str) or not isinstance(value, str):
                continue
            field = field.strip().lower()
            if field not in ("content-usage", "content-signal"):
                continue
            value = value.split("#", 1)[0].strip()
            if not value:
                continue
            names = [a.strip().lower() for a in (agents or ()) if isinstance(a, str) and a.strip()] or ["*"]
            path, prefs = _split_path(value)
            if not prefs:
                continue
            ev = _ev(f"robots.txt:{line_no}: {field}: {value}")
            for agent in dict.fromkeys(names):
                if field == "content-usage":
                    out += _content_usage(prefs, "content-usage-robots", agent, path, ev)
                else:
                    out += _content_signal(prefs, "content-signal-robots", agent, path, ev)
    except Exception:  # noqa: BLE001
        return _dedupe(out)
    return _dedupe(out)


# --------------------------------------------------------------------------------------------------
# /.well-known/tdmrep.json


def _location_regex(pattern: str) -> re.Pattern:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    rx = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(rx + (r"\Z" if anchored else ""), re.S)


def location_matches(pattern: str, path: str) -> bool:
    """robots.txt-style match of a TDMRep ``location`` against a URL path: prefix match, ``*`` = any
    characters, trailing ``$`` = end of the path. Case-sensitive."""
    if not isinstance(pattern, str) or not isinstance(path, str):
        return False
    if not path.startswith("/"):
        path = "/" + path
    return _location_regex(pattern).match(path) is not None


def from_tdmrep_json(body: bytes | str, path: str | None = "/") -> list[Signal]:
    """Signals from a ``/.well-known/tdmrep.json`` body: the first rule whose ``location`` matches
    ``path`` (TDMRep's precedence), or every valid rule when ``path`` is None. ``scope`` = the rule's
    ``location``. Anything unreadable yields ``[]``."""
    try:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if not isinstance(body, str):
            return []
        data = orjson.loads(body.lstrip("\ufeff \t\r\n"))
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            return []
        out: list[Signal] = []
        for rule in data:
            if not isinstance(rule, dict):
                continue
            loc = rule.get("location")
            allowed = _tdm_value(rule.get("tdm-reservation"))
            if not isinstance(loc, str) or allowed is None:
                continue
            if path is not None and not location_matches(loc, path):
                continue
            ev = {k: rule[k] for k in ("location", "tdm-reservation", "tdm-policy") if k in rule}
            out.append(Signal("tdmrep-json", "tdm", allowed, "*", loc, _ev(orjson.dumps(ev).decode())))
            if path is not None:
                break
        return out
    except Exception:  # noqa: BLE001
        return []


# --------------------------------------------------------------------------------------------------
# columnar

# RE2 (case-insensitive) prefilters: a row reaches Python only when one of these matches.
# Anchored on a literal "<" so RE2 skips ahead with memchr, then confined to one <meta> tag: 4-5x faster
# than an unanchored alternation of the words, and no row passes for CSS "display:none".
_RE2_HTML = r"<(?i:meta)[^>]*(?i:no(?:ai|imageai|index)|tdm-reservation|content-usage|x-robots-tag|[=\"',;\s]none\b)"
_RE2_HEADERS = (
    r"x-robots-tag|tdm-reservation|content-usage|content-signal|"
    r"\"html_metas\"\s*:\s*\[.*(?:noai|noimageai|noindex|none|tdm-reservation|content-usage)"
)


def _as_string_array(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col
    if pa.types.is_null(t):
        return None
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _prefilter(col, pattern: str, n: int, ignore_case: bool) -> np.ndarray:
    if col is None or col.null_count == len(col):
        return np.zeros(n, dtype=bool)
    m = pc.fill_null(pc.match_substring_regex(col, pattern, ignore_case=ignore_case), False)
    if isinstance(m, pa.ChunkedArray):
        m = m.combine_chunks()
    return m.to_numpy(zero_copy_only=False)


def _empty_result(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], SIGNAL_STRUCT), type=SIGNAL_TYPE)


def scan_batch(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """One ``list<struct<source, use, allowed, agent, scope, evidence>>`` per row (empty list when the
    row carries no signal), from the ``http_headers`` (JSON) and ``html`` columns when present."""
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks()
        if batch.num_rows == 0:
            return _empty_result(0)
        batch = batch.to_batches()[0]
    n = batch.num_rows
    names = batch.schema.names
    hdr_col = _as_string_array(batch.column("http_headers")) if "http_headers" in names else None
    html_col = _as_string_array(batch.column("html")) if "html" in names else None
    hmask = _prefilter(hdr_col, _RE2_HEADERS, n, ignore_case=True)
    tmask = _prefilter(html_col, _RE2_HTML, n, ignore_case=False)
    rows = np.flatnonzero(hmask | tmask)
    if rows.size == 0:
        return _empty_result(n)
    take = pa.array(rows, pa.int64())
    hvals = hdr_col.take(take).to_pylist() if hdr_col is not None else None
    tvals = html_col.take(take).to_pylist() if html_col is not None else None
    counts = np.zeros(n, dtype=np.int64)
    cols: tuple[list, ...] = ([], [], [], [], [], [])
    for j, r in enumerate(rows.tolist()):
        sigs: list[Signal] = []
        if hmask[r]:
            sigs += from_headers(hvals[j])
        if tmask[r]:
            sigs += from_html(tvals[j])
        if hmask[r] and tmask[r]:
            sigs = _dedupe(sigs)
        counts[r] = len(sigs)
        for s in sigs:
            cols[0].append(s.source)
            cols[1].append(s.use)
            cols[2].append(s.allowed)
            cols[3].append(s.agent)
            cols[4].append(s.scope)
            cols[5].append(s.evidence)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    child = pa.StructArray.from_arrays(
        [pa.array(c, f.type) for c, f in zip(cols, SIGNAL_STRUCT)], fields=list(SIGNAL_STRUCT)
    )
    return pa.ListArray.from_arrays(pa.array(offsets), child, type=SIGNAL_TYPE)
