"""Personal data and secrets in documents, columnar over Arrow, validated, hashed, redactable.

Detectors (the type name is also the redaction placeholder, ``<EMAIL>``):

==================  ================================================================================
EMAIL               RFC 5322-ish local part @ host name (ASCII, punycode or IDN: user@bücher.de) whose
                    TLD is on the Public Suffix List; RFC 2606 names (example.com, .test, ...), URL
                    credentials and SSH algorithm names (chacha20-poly1305@openssh.com) skipped
PHONE               ``+CC`` and ``00``/``011`` international numbers (country code checked against
                    the E.164 table), NANP ``(NXX) NXX-XXXX``, trunk-``0`` national numbers of the
                    configured ``phone_regions`` (German ``030/1234567``, ``0 30 / 12 34 56`` too); any
                    other digit groups only next to a phone word or label ("call", "Tel.", "Telefax",
                    "Mobil", "M:", ...). No part of a card-like or IBAN-like run. Dates, year ranges, ISBNs, versions,
                    prices, amounts with units, postal codes, byte dumps, number lists and
                    numbers after "Order No."/"#"/"ISBN"/... are not phones.
IP_ADDRESS          IPv4 and IPv6 validated with ``ipaddress``; public (``is_global``) only by default;
                    dotted versions (``zlib 1.2.5.2``, ``image:15.6.1.143``, ``version: 52.14.130.12``,
                    ``Chrome/52.14.130.12``) are not addresses
CREDIT_CARD         13-19 digits, as written on cards (contiguous or 4-4-4-4 / 4-6-5 groups), Luhn,
                    and a known IIN prefix with a length that brand issues
IBAN                country length table (ISO 13616 registry) and mod-97 check digits
US_SSN              valid area (not 000, 666, 9xx) / group (not 00) / serial (not 0000); written
                    AAA-GG-SSSS, or with spaces / no separator next to "SSN" / "social security"; not
                    after a catalogue label (SKU, Part, Item, Order, Model, Cat. No., ...) unless an
                    SSN label stands nearer
AWS_ACCESS_KEY      AKIA/ASIA + 16 (not AKIAXXXX..., not ...EXAMPLE)
AWS_SECRET_KEY      40 base64 characters right after a "secret access key" label (AWS_SECRET_ACCESS_KEY=,
                    "SecretAccessKey":, secretAccessKey:, Secret access key:) or a "secret key" one
                    (secret_key = "...", fs.s3a.secret.key ...), after its access key id on the same line
                    (credentials.csv: AKIA...,<secret>), or within 120 after "aws"
GITHUB_TOKEN        ghp_/gho_/ghs_/ghu_/ghr_ + 36+, github_pat_ + 50+
GITLAB_TOKEN        glpat- + 20+
SLACK_TOKEN         xox[abpors]-..., incoming webhook URLs (https://hooks.slack.com/services/T.../B.../...)
STRIPE_KEY          sk_live_ / rk_live_ / sk_test_ / rk_test_ (test-mode keys read and write test data)
GOOGLE_API_KEY      AIza + 35
PRIVATE_KEY         a whole -----BEGIN ... PRIVATE KEY----- block with a real base64 body
JWT                 three base64url parts whose header decodes to a JSON object with "alg"
PASSWORD            the value of ``password = "..."`` / ``passwd: ...`` / ``"db_pass": "..."``
                    assignments and "Password: ..." in prose, URL credentials (``scheme://user:pw@host``),
                    PHP ``define('DB_PASSWORD', '...')``, XML ``<password>...</password>``, ``mysql -p...``
                    and ``curl -u user:pw``, when it is not a placeholder, a variable or a prose word
==================  ================================================================================

API: :func:`load_config` (``rules/pii.yaml``, layered), :func:`detect` (one string),
:func:`scan_batch` (a RecordBatch or Table -> a counts column and a findings column),
:func:`redact` / :func:`redact_batch` (placeholders or deterministic format-preserving fakes).

``scan_batch`` makes one RE2 pass (``pyarrow.compute.match_substring_regex``) over the text column
with :func:`prefilter_pattern`, the union of one part per detector; only the rows it selects (about
10% of C4) reach Python. Over those rows only, RE2 then routes each row to the matchers it needs:
one pass for phones, one for the union of the rare detectors, and per-detector passes over the few
rows that union selects. Every Python matcher accepts only text containing a match of its own part
of the pattern, so nothing is dropped: ``scan_batch`` finds per row exactly what ``detect`` finds
(tested on real text). Python's ``re`` scans at ~50 MB/s, RE2 at 200-400 MB/s; hence the split.

Phone words count when one ends at most ``phone_context_chars`` characters before the number with
only ASCII between the two (the prefilter's window is ASCII: it keeps RE2's automaton small).

Offsets are Python ``str`` indices (code points), end exclusive. Findings never overlap: where two
detectors claim the same characters the more specific one wins (order of :data:`PRIORITY`).

Hashes are ``HMAC-SHA256(key, normalised value)``, ``hash_hex_chars`` hex characters (16 by default), with a
key kept outside the ledger (``pii_key.py``); ledgers made before keep ``blake2b(value, key=salt)`` with the
salt in the ledger (scheme ``legacy``).
Normalised: e-mail lower case; phone ``+<digits>`` when the country is known (NANP numbers get +1),
else the digits; card, SSN: digits; IBAN: upper case without spaces; IP: canonical ``ipaddress``
text; keys and tokens as written (private keys without whitespace).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import hmac
import ipaddress
import json
import random
import re
import string
from pathlib import Path
from typing import Iterable, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from .ruleset import layers, load_yaml

__all__ = [
    "TYPES", "PRIORITY", "Finding", "PiiConfig", "load_config", "detect", "scan_batch", "redact",
    "redact_batch", "prefilter_pattern", "normalise", "hash_value", "COUNTS_TYPE", "FINDING_TYPE",
    "FINDINGS_TYPE", "PHONE_REGIONS", "luhn_ok", "iban_ok",
]

TYPES = (
    "EMAIL", "PHONE", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "US_SSN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
    "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "GOOGLE_API_KEY", "PRIVATE_KEY", "JWT",
    "PASSWORD",
)
PiiType = Literal[
    "EMAIL", "PHONE", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "US_SSN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
    "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "GOOGLE_API_KEY", "PRIVATE_KEY", "JWT",
    "PASSWORD",
]
#: Overlap resolution: a finding is dropped when it overlaps one of a type earlier in this tuple.
PRIORITY = (
    "PRIVATE_KEY", "JWT", "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "GOOGLE_API_KEY",
    "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "EMAIL", "IBAN", "CREDIT_CARD", "US_SSN", "IP_ADDRESS", "PHONE",
    "PASSWORD",
)
_RANK = {t: i for i, t in enumerate(PRIORITY)}

#: Per row: one int32 per type (null when that detector is off).
COUNTS_TYPE = pa.struct([(t, pa.int32()) for t in TYPES])
FINDING_TYPE = pa.struct(
    [("type", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("hash", pa.string()), ("value", pa.string())]
)
FINDINGS_TYPE = pa.list_(FINDING_TYPE)


class Finding(NamedTuple):
    type: str
    start: int
    end: int
    value: str


# ==================================================================================================
# Configuration (rules/pii.yaml)
# ==================================================================================================

#: National formats (without +CC) recognised without a phone word nearby, per region:
#: ``nanp`` = (NXX) NXX-XXXX; otherwise the allowed digit counts of a trunk-0 number (0 included).
PHONE_REGIONS: dict[str, object] = {
    "US": "nanp", "CA": "nanp",
    "GB": (10, 11), "IE": (9, 10), "AU": (10,), "NZ": (9, 10, 11), "DE": (8, 9, 10, 11, 12),
    "AT": (8, 9, 10, 11, 12, 13), "CH": (10,), "FR": (10,), "BE": (9, 10), "NL": (10,), "LU": (8, 9, 10, 11),
    "DK": (), "NO": (), "SE": (8, 9, 10), "FI": (7, 8, 9, 10, 11), "PL": (), "CZ": (), "ES": (), "PT": (),
    "IT": (), "GR": (), "IN": (11,), "JP": (10, 11), "KR": (9, 10, 11), "TW": (9, 10), "PH": (11,),
    "ZA": (10,), "NG": (11,), "BR": (10, 11, 12), "AR": (10, 11), "MX": (), "RU": (),
}
DEFAULT_PHONE_REGIONS = ("US", "CA", "GB", "IE", "AU", "NZ", "DE", "AT", "CH", "FR", "BE", "NL")


class PiiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip_public_only: bool = Field(True, description="report only globally routable addresses (ipaddress.is_global)")
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
    phone_context_chars: int = Field(30, ge=0, le=100, description="how far before a number a phone word counts")
    password_min_length: int = Field(6, ge=1, le=64)
    hash_hex_chars: int = Field(16, ge=8, le=64)

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        out = [r.strip().upper() for r in v]
        bad = [r for r in out if r not in PHONE_REGIONS]
        if bad:
            raise ValueError(f"unknown phone region {', '.join(bad)}; one of {', '.join(PHONE_REGIONS)}")
        return out


class PiiFile(BaseModel):
    """One layer's ``pii.yaml``: detectors switched on/off by type, options by name."""

    model_config = ConfigDict(extra="forbid")
    detectors: dict[PiiType, bool] = Field(default_factory=dict)
    options: PiiOptions = Field(default_factory=PiiOptions)


class PiiConfig(BaseModel):
    """What runs, merged over all rules layers. Hashable (used as a cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    detectors: frozenset[PiiType] = frozenset(TYPES)
    ip_public_only: bool = True
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    phone_context_chars: int = Field(30, ge=0, le=100)
    password_min_length: int = Field(6, ge=1, le=64)
    hash_hex_chars: int = Field(16, ge=8, le=64)

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(PiiOptions(phone_regions=list(v)).phone_regions)

    @field_serializer("detectors")
    def _detectors_in_order(self, v: frozenset) -> list[str]:
        """In TYPES order: a set's order changes from process to process; a dump is a cache key."""
        return [t for t in TYPES if t in v]


def load_config(rules_dirs: list[str | Path] | None = None) -> PiiConfig:
    """The PII configuration over all rules layers (shipped ``rules/`` first, then each folder given).

    A later layer overrides what it names: a detector by type, an option by key. A bad file raises
    ``RulesError`` with file:line. Detectors that no layer names are on."""
    det: dict[str, bool] = {}
    opts: dict = {}
    for d in layers(rules_dirs):
        f = d / "pii.yaml"
        if f.exists():
            pf = load_yaml(f, PiiFile)
            det.update(pf.detectors)
            opts.update(pf.options.model_dump(exclude_unset=True))
    if "phone_regions" in opts:
        opts["phone_regions"] = tuple(opts["phone_regions"])
    return PiiConfig(detectors=frozenset(t for t in TYPES if det.get(t, True)), **opts)


