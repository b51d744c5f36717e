"""Host normalisation and Public Suffix List attribution (registered domain = eTLD+1, public suffix).

Every per-document domain fact in the ledger is keyed by the values computed here, so they have to be
stable, offline and fast:

* The rules come from the Public Suffix List snapshot bundled with ``tldextract`` (one
  ``tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)``,
  built lazily). ``suffix_list_urls=()`` means tldextract never fetches the live list and falls back
  to its packaged snapshot; ``cache_dir=None`` disables its on-disk cache, so nothing is read from or
  written to ``~/.cache``. No environment variable is consulted or set: both behaviours are pinned by
  the constructor arguments. The PSL version therefore moves only when the tldextract package does.
* The PSL algorithm (https://github.com/publicsuffix/list/wiki/Format) is applied by this module over
  those rules with plain set look-ups, not by ``TLDExtract.__call__``; see below for why.
* ``registered_domain`` conforms to the PSL's own test vectors (``tests/data/psl_test_vectors.txt``).

Public API
----------
``normalize_host(host)``
    Canonical host string: whitespace stripped, lower case, one trailing dot removed, userinfo and port
    removed, IP literals canonical, IDN as ASCII punycode. ``None`` when empty or not a valid host.
``registered_domain(host)`` / ``public_suffix(host)``
    eTLD+1 / eTLD of a raw host. Same clean-up as ``normalize_host`` *except* that an IDN keeps its form
    (Unicode in -> Unicode out, punycode in -> punycode out), as the PSL test vectors require.
``host_from_url(url)``
    ``normalize_host`` of a URL's host. Requires an absolute URL (``scheme://...``) or a
    scheme-relative one (``//host/...``); a scheme-less string such as ``example.com/path`` is ``None``
    because it is a relative path, not a host (that is how a browser would resolve it too).
``attribute_hosts(hosts)``
    The scanner's hot path: for a list of unique raw hosts, three aligned lists (normalised host,
    registered domain, public suffix), all in punycode form. Results are memoised per process in a
    bounded LRU cache (``ATTRIBUTION_CACHE_SIZE`` entries).

Where we depart from tldextract's raw output, and why
-----------------------------------------------------
* **Lower case.** tldextract keeps the input's case (``example.COM`` -> ``example.COM``). DNS names are
  case-insensitive and the PSL algorithm lower-cases its input, so all outputs here are lower case.
* **Leading dot.** tldextract silently ignores a leading dot (``.example.com`` -> ``example.com``). An
  empty label makes the string an invalid host name; the PSL vectors say ``None``, and so do we.
* **Unlisted TLDs (the default rule ``*``).** tldextract returns no suffix and no registered domain when
  the TLD is not on the list (``b.example.example``). The PSL algorithm says the implicit rule ``*``
  then applies: the suffix is the last label and the registered domain the last two
  (``example.example``). Intranet names and new gTLDs added after the snapshot are common in crawls;
  without the default rule they would all collapse into one "no domain" bucket.
* **Wildcard rules under a non-terminal branch.** tldextract's trie walk follows a label into a branch
  that exists only because of a longer rule and then forgets an enclosing wildcard rule: with
  ``*.futurecms.at`` and ``*.ex.futurecms.at`` listed, it treats ``ex.futurecms.at`` as the registered
  domain ``futurecms.at`` although ``*.futurecms.at`` makes ``ex.futurecms.at`` a public suffix (so
  the correct registered domain is ``None``). Applying the PSL algorithm ourselves (longest matching
  rule wins, an exception rule beats everything and drops its leftmost label) fixes this class of
  cases and is also about twice as fast as ``TLDExtract.__call__``.
* **Private section on by default.** tldextract's module-level ``extract`` ignores the PSL's PRIVATE
  section; we include it (``include_psl_private_domains=True``). On shared hosting platforms each
  customer sub-domain is a separate publisher: ``alice.github.io`` and ``bob.github.io``, or
  ``xyz.blogspot.com`` and ``abc.blogspot.com``, are distinct sites with distinct owners, consent and
  licences. Collapsing them to ``github.io`` / ``blogspot.com`` would attribute every user's content
  (and every opt-out) to the platform.
* **Trailing dot.** One trailing dot (the FQDN/root form ``example.com.``) is removed, so
  ``example.com.`` and ``example.com`` are the same host. tldextract strips any number of trailing dots;
  a second one (``example.com..``) leaves an empty label and is invalid (``None``) here.
* **IP literals.** tldextract returns IPv4 addresses as the ``domain`` part and bracketed IPv6
  addresses verbatim. An IP address has no public suffix and no registered domain, so both are
  ``None``; the normalised host is the canonical address (``ipaddress`` form; WHATWG-style IPv4 such
  as ``0x7f.1`` -> ``127.0.0.1``; IPv6 compressed, without brackets).
* **IDN to punycode in ``normalize_host``.** tldextract returns labels in whatever form it was given,
  so ``Bücher.example`` and ``xn--bcher-kva.example`` would be two hosts. ``normalize_host`` (and thus
  ``attribute_hosts``) converts to ASCII punycode: IDNA 2008 with UTS #46 mapping (``idna`` package),
  falling back to IDNA 2003 (Python's ``idna`` codec, which still accepts e.g. emoji and ``_``), and
  finally to the lower-cased, UTS #46-mapped Unicode form. Pure-ASCII hosts never touch ``idna``.
  (``registered_domain``/``public_suffix`` keep the input's IDN form, as the PSL vectors demand.)

Host validity: after the clean-up a host name must consist of dot-separated, non-empty labels of
``a-z``, ``0-9``, ``-`` and ``_`` (underscore is not valid in DNS host names but is common on the web)
or non-ASCII characters other than separators and controls; in ASCII form labels are at most 63
characters and the name at most 253. Anything else (spaces, ``*``, ``/``, empty labels, ...) is
``None``. As in a browser's URL parser, a
name whose last label is a number is parsed as an IPv4 address, and is ``None`` if it is not a valid one
(``1.2.3.4.5``, ``300.1.1.1``).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import sys
import threading
import unicodedata
from urllib.parse import unquote

import idna

__all__ = [
    "ATTRIBUTION_CACHE_SIZE",
    "attribute_hosts",
    "clear_cache",
    "host_from_url",
    "normalize_host",
    "public_suffix",
    "registered_domain",
]

#: Capacity of the per-process memo behind ``attribute_hosts``. One entry costs about 270 bytes
#: (measured: key, result tuple, normalised-host and registered-domain strings; suffixes are interned,
#: and a registered domain equal to the host shares its string), so a full memo is ~270 MB.
ATTRIBUTION_CACHE_SIZE = 1_000_000

# --------------------------------------------------------------------------------------------------
# Public Suffix List rules (from tldextract's bundled snapshot), loaded once, lazily.
# --------------------------------------------------------------------------------------------------


class _Rules:
    """The PSL as four sets, each rule present in its Unicode and its punycode spelling.

    ``normal``: plain rules (``co.uk``); ``wildcard``: parents of ``*.`` rules (``ck`` for ``*.ck``);
    ``exception``: names of ``!`` rules (``www.ck``); ``tails``: every suffix of every name above, so a
    look-up can stop as soon as no longer rule can match.
    """

    __slots__ = ("normal", "wildcard", "exception", "tails")

    def __init__(self, rule_texts: list[str]) -> None:
        normal: set[str] = set()
        wildcard: set[str] = set()
        exception: set[str] = set()
        tails: set[str] = set()
        for rule in rule_texts:
            rule = rule.strip().lower()
            if rule.startswith("!"):
                target, body = exception, rule[1:]
            elif rule.startswith("*."):
                target, body = wildcard, rule[2:]
            else:
                target, body = normal, rule
            if not body:
                continue
            forms = {body}
            if not body.isascii():
                ascii_form = _idn_to_ascii(_uts46_map(body))
                if ascii_form is not None:
                    forms.add(ascii_form)
            for form in forms:
                target.add(form)
                labels = form.split(".")
                for i in range(len(labels)):
                    tails.add(".".join(labels[i:]))
        self.normal = frozenset(normal)
        self.wildcard = frozenset(wildcard)
        self.exception = frozenset(exception)
        self.tails = frozenset(tails)


_rules: _Rules | None = None
_rules_lock = threading.Lock()


def _make_extractor():
    """The one tldextract object: bundled snapshot only, no network, no disk cache, PRIVATE included."""
    import tldextract

    return tldextract.TLDExtract(
        cache_dir=None,  # DiskCache disabled: no reads/writes under ~/.cache or $TLDEXTRACT_CACHE
        suffix_list_urls=(),  # never fetch; an explicit value also means $TLDEXTRACT_... is not read
        fallback_to_snapshot=True,  # ... so the packaged PSL snapshot is what gets loaded
        include_psl_private_domains=True,
    )


def _get_rules() -> _Rules:
    global _rules
    if _rules is None:
        with _rules_lock:
            if _rules is None:
                # ``tlds`` is every rule of the snapshot as written in the PSL ('co.uk', '*.ck',
                # '!www.ck', Unicode IDN rules), PRIVATE section included.
                _rules = _Rules(list(_make_extractor().tlds))
    return _rules


def _suffix_label_count(name: str) -> int:
    """Number of labels of ``name``'s public suffix under the PSL algorithm.

    ``name`` is a valid, lower-case host name (at least one label, none empty) with IDN labels in
    punycode (the rule sets hold both spellings, so an all-Unicode name matches too). Candidates are
    the name's tails from the shortest ('uk') to the longest ('www.bbc.co.uk'): the longest matching
    rule wins, where a wildcard ``*.P`` matches a tail one label longer than ``P``; a matching
    exception rule wins over everything and loses its leftmost label. With no matching rule the
    default rule ``*`` gives one label.
    """
    rules = _get_rules()
    best = 1  # the implicit "*" rule
    k = 0
    pos = len(name)
    while True:
        dot = name.rfind(".", 0, pos)
        k += 1
        tail = name[dot + 1 :]
        if tail not in rules.tails:
            break  # no rule ends with this tail: no longer rule can match either
        if tail in rules.exception:
            return k - 1
        if tail in rules.normal:
            best = k
        if dot < 0:
            break  # the whole name has been consumed
        if tail in rules.wildcard:
            best = k + 1  # '*.tail' matches the next tail (unless an exception says otherwise, next round)
        pos = dot
    return best


def _split(name: str) -> tuple[str | None, str]:
    """(registered domain, public suffix) of a valid host name, in the name's own IDN form."""
    if name.isascii():
        match_name = name
    else:
        # Rules are stored in both spellings, but a host may mix them ('食狮.xn--55qx5d.cn'); match on a
        # per-label punycode spelling and cut the original name at the same label boundaries.
        match_name = ".".join(
            label if label.isascii() else (_label_to_ascii(label) or label) for label in name.split(".")
        )
    n_suffix = _suffix_label_count(match_name)
    # Cut ``name`` after the n-th dot from the right: positions of the suffix and the registered domain.
    pos = len(name)
    for _ in range(n_suffix):
        pos = name.rfind(".", 0, pos)
        if pos < 0:
            return None, name  # the whole name is a public suffix
    suffix = sys.intern(name[pos + 1 :])  # few distinct values: intern to keep the memo small
    start = name.rfind(".", 0, pos)
    return (name if start < 0 else name[start + 1 :]), suffix