_DEFAULT = PiiConfig()

# ==================================================================================================
# Tables
# ==================================================================================================

_CC = set(
    "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 "
    "81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 "
    "232 233 234 235 236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 "
    "257 258 260 261 262 263 264 265 266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 "
    "358 359 370 371 372 373 374 375 376 377 378 380 381 382 383 385 386 387 389 420 421 423 500 501 502 "
    "503 504 505 506 507 508 509 590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 "
    "679 680 681 682 683 685 686 687 688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 "
    "883 886 888 960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979 992 993 994 995 "
    "996 998".split()
)
# national significant number lengths where they are fixed or narrow (default 6..12, total <= 15)
_NSN_LEN = {
    "1": (10, 10), "7": (10, 10), "33": (9, 9), "44": (9, 10), "61": (9, 9), "64": (8, 10), "49": (6, 13),
    "31": (9, 9), "32": (8, 9), "34": (9, 9), "39": (6, 11), "46": (7, 10), "47": (8, 8), "45": (8, 8),
    "353": (7, 9), "91": (10, 10), "86": (10, 11), "81": (9, 10), "41": (9, 9), "43": (6, 13),
}

_IBAN_LEN = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}

# (first digits low, high, lengths, brand) — prefixes compared on the same number of digits
_IIN = [
    ("4", "4", (13, 16, 19), "visa"),
    ("51", "55", (16,), "mastercard"), ("2221", "2720", (16,), "mastercard"),
    ("34", "34", (15,), "amex"), ("37", "37", (15,), "amex"),
    ("6011", "6011", (16, 17, 18, 19), "discover"), ("644", "649", (16, 17, 18, 19), "discover"),
    ("65", "65", (16, 17, 18, 19), "discover"), ("622126", "622925", (16, 17, 18, 19), "discover"),
    ("300", "305", (14, 15, 16, 17, 18, 19), "diners"), ("3095", "3095", (14, 15, 16, 17, 18, 19), "diners"),
    ("36", "36", (14, 15, 16, 17, 18, 19), "diners"), ("38", "39", (14, 15, 16, 17, 18, 19), "diners"),
    ("3528", "3589", (16, 17, 18, 19), "jcb"),
    ("62", "62", (16, 17, 18, 19), "unionpay"), ("81", "81", (16, 17, 18, 19), "unionpay"),
    ("5018", "5018", tuple(range(12, 20)), "maestro"), ("5020", "5020", tuple(range(12, 20)), "maestro"),
    ("5038", "5038", tuple(range(12, 20)), "maestro"), ("5893", "5893", tuple(range(12, 20)), "maestro"),
    ("6304", "6304", tuple(range(12, 20)), "maestro"), ("6759", "6759", tuple(range(12, 20)), "maestro"),
    ("6761", "6763", tuple(range(12, 20)), "maestro"),
    ("2200", "2204", (16, 17, 18, 19), "mir"),
    ("60", "60", (16,), "rupay"), ("508", "508", (16,), "rupay"), ("353", "353", (16,), "rupay"),
    ("356", "356", (16,), "rupay"), ("82", "82", (16,), "rupay"),
    ("506099", "506198", (16, 19), "verve"), ("650002", "650027", (16, 19), "verve"),
    ("9792", "9792", (16,), "troy"),
]
# the prefix a fake card of each brand starts with (fakes keep brand and length)
_FAKE_CARD_PREFIX = {
    "visa": "4", "mastercard": "5", "amex": "37", "discover": "6011", "diners": "36", "jcb": "3530",
    "unionpay": "62", "maestro": "6759", "mir": "2200", "rupay": "60", "verve": "506099", "troy": "9792",
}

# ==================================================================================================
# Small validators
# ==================================================================================================


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _luhn_digit(body: str) -> str:
    for c in "0123456789":
        if luhn_ok(body + c):
            return c
    raise AssertionError


def card_brand(digits: str) -> str | None:
    """The brand whose IIN range and lengths admit ``digits``, or None."""
    n = len(digits)
    for lo, hi, lengths, brand in _IIN:
        if n in lengths and lo <= digits[: len(lo)] <= hi:
            return brand
    return None


def _iban_mod97(s: str) -> int:
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97


def iban_ok(value: str) -> bool:
    s = value.replace(" ", "").upper()
    if len(s) < 5 or not s.isascii() or not s.isalnum() or _IBAN_LEN.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    return _iban_mod97(s) == 1


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return f"{area}-{group}-{serial}" not in ("078-05-1120", "219-09-9999", "123-45-6789")


@functools.lru_cache(maxsize=1)
def _tlds() -> frozenset[str]:
    """Top-level labels of the Public Suffix List snapshot bundled with tldextract (no network)."""
    import tldextract

    ext = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True,
                                include_psl_private_domains=False)
    out = set()
    for rule in ext.tlds:
        label = rule.rsplit(".", 1)[-1].lstrip("!*").lower()
        if label and label.isascii():
            out.add(label)
        elif label:
            try:
                out.add(label.encode("idna").decode("ascii"))
            except UnicodeError:
                pass
    return frozenset(out)


def _tld_ascii(label: str) -> str:
    """A top-level label as the Public Suffix List spells it: lower case, IDN labels in punycode."""
    if label.isascii():
        return label.lower()
    try:
        return label.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return ""


_RESERVED_DOMAINS = ("example.com", "example.org", "example.net")
_RESERVED_SUFFIXES = tuple("." + d for d in _RESERVED_DOMAINS)
_RESERVED_TLDS = {"example", "test", "invalid", "localhost", "local"}

# ==================================================================================================
# Prefilter (RE2). Each part is implied by every match its Python matcher accepts.
# ==================================================================================================

_PHONE_WORDS = (
    r"phones?|telephones?|tel|t[eé]l[eé]phone|telefon[eo]?|tlf|ph|mob|mobile|cell|cellphone|fax|"
    r"call|calling|dial|dialing|dialling|sms|whatsapp|hotline|helpline|contact|reach|"
    r"toll[ -]free|freephone|telefax|mobil|handy|fon|tfn|tlf"
)
_PHONE_LABELS = r"office|fax|mobile|cell|tel|phone|landline"


def _prefilter_parts(cfg: PiiConfig) -> dict[str, str]:
    w = cfg.phone_context_chars
    return {
        "EMAIL": r"[A-Za-z0-9_%+'-]@(?:[A-Za-z0-9]|[^\x00-\x7f])",
        "PHONE": (
            r"\+ ?\(?\d|\(0\)|\b0(?:0[ .-]{0,3}[1-9]|11)"
            r"|\d{3}\)?[ .-]{0,3}\d{3}[ .-]{1,3}\d{4}"
            r"|\(0\d|\b0[1-9]\d{0,3}(?:\)?(?:[ ]?[-./][ ]?|[ ])\(?|\()\d\d|\b0 [1-9]\d{1,4} ?/ ?\d"
            r"|\b1[38]00[ .-]|(?:\b|1)8(?:00|33|44|55|66|77|88)\)?[ .-]?[0-9-]{0,4}[A-Z]"
            + (rf"|(?i:\b(?:{_PHONE_WORDS})\b)[\x00-\x2f\x3a-\x7f]{{0,{w}}}\d|\b[MTFPmtfp]:[ \t]{{0,3}}[+(\d]" if w else "")
            + rf"|\d\)?[ ,;.-]{{0,3}}\(?(?i:{_PHONE_LABELS})\b"
        ),
        "IP_ADDRESS": (r"\d\.\d{1,3}\.\d{1,3}\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]"
                       r"|[0-9A-Fa-f]{3}::[0-9A-Fa-f]|[0-9A-Fa-f]::[0-9A-Fa-f]{3}"),
        "CREDIT_CARD": r"\d{4}[ -]?\d{4,6}[ -]?\d{4,5}",
        "IBAN": rf"\b(?i:{'|'.join(sorted(_IBAN_LEN))})\d\d(?: ?[A-Za-z0-9]){{4}}",
        "US_SSN": r"\d{3}-\d{2}-\d{4}|(?i:ssn|ss#|social security|soc\.? ?sec)",
        "AWS_ACCESS_KEY": r"AKIA|ASIA",
        "AWS_SECRET_KEY": (r"(?i:\baws|_aws|secret[ _-]?access[ _-]?key)"
                           r"|(?i:secret[ _.-]?key)[\"']?[ \t]*(?:=>|:=|[:= \t])[ \t]*[\"']?[A-Za-z0-9/+]{40}"),
        "GITHUB_TOKEN": r"gh[pousr]_|github_pat_",
        "GITLAB_TOKEN": r"glpat-",
        "SLACK_TOKEN": r"xox[abpors]-|hooks\.slack\.com/(?:services|workflows)/",
        "STRIPE_KEY": r"[sr]k_(?:live|test)_",
        "GOOGLE_API_KEY": r"AIza",
        "PRIVATE_KEY": r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY",
        "JWT": r"eyJ[A-Za-z0-9_-]+\.",
        "PASSWORD": (r"(?i:(?:pass(?:w(?:or)?[dt]|phrase)?|pwd|secret(?:_?key)?)[\"']?[ \t]*[:=])"
                     r"|://[^\s:/@'\"<>]{1,64}:[^\s/@'\"<>]{1,128}@"
                     r"|(?i:pass(?:w(?:or)?[dt])?\w*(?:['\"][ \t]*,|>))"
                     r"|(?i:\bmysql\w*\b[^\n]{0,100}[ \t]-p[^\s-]|\bcurl\b[^\n]{0,200}[ \t](?:-u|--user)[ \t])"
                     r"|(?i:\bidentified[ \t]+by[ \t])"),
    }


@functools.lru_cache(maxsize=32)
def prefilter_pattern(config: PiiConfig = _DEFAULT) -> str:
    """The RE2 pattern ``scan_batch`` selects candidate rows with (for the enabled detectors)."""
    parts = _prefilter_parts(config)
    return "|".join(parts[t] for t in TYPES if t in config.detectors)


# ==================================================================================================
# Matchers. Each takes (text, cfg, out) and appends Findings.
# ==================================================================================================

_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-'")
# host names: ASCII (punycode included) or internationalised (IDN) labels, e.g. bücher.de
_DOMAIN_RE = re.compile(r"(?:[^\W_](?:[^\W_]|-){0,62}\.)+(?:[A-Za-z]{2,24}(?![A-Za-z0-9-])|[^\W\d_]{2,24}(?![\w-]))")
_URL_AUTH_RE = re.compile(r"//[^\s/@]*\Z")
_SSH_NAME_DOMAINS = frozenset(("openssh.com", "libssh.org"))


def _emails(t: str, cfg: PiiConfig, out: list) -> None:
    tlds = _tlds()
    p = t.find("@")
    last_end = 0
    while p != -1:
        s = p
        while s > last_end and p - s < 64 and t[s - 1] in _LOCAL_CHARS:
            s -= 1
        while s < p and not t[s].isalnum():  # a local part starts with a letter or digit
            s += 1
        local = t[s:p]
        m = _DOMAIN_RE.match(t, p + 1)
        nxt = t.find("@", p + 1)
        if not local or m is None or local.endswith(".") or ".." in local:
            p = nxt
            continue
        if s > 0 and (t[s - 1].isalnum() or t[s - 1] in "_@"):
            p = nxt
            continue
        labels = m.group().split(".")
        while len(labels) >= 2 and _tld_ascii(labels[-1]) not in tlds:  # "a@b.com.Thanks" -> b.com
            labels.pop()
        if any(len(x) > 63 or x.startswith("-") or x.endswith("-") for x in labels):
            p = nxt
            continue
        if len(labels) < 2:
            p = nxt
            continue
        domain = ".".join(labels)
        e = p + 1 + len(domain)
        dl = domain.lower()
        if labels[-1].lower() in _RESERVED_TLDS or dl in _RESERVED_DOMAINS or dl.endswith(_RESERVED_SUFFIXES):
            p = nxt
            continue
        if dl in _SSH_NAME_DOMAINS and ("-" in local or local.lower() in ("zlib",)):
            p = nxt  # SSH algorithm names (RFC 4251 6): ssh-ed25519-cert-v01@openssh.com, zlib@openssh.com
            continue
        if _URL_AUTH_RE.search(t, max(0, s - 300), s):  # https://user:password@host
            p = nxt
            continue
        if e < len(t) and t[e] == ":" and e + 1 < len(t) and (t[e + 1].isalnum() or t[e + 1] in "/~"):  # git@host:path
            p = nxt
            continue
        out.append(Finding("EMAIL", s, e, t[s:e]))
        last_end = e
        p = t.find("@", e)


# ---- phones -----------------------------------------------------------------------------------------

# where a number may start (a charset first, so sre skips quickly; the width-2 lookbehind checks the
# character before the first one), then the run itself, matched from there
_PHONE_START = re.compile(r"[+(\d](?<![\w@$€£¥+.#/\\-][+(\d])(?=(?:[ ()./-]{0,3}\d){5})")
_PHONE_BODY = re.compile(
    r"(?>(?:\+[ ]?)?(?:\(\d{1,5}\)|\d{1,15}+)(?:(?:[ ]?[-.][ ]?|[ ]|/|[ ]/[ ])?(?:\(\d{1,5}\)|\d{1,15}+)){0,7}"
    r"(?:[ ]?(?:x|ext\.?|extn\.?|extension)[ ]?\d{1,6}+)?)"
    r"(?![\w@])"
)
_GROUP_RE = re.compile(r"\(\d+\)|\d+")
_EXT_RE = re.compile(r"[ ]?(?:x|ext\.?|extn\.?|extension)[ ]?\d+\Z")
_VANITY_RE = re.compile(
    r"(?<![\w-])(?:1[ .-]?)?\(?8(?:00|33|44|55|66|77|88)\)?[ .-]?"
    r"(?=[A-Z0-9]{3}-?[A-Z0-9]{4}(?![\w-]))(?=[0-9-]{0,4}[A-Z])[A-Z0-9]{3}-?[A-Z0-9]{4}"
)
_WORD_RE = re.compile(r"[^\W\d_]+")
_PHONE_WORD_SET = frozenset(
    w for w in re.sub(r"\[eé\]|\[ -\]", "", _PHONE_WORDS).split("|") if w.isalpha()
) | {"phone", "phones", "telephone", "telephones", "téléphone", "telephone", "telefon", "telefone", "telefono"}
_VANITY_HINT = re.compile(r"8(?:00|33|44|55|66|77|88)\)?[ .-]?[0-9-]{0,4}[A-Z]")
_CONTEXT_RE = re.compile(rf"(?i)\b(?:{_PHONE_WORDS})\b")
_LABEL_AFTER_RE = re.compile(rf"[ ,;.-]{{0,3}}\(?(?i:{_PHONE_LABELS})\b")
_STRONG_NEG_RE = re.compile(
    r"(?i)\b(?:isbn|issn|oclc|docket|patent|order|invoice|account|acct|case|reference|serial|sku|model|part|item|"
    r"cat|catalog|catalogue|style|"
    r"job|ticket|tracking|abn|acn|acnc|vat|ein|tin|iva|gst|registration|licen[cs]e|permit|receipt|transaction|"
    r"company|charity|reg)\b[^\n]{0,12}\Z"
)
_NEG_WORDS = frozenset(
    "isbn isbn-10 isbn-13 issn oclc doi pmid arxiv docket patent order invoice account acct case ref reference serial "
    "sku model part item job ticket tracking abn acn acnc vat ein tin iva gst isin cusip id code zip postcode pin lot "
    "batch version ver v build release page pages pp vol volume issue chapter section art article reg registration "
    "license licence permit file receipt transaction cas ean upc gtin asin imei iccid fig figure table step rule price "
    "cost total amount usd eur gbp rs inr chf aud cad nzd jpy cny".split()
)
_CURRENCY = "$€£¥₹§"
_WEAK_NEG = frozenset(("no", "nr", "num", "number", "#"))


def _neg_word(before: str) -> str | None:
    """The word or symbol right before a number when it says "not a phone" ("ISBN", "Order", "#",
    "No."), else None. Weak ones ("No.", "number", "#") are returned too; the caller decides."""
    b = before.rstrip(" \t")
    if not b:
        return None
    if b[-1] in "#№":
        return "#"
    if b[-1] in _CURRENCY:
        return "$"
    b = b.rstrip(":.# \t")
    i = len(b)
    while i > 0 and (b[i - 1].isalnum() or b[i - 1] == "-"):
        i -= 1
    w = b[i:].lower()
    if w in _NEG_WORDS or w in _WEAK_NEG:
        return w
    return None


_UNIT_AFTER_RE = re.compile(
    r"[ ]?(?:%|‰|(?:km|kms|m|cm|mm|kg|g|mg|ml|l|lbs?|oz|mi|miles|ft|feet|sq|hrs?|hours|mins?|years?|yrs|"
    r"usd|eur|gbp|dollars?|euros?|yen|pounds|rupees|rs|times|people|users|votes|views|copies|units|pcs|"
    r"tons?|tonnes|mw|kw|kwh|gb|mb|tb|bytes|words|pages)\b)",
    re.I,
)
_NANP_RE = re.compile(
    r"(?:(?:1)(?:[ .-]|[ ]?(?=\()))?(?:\((?P<a1>[2-9]\d\d)\)[ ]?-?|(?P<a2>[2-9]\d\d)(?:[ .-]|[ ]?[-.][ ]?))"
    r"[2-9]\d\d(?:[ .-]|[ ]?-[ ]?)\d{4}\Z"
)


class _Group(NamedTuple):
    start: int  # offsets in the text
    end: int
    digits: str
    paren: bool


def _is_date(a: str, b: str, c: str) -> bool:
    def year(x):
        return len(x) == 4 and 1800 <= int(x) <= 2099

    ia, ib, ic = int(a), int(b), int(c)
    if year(a) and 1 <= ib <= 12 and 1 <= ic <= 31 and len(b) <= 2 and len(c) <= 2:
        return True
    if year(c) and len(a) <= 2 and len(b) <= 2 and ((1 <= ia <= 31 and 1 <= ib <= 12) or (1 <= ia <= 12 and 1 <= ib <= 31)):
        return True
    return False


def _bad_shape(gs: list[_Group], seps: list[str]) -> bool:
    """Dates, year ranges, thousands-grouped amounts, ISBN-13s."""
    d = [g.digits for g in gs]
    for i in range(len(d) - 2):
        if _is_date(d[i], d[i + 1], d[i + 2]):
            return True
    if len(d) >= 2 and all(len(x) == 4 and 1800 <= int(x) <= 2099 for x in d):
        return True
    if len(d) >= 2 and all(s.strip() == "." for s in seps) and 1 <= len(d[0]) <= 3 and all(len(x) == 3 for x in d[1:]):
        return True  # 100.000, 2.500.000
    if len(d) == 2 and len(d[0]) == 5 and len(d[1]) in (3, 4) and seps[0] == "-":
        return True  # ZIP+4 02110-1301, Brazilian CEP 01310-100
    if (
        len(d) >= 3 and all(len(x) == 2 for x in d[:3]) and seps[0] == seps[1] and seps[0] in ("-", "/", ".")
        and (len(d) == 3 or seps[2] != seps[0])
        and ((1 <= int(d[0]) <= 12 and 1 <= int(d[1]) <= 31) or (1 <= int(d[0]) <= 31 and 1 <= int(d[1]) <= 12))
    ):
        return True  # 01-29-97 (a date with a two-digit year), 01-29-97 11:32
    if sum(1 for x in d if x == "00") >= 2 or len(d) >= 7:
        return True  # 01-00 00-00 (a byte dump); a list of numbers
    joined = "".join(d)
    if len(joined) == 13 and joined[:3] in ("978", "979") and len(d) >= 4:
        return True
    return False


def _cc_split(digits: str) -> tuple[str, str] | None:
    for k in (1, 2, 3):
        if digits[:k] in _CC:
            return digits[:k], digits[k:]
    return None


def _nsn_ok(cc: str, nsn: str) -> bool:
    lo, hi = _NSN_LEN.get(cc, (6, 12))
    return lo <= len(nsn) <= hi and len(cc) + len(nsn) <= 15


@functools.lru_cache(maxsize=32)
def _region_rules(regions: tuple[str, ...]) -> tuple[bool, frozenset[int], bool]:
    nanp = any(PHONE_REGIONS[r] == "nanp" for r in regions)
    lengths = frozenset(n for r in regions if PHONE_REGIONS[r] != "nanp" for n in PHONE_REGIONS[r])
    return nanp, lengths, "AU" in regions