# --------------------------------------------------------------------------------------------------
# Host clean-up and normalisation
# --------------------------------------------------------------------------------------------------

_ASCII_HOST = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_ASCII_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_HEX = re.compile(r"[0-9a-f]*")
_HEX_CHARS = frozenset("0123456789abcdef")
_OCT = re.compile(r"[0-7]*")
_DEC = re.compile(r"[0-9]+")
_UNICODE_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # as UTS #46 / WHATWG
_MAX_NAME = 253
# Separators, controls and surrogates can never be part of a host name. Format characters (Cf) such as
# ZWJ/ZWNJ are left to IDNA (CONTEXTJ rules); they are legitimate in some scripts.
_BAD_UNICODE_CATEGORIES = frozenset({"Cc", "Cs", "Zs", "Zl", "Zp"})


def _ends_in_number(name: str) -> bool:
    """WHATWG's "ends in a number": such a host is an IPv4 address or invalid, never a name."""
    if not (name[-1].isdigit() or (name[-1] in _HEX_CHARS and "0x" in name)):
        return False  # cheap exit for the usual case (a TLD ending in a letter)
    last = name[name.rfind(".") + 1 :]
    return last.isdigit() or (last[:2] == "0x" and _HEX.fullmatch(last, 2) is not None)


def _parse_ipv4(name: str) -> str | None:
    """WHATWG IPv4 parser (1-4 parts, decimal/0x-hex/0-octal): canonical dotted quad, or None."""
    parts = name.split(".")
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if part[:2] == "0x":
            digits, pattern, base = part[2:], _HEX, 16
        elif len(part) > 1 and part[0] == "0":
            digits, pattern, base = part[1:], _OCT, 8
        else:
            digits, pattern, base = part, _DEC, 10
        if pattern.fullmatch(digits) is None:  # also rejects '' for decimal
            return None
        numbers.append(int(digits, base) if digits else 0)
    if any(x > 255 for x in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1]
    for i, x in enumerate(numbers[:-1]):
        value += x << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def _valid_ascii_name(name: str) -> bool:
    return len(name) <= _MAX_NAME and _ASCII_HOST.fullmatch(name) is not None