def _phone_accept(t: str, gs: list[_Group], seps: list[str], plus: bool, first: bool, cfg: PiiConfig) -> bool | None:
    """Is this list of digit groups a phone number? True / False, or None: only next to a phone
    word or label. ``first``: it starts the run (international forms only there)."""
    digits = "".join(g.digits for g in gs)
    nd = len(digits)
    if plus:
        plain = "".join(g.digits for g in gs if not (g.paren and g.digits == "0"))
        sp = _cc_split(plain)
        return sp is not None and _nsn_ok(*sp) and nd >= 8
    if nd < 6 or nd > 15 or _bad_shape(gs, seps):
        return False
    slash = [i for i, x in enumerate(seps) if "/" in x]
    if slash:
        # German style "030/1234567", "0 30 / 12 34 56": one slash, after a trunk-0 area code of 2-5 digits
        head = "".join(g.digits for g in gs[: slash[0] + 1])
        if len(slash) > 1 or any(g.paren for g in gs) or not (2 <= len(head) <= 5 and head[0] == "0" and head[1] != "0"):
            return False
        if slash[0] > 1 or (slash[0] == 1 and gs[0].digits != "0"):
            return False
        return True if nd in _region_rules(cfg.phone_regions)[1] else None
    # 00 / 011 international prefix
    if first and len(gs) >= 2 and len(gs[0].digits) >= 2 and digits.startswith(("00", "011")) and not digits.startswith("000"):
        rest = digits[3:] if digits.startswith("011") else digits[2:]
        sp = _cc_split(rest)
        if sp is not None and _nsn_ok(*sp) and len(gs[0].digits) <= 5:
            return True
    # country code followed by a "(0)" trunk marker: 353-(0)1-6289512, 44 (0) 20 ...
    if first and len(gs) >= 3 and gs[1].paren and gs[1].digits == "0" and gs[0].digits in _CC:
        rest = "".join(g.digits for g in gs[2:])
        if _nsn_ok(gs[0].digits, rest):
            return True
    nanp, trunk_lengths, au = _region_rules(cfg.phone_regions)
    if nanp and _NANP_RE.match(t, gs[0].start - (1 if gs[0].paren else 0), gs[-1].end):
        return True
    if (
        digits[0] == "0" and digits[1] != "0" and len(gs) >= 2 and nd in trunk_lengths
        and 2 <= len(gs[0].digits) <= 5 and all(2 <= len(g.digits) <= 8 for g in gs[1:])
    ):
        return True
    if au and len(gs) >= 2 and gs[0].digits in ("1300", "1800") and nd == 10:
        return True
    if (
        (len(gs) >= 2 and all(len(g.digits) >= 2 or (g.paren and g.digits in ("0", "1")) or (i == 0 and g.digits == "1")
                              for i, g in enumerate(gs)))
        or (len(gs) == 1 and 7 <= nd <= 12)
    ):
        return None
    return False


def _card_or_iban_like(t: str, s: int, gs: list[_Group], seps: list[str]) -> bool:
    """A run of digit groups written like a card number (4-4-4-4, 4-6-5; 13-19 digits, not starting with 0)
    or the digits of an IBAN after its "DE89 " head: no part of it is a phone number ("5145-0610-6727-2707",
    a card-shaped reference that fails Luhn, would otherwise give the national number 0610-6727-2707)."""
    d = "".join(g.digits for g in gs)
    if (
        len(gs) >= 3 and 13 <= len(d) <= 19 and d[0] != "0" and len(set(seps)) == 1 and seps[0] in (" ", "-")
        and _card_layout_ok([len(g.digits) for g in gs]) and not any(g.paren for g in gs)
    ):
        return True
    return _IBAN_HEAD_RE.search(t, max(0, s - 40), s) is not None


_IBAN_HEAD_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d\d(?: [A-Z0-9]{4})*[ ]\Z")
_LETTER_LABEL_RE = re.compile(r"(?:^|(?<=[\s|,;(]))[MTFPmtfp]:[ \t]{0,3}\Z")


def _context_before(t: str, s: int, w: int) -> bool:
    """A phone word ends within ``w`` characters before ``s`` with only ASCII between it and ``s``
    (the prefilter's window is ASCII, which keeps RE2's automaton small)."""
    lo = max(0, s - w)
    if _LETTER_LABEL_RE.search(t, max(0, s - 6), s):  # "M: 0171 2345678", "T: ...", "F: ..." (vCard style)
        return True
    for m in reversed(list(_WORD_RE.finditer(t, lo, s))):
        word = m.group().lower()
        if word in _PHONE_WORD_SET or (word in ("free", "phone") and _CONTEXT_RE.search(t, lo, m.end())):
            if m.start() > 0 and (t[m.start() - 1].isalnum() or t[m.start() - 1] == "_"):
                continue  # cut off at the window's start: not the whole word
            return t[m.end():s].isascii()
    return False


def _phones(t: str, cfg: PiiConfig, out: list) -> None:
    w = cfg.phone_context_chars
    pos = 0
    search, body = _PHONE_START.search, _PHONE_BODY.match
    while True:
        m0 = search(t, pos)
        if m0 is None:
            break
        s = m0.start()
        m = body(t, s)
        if m is None:
            pos = s + 1
            continue
        e = pos = m.end()
        raw = m.group()
        em = _EXT_RE.search(raw)
        main_end = s + (em.start() if em else len(raw))
        plus = raw[0] == "+"
        gs = []
        seps = []
        prev = None
        for g in _GROUP_RE.finditer(t, s, main_end):
            paren = g.group()[0] == "("
            a, b = (g.start() + 1, g.end() - 1) if paren else g.span()
            if prev is not None:
                seps.append(t[prev:g.start()])
            gs.append(_Group(a, b, t[a:b], paren))
            prev = g.end()
        if not gs:
            continue
        nd_all = sum(len(g.digits) for g in gs)
        if nd_all < 6 and not em:
            continue
        before = t[max(0, s - 25):s]
        neg = None
        if not plus:
            neg = _neg_word(before)
        ctx_memo: list = []

        def ctx_before() -> bool:
            if not ctx_memo:
                ctx_memo.append(bool(w) and _context_before(t, s, w))
            return ctx_memo[0]

        if neg is not None:
            # "No." / "number" / "#" before a number: a phone only after a phone word ("Tel. No.",
            # "call this number"), never after "Order No." / "company number"; other words veto
            if neg not in _WEAK_NEG:
                continue
            if (neg == "#" and not ctx_before()) or _STRONG_NEG_RE.search(t, max(0, s - 30), s):
                continue
        if not plus and _bad_shape(gs, seps):  # a date or amount: no part of it is a phone either
            continue
        if not plus and _card_or_iban_like(t, s, gs, seps):  # no part of a card-like reference or IBAN
            continue
        done = False
        n = len(gs)
        # longest run of groups first, earliest start first
        for k in range(n, 0, -1):
            for i in range(0, n - k + 1):
                sub = gs[i:i + k]
                sub_seps = seps[i:i + k - 1]
                gstart = sub[0].start - (1 if sub[0].paren else 0)
                gend = sub[-1].end + (1 if sub[-1].paren else 0)
                full = i == 0 and k == n
                fend = e if (full or i + k == n) and em else gend
                if i > 0 and plus:
                    plus_here = False
                else:
                    plus_here = plus
                if plus_here:
                    gstart = s
                after = t[fend:fend + 14]
                if not plus_here and _UNIT_AFTER_RE.match(after):
                    continue
                verdict = _phone_accept(t, sub, sub_seps, plus_here, i == 0, cfg)
                if verdict is None:  # acceptable next to a phone word or label only, not in a list
                    in_list = gstart >= 2 and t[gstart - 1] == "," and t[gstart - 2].isdigit()  # 80,572 212
                    verdict = not in_list and (
                        _LABEL_AFTER_RE.match(after) is not None or ctx_before())
                if verdict:
                    out.append(Finding("PHONE", gstart, fend, t[gstart:fend]))
                    done = True
                    break
            if done:
                break
    if "8" in t:  # vanity numbers (800-423-LOFT): find the hint fast, then match around it
        last = -1
        for h in _VANITY_HINT.finditer(t):
            m = _VANITY_RE.search(t, max(0, h.start() - 4, last), h.end() + 8)
            if m is not None and m.start() <= h.start():
                out.append(Finding("PHONE", m.start(), m.end(), m.group()))
                last = m.end()


# ---- IP addresses --------------------------------------------------------------------------------------

_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV4_NEG_RE = re.compile(r"(?i)(?:(?:\b(?:v|ver|version|build|release|firmware|rev|revision|section|sec|chapter|"
                          r"fig|figure|table|step|rule|item|no|art|article|§)\.?|§)"
                          r"(?:[ \t]*(?:[:=#]|\b(?:is|was|to|of|number|no\.?|nr\.?)\b))*[ \t]*"
                          r"|[A-Za-z][\w-]*/)\Z")  # "version: 52.14.130.12", "Chrome/52.14.130.12"
_IP_WORD_RE = re.compile(r"(?i)\b(?:ip|ips|ipv4|address|addr|host|server|dns|ping|gateway|router|resolver|"
                         r"proxy|connect(?:ed|ing)?|from|via|nameserver)\b")
_HEXCOLON = frozenset("0123456789abcdefABCDEF:")
_HEXCOLONDOT = frozenset("0123456789abcdefABCDEF:.")


def _ip_public(ip, cfg: PiiConfig) -> bool:
    if not cfg.ip_public_only:
        return True
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def _v6_shape_ok(cand: str) -> bool:
    """Enough of an address to be one: three groups, or two around "::" with a digit and a group of
    three or more characters (fe80::1), not C++'s a::b."""
    groups = [g for g in re.split(r"[:.]", cand) if g]
    if len(groups) >= 3:
        return True
    return len(groups) == 2 and "::" in cand and any(len(g) >= 3 for g in groups) and any(c.isdigit() for c in cand)


def _ips(t: str, cfg: PiiConfig, out: list) -> None:
    if "." in t:
        for m in _IPV4_RE.finditer(t):
            v = m.group()
            parts = v.split(".")
            if any(len(p) > 1 and p[0] == "0" for p in parts) or any(int(p) > 255 for p in parts):
                continue
            if _IPV4_NEG_RE.search(t, max(0, m.start() - 32), m.start()):
                continue
            s4 = m.start()
            if s4 >= 2 and t[s4 - 1] == ":" and t[s4 - 2].isalnum() and not _IP_WORD_RE.search(t, max(0, s4 - 12), s4):
                continue  # image:15.6.1.143 (a version tag)
            if max(int(p) for p in parts) < 32 and not _IP_WORD_RE.search(t, max(0, s4 - 40), s4):
                continue  # 1.2.5.2, 4.1.2.3: versions and section numbers, unless it is said to be an address
            ip = ipaddress.IPv4Address(v)
            if _ip_public(ip, cfg):
                out.append(Finding("IP_ADDRESS", m.start(), m.end(), v))
    n = len(t)
    i = t.find(":")
    while i != -1:
        s = i
        while s > 0 and t[s - 1] in _HEXCOLON:
            s -= 1
        e = i + 1
        while e < n and t[e] in _HEXCOLONDOT:
            e += 1
        while e > i and t[e - 1] in ".:" and not t[s:e].endswith("::"):
            e -= 1
        cand = t[s:e]
        if (
            cand.count(":") >= 2
            and (s == 0 or not (t[s - 1].isalnum() or t[s - 1] in "_"))
            and (e >= n or not (t[e].isalnum() or t[e] in "_"))
            and _v6_shape_ok(cand)
        ):
            try:
                ip = ipaddress.IPv6Address(cand)
            except ValueError:
                ip = None
            if ip is not None and _ip_public(ip, cfg):
                out.append(Finding("IP_ADDRESS", s, e, cand))
        i = t.find(":", max(e, i + 1))


# ---- cards, IBAN, SSN ----------------------------------------------------------------------------------

_CARD_RE = re.compile(r"(?<![\w.,-])\d(?:[ -]?\d){11,18}(?![\w])")
_CARD_GROUP_RE = re.compile(r"\d+")


def _card_layout_ok(lens: list[int]) -> bool:
    if len(lens) == 1:
        return True
    if lens in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(x == 4 for x in lens[:-1]) and 1 <= lens[-1] <= 4


def _cards(t: str, cfg: PiiConfig, out: list) -> None:
    for m in _CARD_RE.finditer(t):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        if len(seps) > 1:
            continue
        groups = _CARD_GROUP_RE.findall(raw)
        digits = "".join(groups)
        if not _card_layout_ok([len(g) for g in groups]):
            continue
        if len(set(digits)) == 1 or not luhn_ok(digits) or card_brand(digits) is None:
            continue
        out.append(Finding("CREDIT_CARD", m.start(), m.end(), raw))


_IBAN_START_RE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d\d)(?= ?[A-Za-z0-9])")


def _ibans(t: str, cfg: PiiConfig, out: list) -> None:
    n = len(t)
    for m in _IBAN_START_RE.finditer(t):
        cc = m.group(1).upper()
        L = _IBAN_LEN.get(cc)
        if L is None:
            continue
        need = L - 4
        pos = m.end()
        got = []
        while len(got) < need and pos < n:
            c = t[pos]
            if c.isascii() and c.isalnum():
                got.append(c)
                pos += 1
            elif c == " " and pos + 1 < n and t[pos + 1].isascii() and t[pos + 1].isalnum():
                pos += 1
            else:
                break
        if len(got) != need or (pos < n and t[pos].isascii() and t[pos].isalnum()):
            continue
        body = m.group(1) + m.group(2) + "".join(got)
        if iban_ok(body):
            out.append(Finding("IBAN", m.start(), pos, t[m.start():pos]))


_SSN_RE = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_CTX_RE = re.compile(r"(?i)\b(?:ssn|ss#|social security|soc\.? ?sec)")
# a catalogue label shortly before an SSN-shaped number: SKU 431-22-0918, Part No. ..., Order #...
_SSN_NEG_RE = re.compile(
    r"(?i)(?:\b(?:sku|part|parts|item|order|model|cat|catalog|catalogue|product|prod|ref|reference|invoice|serial|"
    r"s/n|p/n|po|lot|batch|ticket|case|tracking|style|upc|ean|article|art|stock|mfr|mpn|asin|isbn|doc|document|"
    r"file|claim|policy|account|acct|phone|tel|fax|call)\b)[^\n]{0,16}\Z"
)


def _ssns(t: str, cfg: PiiConfig, out: list) -> None:
    for m in _SSN_RE.finditer(t):
        area, sep, group, serial = m.groups()
        if not _ssn_ok(area, group, serial):
            continue
        ctx = None
        for ctx in _SSN_CTX_RE.finditer(t, max(0, m.start() - 40), m.start()):
            pass
        if sep != "-" and ctx is None:
            continue
        neg = _SSN_NEG_RE.search(t, max(0, m.start() - 30), m.start())
        if neg is not None and (ctx is None or neg.start() > ctx.start()):
            continue  # the nearer label says catalogue number, not SSN
        out.append(Finding("US_SSN", m.start(), m.end(), m.group()))


# ---- secrets -------------------------------------------------------------------------------------------

_AWS_ID_RE = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET_RE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# the key's own label right before it: AWS_SECRET_ACCESS_KEY=..., "SecretAccessKey": "...",
# secretAccessKey: ..., "Secret access key: ..." (the console's download), aws_secret_access_key = ...
_AWS_SECRET_LABEL_RE = re.compile(r"(?i)secret[ _-]?access[ _-]?key[\"']?[ \t]*(?:=>|:=|[:=]|,)?[ \t]*[\"']?\Z")
# a shorter label, for a 40-character value only when it is the label's value: secret_key = "..." (Terraform,
# s3cmd), fs.s3a.secret.key ..., secret-key=..., secretKey: ...; and the pair written on one line after its
# access key id: the console's credentials.csv row "AKIA...,<secret>", "AKIA... <secret>"
_AWS_SECRET_SHORT_LABEL_RE = re.compile(r"(?i)secret[ _.-]?key[\"']?[ \t]*(?:=>|:=|[:=]|[ \t])[ \t]*[\"']?\Z")
_AWS_PAIR_RE = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}[\"']?[ \t]*[,;|: \t][ \t]*[\"']?\Z")
_AWS_WORD_RE = re.compile(r"(?i)(?<![a-z0-9])aws")
_AWS_SECRET_LABEL_HINT_RE = re.compile(r"(?i)secret[ _.-]?(?:access[ _.-]?)?key")
_GITHUB_RE = re.compile(r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{50,250})(?![A-Za-z0-9_])")
_GITLAB_RE = re.compile(r"(?<![\w-])glpat-[0-9A-Za-z_-]{20,}(?:\.[0-9A-Za-z_-]+)*(?![\w-])")
_SLACK_RE = re.compile(r"(?<![\w-])xox[abpors]-[0-9A-Za-z]+(?:-[0-9A-Za-z]+)+(?![\w-])")
# incoming webhooks carry their secret in the URL: https://hooks.slack.com/services/T.../B.../<24 characters>
_SLACK_HOOK_RE = re.compile(
    r"https?://hooks\.slack\.com/(?:services|workflows)/T[0-9A-Z]{6,12}/[AB][0-9A-Z]{6,12}/(?:\d+/)?"
    r"[0-9A-Za-z]{20,40}(?![\w])")
# secret and restricted keys, live and test mode (a test-mode key reads and writes the account's test data)
_STRIPE_RE = re.compile(r"(?<![\w])[sr]k_(?:live|test)_[0-9A-Za-z]{20,247}(?![\w])")
_GOOGLE_RE = re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")
_PK_BEGIN_RE = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----")
_B64_LINE_RE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*(?:\r?\n|\Z)")
_JWT_RE = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?![\w-])")


def _random_enough(s: str) -> bool:
    """Not a placeholder like XXXXXXXX... or 0123456789abcdef... (at least 6 distinct characters)."""
    return len(set(s)) >= 6 and not re.search(r"(?i)x{8}|0{8}|example|your|token|here", s)


def _secrets(t: str, det: frozenset, out: list) -> None:
    if "AWS_ACCESS_KEY" in det and ("AKIA" in t or "ASIA" in t):
        for m in _AWS_ID_RE.finditer(t):
            if not m.group().endswith("EXAMPLE") and _random_enough(m.group()[4:]):
                out.append(Finding("AWS_ACCESS_KEY", m.start(), m.end(), m.group()))
    if "AWS_SECRET_KEY" in det and (_AWS_WORD_RE.search(t) or _AWS_SECRET_LABEL_HINT_RE.search(t)
                                    or "AKIA" in t or "ASIA" in t):
        for m in _AWS_SECRET_RE.finditer(t):
            v = m.group()
            if not (re.search(r"[A-Z]", v) and re.search(r"[a-z]", v) and re.search(r"[0-9/+]", v)):
                continue
            if "EXAMPLE" in v or not _random_enough(v):
                continue
            if not (_AWS_SECRET_LABEL_RE.search(t, max(0, m.start() - 40), m.start())
                    or _AWS_SECRET_SHORT_LABEL_RE.search(t, max(0, m.start() - 40), m.start())
                    or _AWS_PAIR_RE.search(t, max(0, m.start() - 30), m.start())
                    or _AWS_WORD_RE.search(t, max(0, m.start() - 120), m.start())):
                continue
            out.append(Finding("AWS_SECRET_KEY", m.start(), m.end(), v))
    if "GITHUB_TOKEN" in det and ("github_pat_" in t or any(p in t for p in ("ghp_", "gho_", "ghs_", "ghu_", "ghr_"))):
        for m in _GITHUB_RE.finditer(t):
            if _random_enough(m.group().split("_", 1)[1]):
                out.append(Finding("GITHUB_TOKEN", m.start(), m.end(), m.group()))
    if "GITLAB_TOKEN" in det and "glpat-" in t:
        for m in _GITLAB_RE.finditer(t):
            if _random_enough(m.group()[6:]):
                out.append(Finding("GITLAB_TOKEN", m.start(), m.end(), m.group()))
    if "SLACK_TOKEN" in det and "xox" in t:
        for m in _SLACK_RE.finditer(t):
            v = m.group()
            if len(v) >= 24 and _random_enough(v[5:]) and sum(c.isdigit() for c in v) >= 6:
                out.append(Finding("SLACK_TOKEN", m.start(), m.end(), v))
    if "SLACK_TOKEN" in det and "hooks.slack.com/" in t:
        for m in _SLACK_HOOK_RE.finditer(t):
            if _random_enough(m.group().rsplit("/", 1)[1]):
                out.append(Finding("SLACK_TOKEN", m.start(), m.end(), m.group()))
    if "STRIPE_KEY" in det and ("_live_" in t or "_test_" in t):
        for m in _STRIPE_RE.finditer(t):
            if _random_enough(m.group()[8:]):
                out.append(Finding("STRIPE_KEY", m.start(), m.end(), m.group()))
    if "GOOGLE_API_KEY" in det and "AIza" in t:
        for m in _GOOGLE_RE.finditer(t):
            if _random_enough(m.group()[4:]):
                out.append(Finding("GOOGLE_API_KEY", m.start(), m.end(), m.group()))
    if "PRIVATE_KEY" in det and "-----BEGIN " in t:
        for m in _PK_BEGIN_RE.finditer(t):
            end_marker = f"-----END {m.group(1)}PRIVATE KEY{m.group(2) or ''}-----"
            j = t.find(end_marker, m.end(), m.end() + 20000)
            if j != -1:
                body = t[m.end():j]
                e = j + len(end_marker)
            else:
                pos = m.end()
                if pos < len(t) and t[pos] == "\r":
                    pos += 1
                if pos < len(t) and t[pos] == "\n":
                    pos += 1
                while True:
                    lm = _B64_LINE_RE.match(t, pos)
                    if not lm or lm.end() == pos:
                        break
                    pos = lm.end()
                body = t[m.end():pos]
                e = pos
                while e > m.end() and t[e - 1] in "\r\n \t":
                    e -= 1
            b64 = sum(1 for c in body if c.isalnum() or c in "+/")
            if b64 >= 64 and _random_enough(body):
                out.append(Finding("PRIVATE_KEY", m.start(), e, t[m.start():e]))
    if "JWT" in det and "eyJ" in t:
        for m in _JWT_RE.finditer(t):
            header = m.group().split(".", 1)[0]
            try:
                h = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                continue
            if m.group().endswith(".") and t.startswith((".", "\u2026"), m.end()):
                continue  # eyJhbGciOiJIUzI1NiJ9.eyJzb21lIjoiMSJ9... : elided, no signature
            if isinstance(h, dict) and isinstance(h.get("alg"), str):
                out.append(Finding("JWT", m.start(), m.end(), m.group()))