def _valid_unicode_name(name: str) -> bool:
    for label in name.split("."):
        if not label:
            return False
        for ch in label:
            if ch.isascii():
                if ch not in _ASCII_LABEL_CHARS:
                    return False
            elif ch.isspace() or unicodedata.category(ch) in _BAD_UNICODE_CATEGORIES:
                return False
    return True


def _uts46_map(name: str) -> str:
    """UTS #46 mapping (case fold, NFC, full-width forms...) keeping Unicode; plain lower() if refused."""
    try:
        return idna.uts46_remap(name, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        return unicodedata.normalize("NFC", name.lower())


def _idn_to_ascii(name: str) -> str | None:
    """Punycode spelling of a Unicode host name, label by label (ASCII labels are kept as they are)."""
    labels = []
    for label in name.split("."):
        if not label.isascii():
            label = _label_to_ascii(label)
            if label is None:
                return None
        labels.append(label)
    out = ".".join(labels)
    return out if _valid_ascii_name(out) else None


@functools.lru_cache(maxsize=65_536)  # IDN hosts share labels ('bücher', '中国'): encode each once
def _label_to_ascii(label: str) -> str | None:
    """One UTS #46-mapped label to punycode: IDNA 2008 (``idna``), else IDNA 2003 (Python's codec).

    Callers pass labels already through ``_uts46_map``, so ``idna`` need not map again (``uts46=False``
    saves ~20%); a label the mapping refused fails IDNA 2008 here too and goes to the fallback.
    """
    try:
        return idna.encode(label).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        return label.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def _clean(host: str | None) -> tuple[str, bool] | None:
    """Everything ``normalize_host`` does except the IDN -> punycode step.

    Returns ``(host, is_ip)`` or ``None`` for an empty/invalid host. Names are lower case and, when not
    ASCII, UTS #46-mapped Unicode.
    """
    if not isinstance(host, str):
        return None
    s = host.strip()
    if "@" in s:  # userinfo: as in URL parsing, the host follows the last '@'
        s = s.rpartition("@")[2]
    if not s:
        return None

    # IP literals and ports.
    if s[0] == "[":  # '[v6]' or '[v6]:port'
        close = s.find("]")
        rest = s[close + 1 :]
        if close < 0 or (rest and (rest[0] != ":" or not _valid_port(rest[1:]))):
            return None
        return _ipv6(s[1:close])
    colons = s.count(":")
    if colons == 1:
        s, _, port = s.partition(":")
        if not _valid_port(port):
            return None
    elif colons > 1:  # an unbracketed IPv6 address can only be a bare one (no port)
        return _ipv6(s)

    if "%" in s:  # percent-encoded host, decoded as a URL parser does before IDNA
        s = unquote(s)

    if not s.isascii():
        s = _uts46_map(s.translate(_UNICODE_DOTS))  # may well produce a pure-ASCII name ('ｅｘ.com')
    else:
        s = s.lower()
    if s.endswith("."):
        s = s[:-1]  # FQDN form; only one trailing dot
    if not s:
        return None

    if s.isascii():
        if _ends_in_number(s):
            ip = _parse_ipv4(s)
            return None if ip is None else (ip, True)
        return (s, False) if _valid_ascii_name(s) else None
    return (s, False) if _valid_unicode_name(s) else None


def _valid_port(port: str) -> bool:
    """What follows 'host:' -- empty (allowed, as in URLs) or a decimal port <= 65535."""
    return not port or (port.isascii() and port.isdigit() and int(port) <= 65535)


def _ipv6(text: str) -> tuple[str, bool] | None:
    try:
        return ipaddress.IPv6Address(text).compressed, True
    except ValueError:
        return None


def _normalize(host: str | None) -> tuple[str, bool] | None:
    cleaned = _clean(host)
    if cleaned is None:
        return None
    name, is_ip = cleaned
    if is_ip or name.isascii():  # ASCII fast path: no idna call
        return cleaned
    ascii_name = _idn_to_ascii(name)
    return (name if ascii_name is None else ascii_name), False


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def normalize_host(host: str | None) -> str | None:
    """Canonical form of a raw host (see the module docstring); ``None`` if empty or invalid.

    >>> normalize_host(" User:pw@WWW.Example.COM.:8080 ")
    'www.example.com'
    >>> normalize_host("Bücher.example"), normalize_host("XN--BCHER-KVA.example.")
    ('xn--bcher-kva.example', 'xn--bcher-kva.example')
    >>> normalize_host("[::FFFF:1.2.3.4]:443")
    '::ffff:102:304'
    """
    normalized = _normalize(host)
    return None if normalized is None else normalized[0]


def registered_domain(host: str | None) -> str | None:
    """The registered domain (eTLD+1) of ``host`` under the PSL, PRIVATE section included.

    ``None`` for a public suffix itself, an IP literal, or an empty/invalid host. The IDN form of the
    input is kept (Unicode in, Unicode out), as the PSL test vectors require.

    >>> registered_domain("a.b.example.co.uk"), registered_domain("foo.github.io"), registered_domain("co.uk")
    ('example.co.uk', 'foo.github.io', None)
    """
    cleaned = _clean(host)
    if cleaned is None or cleaned[1]:
        return None
    return _split(cleaned[0])[0]


def public_suffix(host: str | None) -> str | None:
    """The public suffix (eTLD) of ``host``; the default rule makes an unlisted TLD its own suffix.

    >>> public_suffix("www.bbc.co.uk"), public_suffix("foo.github.io"), public_suffix("intranet.corp")
    ('co.uk', 'github.io', 'corp')
    """
    cleaned = _clean(host)
    if cleaned is None or cleaned[1]:
        return None
    return _split(cleaned[0])[1]


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_AUTHORITY = re.compile(r"[^/?#\\]*")  # authority ends at the path, query or fragment ('\' as in WHATWG)


def host_from_url(url: str | None) -> str | None:
    """``normalize_host`` of the host of an absolute (``scheme://``) or scheme-relative (``//``) URL.

    Anything else, including a scheme-less ``example.com/path`` (a relative path) or an authority-less
    URL such as ``mailto:a@example.com``, gives ``None``.

    >>> host_from_url("HTTPS://user:pw@WWW.Example.com:8443/a?b#c")
    'www.example.com'
    >>> host_from_url("example.com/path") is None
    True
    """
    if not isinstance(url, str):
        return None
    s = url.strip()
    if s.startswith("//"):
        rest = s[2:]
    else:
        m = _SCHEME.match(s)
        if m is None or not s.startswith("//", m.end()):
            return None
        rest = s[m.end() + 2 :]
    return normalize_host(_AUTHORITY.match(rest).group())


@functools.lru_cache(maxsize=ATTRIBUTION_CACHE_SIZE)
def _attribute_one(host: str) -> tuple[str | None, str | None, str | None]:
    normalized = _normalize(host)
    if normalized is None:
        return None, None, None
    name, is_ip = normalized
    if is_ip:
        return name, None, None
    registered, suffix = _split(name)
    return name, registered, suffix


def attribute_hosts(
    hosts: list[str | None],
) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """(normalised host, registered domain, public suffix) for each raw host, as three aligned lists.

    Meant to be called with the *unique* hosts of a batch; each distinct raw host is resolved once per
    process (bounded LRU memo), so repeated hosts across batches cost a dictionary look-up. Outputs
    are in ``normalize_host`` form (IDN in punycode). ``None`` or invalid hosts give three ``None``;
    IP literals give the canonical address and ``None`` twice.
    """
    n = len(hosts)
    norm: list[str | None] = [None] * n
    reg: list[str | None] = [None] * n
    suf: list[str | None] = [None] * n
    for i, host in enumerate(hosts):
        if host is None:
            continue
        norm[i], reg[i], suf[i] = _attribute_one(host)
    return norm, reg, suf


def clear_cache() -> None:
    """Drop the attribution memo (for tests and long-lived processes that want the memory back)."""
    _attribute_one.cache_clear()
    _label_to_ascii.cache_clear()