_PW_KEY_RE = re.compile(r"(?i)(?:pass(?:w(?:or)?[dt]|phrase)?|pwd|secret(?:_?key)?)[\"']?[ \t]*(?::=|=>|=|:)[ \t]*")
_PW_VALUE_RE = re.compile(r"(?:([\"'`])([^\"'`\r\n]{1,200})\1|([^\s\"'`,;&)}\]<>]{1,200}))")
# outside a query string "&" belongs to the value (DB_PASSWORD=ab&cd9)
_PW_VALUE_AMP_RE = re.compile(r"(?:([\"'`])([^\"'`\r\n]{1,200})\1|([^\s\"'`,;)}\]<>]{1,200}))")
_PW_LINE_END_RE = re.compile(r"[.!?]*[ \t]*(?:[;,&]|#|//|\r?\n|\Z)")
# after an unquoted value, a space and then a word: "Password: Tr0ub4dor7 and then", "--password=x mydb"
_PW_WORD_AFTER_RE = re.compile(r"[ \t]+(?:[^\W\d]|\((?=[^\W\d])|--?\w|\d+\b(?![ \t]*[-+*/%<>=]))")
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_PW_STOP = {
    "password", "passwd", "passwort", "pass", "secret", "changeme", "yourpassword", "mypassword", "none", "null",
    "nil", "true", "false", "undefined", "example", "string", "required", "optional", "hidden", "redacted",
    "removed", "placeholder", "default", "empty", "varchar", "text", "secretkey", "notset", "unset", "blank",
}
_PW_PLACEHOLDER_RE = re.compile(
    r"(?i)^(?:<.*>|\{\{.*\}\}|\$\{.*\}|\$\(.*\)|\$[A-Za-z_]\w*|%\(?\w*\)?s|%\w+%|\{\w*\}|[*x•●·.#?_-]+|\[.*\])$"
    r"|^(?:your|the|enter|insert|some|example|sample|dummy|fake|placeholder|replace|type|new|old|generate|"
    r"change|put|set|use|add)[ _-]"
    r"|xxx|\*{3}|\.\.\.|…\Z|[ _-]here\Z|\$\{|\$\(|%\(|\{\{|[_.-]your[_-]"
)
# a value made only of these words (db_password, secret-key, Your_Root_Password, SECRET) names a password, it
# is not one; a value with another part is (mysecretpassword, pfsecret, Password123, examplepass)
_PW_GENERIC = frozenset(
    "password passwd passwort pass pwd pw secret secrets your my the db database user username admin root app "
    "here change changeme me example sample new old some default dummy fake placeholder value key str string "
    "enter insert put set use add type a an strong super very mysql postgres postgresql redis api token auth "
    "access login account server client local dev prod production staging env".split())
_PW_PART_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# single words that say what a field holds, not a value: "password: boolean", "pwd: required"
_PW_KIND_WORDS = frozenset(
    "boolean bool integer number object array bytes datetime float optional required hashed encrypted masked "
    "hidden secure sensitive unknown missing invalid incorrect wrong forgotten reset protected "
    "str int char any list dict uuid json blob yes off".split())
#: the shortest password taken where the syntax leaves no doubt that a value is a password: URL credentials,
#: a value assigned to a password key in configuration or command-line syntax, SQL ``IDENTIFIED BY``
#: (default and example credentials are often 3-5 characters: scott/tiger, DB_PASS=bpm); elsewhere the
#: configured ``password_min_length`` keeps words out
SHORT_PASSWORD = 3
# a key written as a configuration key: DB_PASSWORD, MYSQL_ROOT_PASSWORD, userPassword, db.password, PWD
_PW_CONFIG_KEY_RE = re.compile(r"\w+[_.-][\w.-]*|[a-z]+[A-Z]\w*|[A-Z][A-Z0-9_]+")
_PW_LINE_START_RE = re.compile(r"[ \t]*(?:-[ \t]+)?")
_PW_ENV_FLAG_RE = re.compile(r"(?:^|[ \t])(?:-e|--env)(?:[ \t]+|=)\Z")
# what may follow a value that ends a configuration line: the end of the line, or the next option of a
# command line (docker run -e POSTGRES_PASSWORD=x -d postgres), or a line continuation
_PW_CONFIG_END_RE = re.compile(r"[ \t]*(?:\r?\n|\Z|#|;|,)|[ \t]+(?:--?[A-Za-z]|\\\r?\n)")
# passwords written in other shapes than "key = value"
_PW_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+._-]{1,30}://[^\s:/@'\"<>]{1,64}:([^\s/@'\"<>]{1,128})@(?=[\w\[])")
_PW_DEFINE_RE = re.compile(
    r"(?i)\bdefine[ \t]*\([ \t]*(['\"])\w*pass(?:w(?:or)?d)?\w*\1[ \t]*,[ \t]*(['\"])([^'\"\r\n]{1,200})\2[ \t]*\)")
_PW_XML_RE = re.compile(r"(?i)<(\w*pass(?:w(?:or)?d)?\w*)>[ \t]*([^<\s][^<\r\n]{0,199}?)[ \t]*</\1>")
_PW_MYSQL_RE = re.compile(
    r"(?i)\b(?:mysql\w*|mariadb\w*)\b[^\n]{0,100}?[ \t](?-i:-p)(?:(['\"])([^'\"\r\n]{1,128})\1|([^\s'\"-][^\s'\"]{0,127}))")
# SQL: CREATE USER scott IDENTIFIED BY tiger; ALTER USER x IDENTIFIED BY 'pw' (not IDENTIFIED BY VALUES / EXTERNALLY)
_PW_IDENTIFIED_RE = re.compile(r"(?i)\b(?:user|to|role|login)[ \t]+[^\s;]{1,64}[ \t]+identified[ \t]+by[ \t]+(['\"]?)(?!(?:values|externally|globally|password)\b)"
                               r"([^\s'\";,)]{1,128})\1(?=[\s;,)]|\Z)")
_PW_CURL_RE = re.compile(
    r"(?i)\bcurl\b[^\n]{0,200}?[ \t](?:-u|--user)[ \t]+(['\"]?)[^\s:'\"]{1,64}:([^\s'\"]{1,128})\1(?=[\s;]|\Z)")


def _pw_generic(core: str) -> bool:
    parts = _PW_PART_RE.findall(core)
    if parts and parts[0].lower() == "my" and len(parts) > 1:
        parts = parts[1:]  # my-secret-pw, my_password: the generic words after "my"; my_cool_secret is a value
    return bool(parts) and all(x.lower() in _PW_GENERIC for x in parts) and not re.search(r"\d", core)


def _pw_ok(core: str, minlen: int, loose: bool, config_word: bool = False) -> bool:
    """A password value, not a placeholder, a variable or a word. ``loose``: written unquoted, where
    identifiers and expressions have to be told apart from values. ``config_word``: the value of a
    configuration key that ends its line (MYSQL_PASSWORD=friendica), where a single word is a value."""
    if len(core) < minlen or len(set(core)) < 3:
        return False
    if core.lower() in _PW_STOP or core.lower() in _PW_KIND_WORDS or _PW_PLACEHOLDER_RE.search(core) or _pw_generic(core):
        return False
    if not loose:
        if core.endswith("(") or re.match(r"[+.][ \t]*[A-Za-z_]", core):
            return False  # " Password:"+rs.getString(...: code around a quoted label, not a value
        return not (" " in core and len(core.split()) > 3)  # a quoted sentence, not a password
    if config_word and core.isalpha() and core.islower() and core not in _PW_KIND_WORDS:
        return True  # MYSQL_PASSWORD=friendica, password: petclinic (YAML), userPassword: javadude
    if any(c in core for c in "([{") or core.startswith(("$", "http://", "https://", "/")):
        return False
    if core.isdigit():
        return True  # password=73918264
    classes = sum((any(c.islower() for c in core), any(c.isupper() for c in core), any(c.isdigit() for c in core),
                   any(not c.isalnum() for c in core)))
    if classes < 2:
        return False
    if not any(c.isdigit() or not c.isalnum() for c in core):
        # letters only: a random mixed-case string (mnEFxkagOk), not a word or a CamelCase identifier
        if len(core) < 8 or sum(c.isupper() for c in core) < 2:
            return False
        # getURLForKey splits into pronounceable parts and acronyms; random letters leave a part without a vowel
        parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", core)
        return not all(len(x) <= 1 or x.isupper() or any(c in "aeiouyAEIOUY" for c in x) for x in parts)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+", core):  # self.password, os.environ
        return False
    if re.fullmatch(r"[A-Za-z_.]+", core) and not config_word:  # EXT_PASS, user_name: an identifier, not a value
        return False
    return True


def _passwords(t: str, cfg: PiiConfig, out: list) -> None:
    minlen = cfg.password_min_length
    for m in _PW_KEY_RE.finditer(t):
        ks = m.start()
        while ks > 0 and t[ks - 1] in _KEY_CHARS:
            ks -= 1
        kw_start = m.start()
        word = re.match(r"[A-Za-z_]+", t[kw_start:m.end()]).group().lower()
        if word.startswith(("pass", "pwd", "secret")) and word not in ("passphrase",) and not word.startswith("passw"):
            # "pass", "pwd", "secret": a whole identifier part (db_pass, PWD, secretKey), not "bypass"
            if kw_start > ks:
                prev, cur = t[kw_start - 1], t[kw_start]
                if not (prev in "_.-" or (prev.islower() and cur.isupper())):
                    continue
        in_query = ks > 0 and t[ks - 1] in "?&"
        vm = (_PW_VALUE_RE if in_query else _PW_VALUE_AMP_RE).match(t, m.end())
        if not vm:
            continue
        if vm.group(2) is not None:
            vs, ve = vm.span(2)
            quoted = True
        else:
            vs, ve = vm.span(3)
            quoted = False
        v = t[vs:ve]
        if v.endswith(("...", "…")):
            continue  # whsec_... : a placeholder
        env_flag = (not quoted and _PW_ENV_FLAG_RE.search(t, max(0, ks - 12), ks) is not None
                    and (ve == len(t) or t[ve] in " \t\r\n"))
        if not quoted:
            if not (env_flag or _PW_LINE_END_RE.match(t, ve) or _PW_WORD_AFTER_RE.match(t, ve)):
                continue  # start_user + ulen; an expression, not a value
            v2 = v.rstrip(".!?")
            ve -= len(v) - len(v2)
            v = v2
        config_word = False
        if env_flag:
            config_word = True  # docker run -e POSTGRES_PASSWORD=mysecretpassword postgres: the value ends at the space
        elif not quoted and _PW_CONFIG_END_RE.match(t, ve):
            key = t[ks:m.end()].rstrip(" \t:=>\"'")
            ls = t.rfind("\n", 0, ks) + 1
            # YAML / INI: "password: x" alone on its line; or a configuration-shaped key anywhere
            config_word = (_PW_CONFIG_KEY_RE.fullmatch(key) is not None
                           or (key in ("password", "passwd", "pwd")
                               and _PW_LINE_START_RE.fullmatch(t, ls, ks) is not None))
        assigned = config_word or (quoted and re.search(r"[=:]", t[m.start():vs]) is not None)
        if _pw_ok(v.strip(), min(minlen, SHORT_PASSWORD) if assigned else minlen, loose=not quoted,
                  config_word=config_word):
            out.append(Finding("PASSWORD", vs, ve, v))
    # URL credentials, PHP define(), XML elements, mysql -p / curl -u command lines
    if "://" in t:
        for m in _PW_URL_RE.finditer(t):
            if _pw_ok(m.group(1), min(minlen, SHORT_PASSWORD), loose=False):
                out.append(Finding("PASSWORD", m.start(1), m.end(1), m.group(1)))
    low = None
    for rx, grp, needle in ((_PW_DEFINE_RE, 3, "define"), (_PW_XML_RE, 2, "</"), (_PW_MYSQL_RE, None, "-p"),
                            (_PW_CURL_RE, 2, "curl"), (_PW_IDENTIFIED_RE, 2, "identified")):
        if needle in ("define", "curl", "identified"):
            low = low if low is not None else t.lower()
            if needle not in low:
                continue
        elif needle not in t:
            continue
        for m in rx.finditer(t):
            g = grp if grp is not None else (2 if m.group(2) is not None else 3)
            v = m.group(g)
            if _pw_ok(v.strip(), min(minlen, SHORT_PASSWORD) if needle == "identified" else minlen, loose=False):
                out.append(Finding("PASSWORD", m.start(g), m.end(g), v))


# ==================================================================================================
# detect
# ==================================================================================================


def _resolve(found: list[Finding]) -> list[Finding]:
    """Drop findings that overlap a finding of a higher-priority type (then of an earlier start).

    In O(n log n): findings are taken rank by rank, each by start; the spans kept so far never overlap, so
    a sorted list of them answers "does this one overlap any?" by bisection, and within one rank only the
    last span kept can overlap the next (a text of 100,000 phone numbers took minutes with a pairwise test).
    """
    if len(found) <= 1:
        return found
    found.sort(key=lambda f: (_RANK[f.type], f.start, -(f.end - f.start)))
    kept: list[Finding] = []
    starts: list[int] = []  # kept spans of the ranks done, sorted, not overlapping
    ends: list[int] = []
    i = 0
    n = len(found)
    while i < n:
        rank = _RANK[found[i].type]
        group: list[Finding] = []
        while i < n and _RANK[found[i].type] == rank:
            f = found[i]
            i += 1
            if group and f.start < group[-1].end:
                continue  # overlaps the last one kept of this rank (earlier ones end before it starts)
            j = bisect.bisect_left(starts, f.end)  # kept spans that start before f ends: up to j
            if j and ends[j - 1] > f.start:
                continue
            group.append(f)
        kept += group
        merged = sorted(list(zip(starts, ends)) + [(f.start, f.end) for f in group])
        starts = [a for a, _ in merged]
        ends = [b for _, b in merged]
    kept.sort(key=lambda f: f.start)
    return kept


def detect(text: str | None, config: PiiConfig | None = None) -> list[Finding]:
    """Findings in one string, sorted by start, not overlapping."""
    if not text:
        return []
    cfg = config or _DEFAULT
    return _detect(text, cfg, cfg.detectors)


def _detect(t: str, cfg: PiiConfig, run: frozenset) -> list[Finding]:
    """The matchers of the types in ``run`` (a subset of the enabled ones) over ``t``."""
    out: list[Finding] = []
    if "EMAIL" in run and "@" in t:
        _emails(t, cfg, out)
    if "PHONE" in run:
        _phones(t, cfg, out)
    if "IP_ADDRESS" in run:
        _ips(t, cfg, out)
    if "CREDIT_CARD" in run:
        _cards(t, cfg, out)
    if "IBAN" in run:
        _ibans(t, cfg, out)
    if "US_SSN" in run:
        _ssns(t, cfg, out)
    if not run.isdisjoint(_SECRET_TYPES):
        _secrets(t, run, out)
    if "PASSWORD" in run:
        n = len(out)
        _passwords(t, cfg, out)
        if len(out) > n and "PHONE" in run:  # a password of digits is not a phone number
            pw = [(f.start, f.end) for f in out[n:]]
            out = [f for f in out if f.type != "PHONE" or not any(a <= f.start and f.end <= b for a, b in pw)]
    return _resolve(out)


_SECRET_TYPES = frozenset(("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN",
                           "STRIPE_KEY", "GOOGLE_API_KEY", "PRIVATE_KEY", "JWT"))
#: Matchers whose rows scan_batch routes by their own RE2 pattern; e-mail is gated by a substring
#: test ("@") inside its matcher. Phone numbers are common and get a pass of their own over the
#: candidate rows; the rest are rare, so one pass of their union picks the few rows that need any
#: of them, and their own passes run over those rows only.
_ROUTED = (("PHONE",), ("IP_ADDRESS",), ("CREDIT_CARD",), ("IBAN",), ("US_SSN",), ("PASSWORD",),
           tuple(sorted(_SECRET_TYPES)))


@functools.lru_cache(maxsize=32)
def _routes(cfg: PiiConfig) -> tuple[tuple[str, frozenset], ...]:
    """(RE2 pattern, types its rows run) per routed group of enabled detectors."""
    parts = _prefilter_parts(cfg)
    out = []
    for group in _ROUTED:
        types = frozenset(t for t in group if t in cfg.detectors)
        if types:
            out.append(("|".join(parts[t] for t in group if t in types), types))
    return tuple(out)


def _route_codes(sub: pa.Array, cfg: PiiConfig) -> tuple[np.ndarray, tuple]:
    """Per candidate row, a bit mask over ``_routes(cfg)``: which routed matchers it needs."""
    routes = _routes(cfg)
    code = np.zeros(len(sub), np.int64)

    def mask(arr, pattern):
        m = pc.match_substring_regex(arr, pattern)
        return (m.fill_null(False) if m.null_count else m).to_numpy(zero_copy_only=False)

    common = [i for i, (_, types) in enumerate(routes) if "PHONE" in types]
    rare = [i for i in range(len(routes)) if i not in common]
    for i in common:
        code |= mask(sub, routes[i][0]).astype(np.int64) << i
    if rare:
        if len(rare) == 1:
            code |= mask(sub, routes[rare[0]][0]).astype(np.int64) << rare[0]
        else:
            hit = np.flatnonzero(mask(sub, "|".join(routes[i][0] for i in rare)))
            if len(hit):
                few = sub.take(pa.array(hit, pa.int64()))
                for i in rare:
                    code[hit] |= mask(few, routes[i][0]).astype(np.int64) << i
    return code, routes


# ==================================================================================================
# Hashing
# ==================================================================================================

_NONDIGIT = re.compile(r"\D")


def normalise(type_: str, value: str) -> str:
    """The form a value is hashed in (see the module docstring)."""
    if type_ == "EMAIL":
        v = value.lower()
        if not v.isascii() and "@" in v:
            local, _, dom = v.rpartition("@")
            try:
                v = local + "@" + dom.encode("idna").decode("ascii")
            except UnicodeError:
                pass
        return v
    if type_ == "PHONE":
        v = _EXT_RE.sub("", value).strip()
        if re.search(r"[A-Z]", v):  # vanity: letters to keypad digits
            v = v.translate(_KEYPAD)
        plus = v.startswith("+")
        v = v.replace("(0)", "") if plus or re.match(r"\d{1,3}[ .-]?\(0\)", v) else v
        d = _NONDIGIT.sub("", v)
        if plus:
            return "+" + d
        if d.startswith("011"):
            return "+" + d[3:]
        if d.startswith("00"):
            return "+" + d[2:]
        if re.match(r"\d{1,3}[ .-]?\(0\)", value.strip()):
            return "+" + d
        if len(d) == 10 and d[0] in "23456789" and not d.startswith("0"):
            return "+1" + d
        if len(d) == 11 and d[0] == "1":
            return "+" + d
        return d
    if type_ in ("CREDIT_CARD", "US_SSN"):
        return _NONDIGIT.sub("", value)
    if type_ == "IBAN":
        return value.replace(" ", "").upper()
    if type_ == "IP_ADDRESS":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value.lower()
    if type_ == "PRIVATE_KEY":
        return "".join(value.split())
    return value


_KEYPAD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "22233344455566677778889999")


def _key(salt: bytes) -> bytes:
    return salt if len(salt) <= 64 else hashlib.blake2b(salt).digest()


#: how finding values are hashed: HMAC-SHA256 with a key kept outside the ledger (pii_key.py), or, for
#: ledgers made before that, blake2b keyed by a salt stored in the ledger itself ("legacy": whoever holds such
#: a ledger can confirm guessed values)
SCHEMES = ("hmac-sha256", "legacy")


def _hasher(key: bytes, scheme: str, hex_chars: int):
    if scheme == "legacy":
        k, size = _key(key), (hex_chars + 1) // 2
        return lambda msg: hashlib.blake2b(msg, key=k, digest_size=size).hexdigest()[:hex_chars]
    if scheme != "hmac-sha256":
        raise ValueError(f"unknown PII hash scheme {scheme!r}")
    base = hmac.new(key, digestmod=hashlib.sha256)

    def h(msg: bytes) -> str:
        m = base.copy()
        m.update(msg)
        return m.hexdigest()[:hex_chars]

    return h


def hash_value(type_: str, value: str, salt: bytes, hex_chars: int = 16, scheme: str = "hmac-sha256") -> str:
    """Hex of HMAC-SHA256(key=``salt``, normalised value) (or the legacy blake2b), ``hex_chars`` long."""
    return _hasher(salt, scheme, hex_chars)(normalise(type_, value).encode("utf-8"))


# ==================================================================================================
# scan_batch
# ==================================================================================================


def _column(batch_or_table, name: str) -> pa.Array:
    col = batch_or_table.column(name) if not isinstance(batch_or_table, (pa.Array, pa.ChunkedArray)) else batch_or_table
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_large_string(col.type) or pa.types.is_string(col.type):
        return col
    return col.cast(pa.large_string() if pa.types.is_large_binary(col.type) else pa.string())


def candidate_rows(arr: pa.Array, config: PiiConfig | None = None) -> np.ndarray:
    """Indices of rows the RE2 prefilter selects (the only rows the Python matchers see)."""
    cfg = config or _DEFAULT
    if not cfg.detectors or len(arr) == 0:
        return np.zeros(0, np.int64)
    mask = pc.match_substring_regex(arr, prefilter_pattern(cfg))
    mask = mask.fill_null(False) if mask.null_count else mask
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def scan_batch(
    batch_or_table: pa.RecordBatch | pa.Table,
    config: PiiConfig | None = None,
    salt: bytes = b"",
    text_column: str = "text",
    keep_values: bool = False,
    scheme: str = "hmac-sha256",
) -> tuple[pa.StructArray, pa.ListArray]:
    """Per row: (counts, findings).

    ``counts`` is a ``COUNTS_TYPE`` struct array: one int32 field per type in ``TYPES`` order, the
    number of findings of that type in the row, null for types whose detector is off.
    ``findings`` is a ``FINDINGS_TYPE`` list array: list<struct<type: string, start: int64, end: int64,
    hash: string, value: string>>, sorted by start; ``value`` is null unless ``keep_values``.
    Null or empty texts give zero counts and an empty list. Offsets are Python str indices."""
    cfg = config or _DEFAULT
    arr = _column(batch_or_table, text_column)
    n = len(arr)
    idx = candidate_rows(arr, cfg)
    sub = arr.take(pa.array(idx, pa.int64())) if len(idx) else None
    texts = sub.to_pylist() if sub is not None else []
    # route each candidate row to the matchers whose own RE2 part it matches (passes over `sub` only)
    code, routes = _route_codes(sub, cfg) if sub is not None else (np.zeros(0, np.int64), _routes(cfg))
    always = frozenset(t for t in cfg.detectors if not any(t in types for _, types in routes))
    route_sets: dict[int, frozenset] = {}
    counts = {t: np.zeros(n, np.int32) for t in TYPES if t in cfg.detectors}
    lengths = np.zeros(n, np.int64)
    f_type: list[str] = []
    f_start: list[int] = []
    f_end: list[int] = []
    f_hash: list[str] = []
    f_value: list[str | None] = []
    digest = _hasher(salt, scheme, cfg.hash_hex_chars)
    for row, text, c in zip(idx.tolist(), texts, code.tolist()):
        run = route_sets.get(c)
        if run is None:
            run = route_sets[c] = always.union(*(types for bit, (_, types) in enumerate(routes) if c >> bit & 1))
        found = _detect(text, cfg, run) if text else []
        if not found:
            continue
        lengths[row] = len(found)
        for f in found:
            counts[f.type][row] += 1
            f_type.append(f.type)
            f_start.append(f.start)
            f_end.append(f.end)
            f_hash.append(digest(normalise(f.type, f.value).encode("utf-8")))
            f_value.append(f.value if keep_values else None)
    fields = []
    for t in TYPES:
        if t in counts:
            fields.append(pa.array(counts[t], pa.int32()))
        else:
            fields.append(pa.nulls(n, pa.int32()))
    counts_arr = pa.StructArray.from_arrays(fields, fields=list(COUNTS_TYPE))
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = pa.StructArray.from_arrays(
        [pa.array(f_type, pa.string()), pa.array(f_start, pa.int64()), pa.array(f_end, pa.int64()),
         pa.array(f_hash, pa.string()), pa.array(f_value, pa.string())],
        fields=list(FINDING_TYPE),
    )
    findings_arr = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=FINDINGS_TYPE)
    return counts_arr, findings_arr


# ==================================================================================================
# Redaction
# ==================================================================================================

_FIRST = ["alex", "sam", "jordan", "taylor", "morgan", "casey", "riley", "jamie", "robin", "avery", "quinn", "drew"]
_LAST = ["smith", "jones", "garcia", "miller", "davis", "martin", "lee", "walker", "hall", "young", "king", "wright"]
_B62 = string.ascii_letters + string.digits
_B64 = _B62 + "+/"


def _rng(h: str) -> random.Random:
    return random.Random(int(h, 16) if h and all(c in string.hexdigits for c in h) else h)


def _digits_like(rng: random.Random, s: str, keep: int = 0) -> str:
    """Replace the digits of ``s`` after the first ``keep`` ones, keeping everything else."""
    out, seen = [], 0
    for c in s:
        if c.isdigit():
            out.append(c if seen < keep else str(rng.randrange(10)))
            seen += 1
        else:
            out.append(c)
    return "".join(out)


def _fill_layout(original: str, digits: str) -> str:
    it = iter(digits)
    return "".join(next(it) if c.isdigit() else c for c in original)


def _fake(type_: str, original: str, h: str) -> str:
    rng = _rng(h)
    if type_ == "EMAIL":
        return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(10, 1000)}@example.com"
    if type_ == "PHONE":
        v = original.translate(_KEYPAD) if re.search(r"[A-Z]", original) else original
        keep = 0
        if v.startswith("+") or v.startswith("00"):
            d = _NONDIGIT.sub("", v)
            d = d[3:] if d.startswith("011") else d[2:] if d.startswith("00") else d
            sp = _cc_split(d)
            keep = (len(_NONDIGIT.sub("", v)) - len(d)) + (len(sp[0]) if sp else 0)
        elif v.startswith("0") or v.startswith("(0"):
            keep = 1
        return _digits_like(rng, v, keep)
    if type_ == "IP_ADDRESS":
        if ":" in original:
            return f"2001:db8::{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}"
        net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
        return f"{net}.{rng.randrange(1, 255)}"
    if type_ == "CREDIT_CARD":
        d = _NONDIGIT.sub("", original)
        brand = card_brand(d) or "visa"
        prefix = _FAKE_CARD_PREFIX[brand]
        if brand == "mastercard":
            prefix = str(rng.randrange(51, 56))
        body = prefix + "".join(str(rng.randrange(10)) for _ in range(len(d) - len(prefix) - 1))
        return _fill_layout(original, body + _luhn_digit(body))
    if type_ == "IBAN":
        s = original.replace(" ", "").upper()
        cc = s[:2]
        bban = "".join(str(rng.randrange(10)) if c.isdigit() else rng.choice(string.ascii_uppercase) for c in s[4:])
        check = 98 - _iban_mod97(cc + "00" + bban)
        fake = f"{cc}{check:02d}{bban}"
        out, it = [], iter(fake)
        for c in original:
            out.append(c if c == " " else next(it))
        return "".join(out)
    if type_ == "US_SSN":
        area = str(rng.randrange(900, 1000))
        group = f"{rng.randrange(1, 50):02d}"
        serial = f"{rng.randrange(1, 10000):04d}"
        return _fill_layout(original, area + group + serial)
    if type_ == "AWS_ACCESS_KEY":
        return original[:4] + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
    if type_ == "PRIVATE_KEY":
        m = _PK_BEGIN_RE.match(original)
        head = m.group() if m else ""
        tail_at = original.rfind("-----END ")
        tail = original[tail_at:] if tail_at > 0 else ""
        body = original[len(head): len(original) - len(tail)]
        body = "".join(rng.choice(_B64) if (c.isalnum() or c in "+/") else c for c in body)
        return head + body + tail
    if type_ == "JWT":
        def b64(obj):
            return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()

        sig = "".join(rng.choice(_B62 + "-_") for _ in range(43))
        return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': h[:16] or 'redacted'})}.{sig}"
    # tokens and passwords: keep a known prefix, same length and alphabet
    prefix = ""
    for p in ("github_pat_", "ghp_", "gho_", "ghs_", "ghu_", "ghr_", "glpat-", "sk_live_", "rk_live_", "AIza"):
        if original.startswith(p):
            prefix = p
            break
    if type_ == "SLACK_TOKEN":
        prefix = original[:5]
    out = [prefix]
    for c in original[len(prefix):]:
        if c.isdigit():
            out.append(str(rng.randrange(10)))
        elif c.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        elif c.islower():
            out.append(rng.choice(string.ascii_lowercase))
        else:
            out.append(c)
    return "".join(out)


def _as_tuple(f) -> tuple[str, int, int, str | None]:
    if isinstance(f, dict):
        return f["type"], f["start"], f["end"], f.get("hash")
    return f.type, f.start, f.end, getattr(f, "hash", None)


def redact(text: str, findings: Iterable, style: str = "placeholder", salt: bytes = b"", hex_chars: int = 16) -> str:
    """``text`` with each finding replaced: ``<TYPE>`` (style "placeholder") or a format-preserving fake
    that is a function of the finding's hash (style "fake": the same value gives the same fake).

    ``findings`` are :class:`Finding` objects or dicts with type/start/end (and hash, as in a row of
    ``scan_batch``'s findings column); without a hash one is computed with ``salt``. Overlapping or
    out-of-range findings are skipped; the text is rebuilt left to right so offsets are those of ``text``."""
    if style not in ("placeholder", "fake"):
        raise ValueError(f"style must be 'placeholder' or 'fake', not {style!r}")
    items = sorted((_as_tuple(f) for f in findings), key=lambda x: (x[1], x[2]))
    if not items:
        return text
    parts = []
    pos = 0
    for typ, s, e, h in items:
        if s < pos or e > len(text) or s >= e:
            continue
        parts.append(text[pos:s])
        if style == "placeholder":
            parts.append(f"<{typ}>")
        else:
            original = text[s:e]
            parts.append(_fake(typ, original, h or hash_value(typ, original, salt, hex_chars)))
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def redact_batch(text_array, findings_array, style: str = "placeholder", salt: bytes = b"") -> pa.Array:
    """Columnar :func:`redact`: the text column with every row's findings replaced. Rows without
    findings are taken as they are (no Python conversion); the result has the text column's type."""
    if isinstance(text_array, pa.ChunkedArray):
        text_array = text_array.combine_chunks()
    if isinstance(findings_array, pa.ChunkedArray):
        findings_array = findings_array.combine_chunks()
    if not (pa.types.is_string(text_array.type) or pa.types.is_large_string(text_array.type)):
        text_array = text_array.cast(pa.string())
    if len(text_array) != len(findings_array):
        raise ValueError("text and findings arrays differ in length")
    lengths = pc.list_value_length(findings_array).fill_null(0).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(lengths)
    if len(rows) == 0:
        return text_array
    take = pa.array(rows, pa.int64())
    texts = text_array.take(take).to_pylist()
    fs = findings_array.take(take).to_pylist()
    new = [redact(t, f, style, salt) if t is not None else None for t, f in zip(texts, fs)]
    full = [None] * len(text_array)
    for r, v in zip(rows.tolist(), new):
        full[r] = v
    mask = np.zeros(len(text_array), bool)
    mask[rows] = True
    return pc.if_else(pa.array(mask), pa.array(full, text_array.type), text_array)
