"""License notices in documents (web pages and source code), columnar over Arrow, as SPDX ids.

Three kinds of finding:

* ``cc``        Creative Commons: ``creativecommons.org/licenses/...`` and ``/publicdomain/...`` URLs (with
                version and jurisdiction port), ``rel="license"`` links, and phrases ("Creative Commons
                Attribution-ShareAlike 4.0 International", "CC BY-NC-SA 4.0", "CC-BY 4.0", "CC0").
* ``spdx-tag``  ``SPDX-License-Identifier: <expression>``; ``spdx`` is the expression as written.
* ``notice``    license headers and license texts recognised by distinctive key phrases, matched over a
                normalised token stream (lower case, punctuation and comment markers dropped), so ``//``,
                ``#``, `` * `` and line wrapping do not matter.

``scan_batch`` runs one RE2 prefilter (``pyarrow.compute.match_substring_regex``) over the column(s)
and the precise Python matchers only on candidate rows. Every precise matcher needs text that the
prefilter pattern matches (each contains one of its anchors), so the prefilter loses nothing.

``detect`` also gives each finding ``where`` (rel-license, meta, footer, inline, credit, code) and a
``confidence``; ``primary_license`` takes the page's own declaration by them (credits and code blocks
never decide it), and "All rights reserved" becomes ``LicenseRef-All-Rights-Reserved`` when the page
declares nothing more specific. ``LICENSE_TYPE`` does not carry the two fields; the ledger stores them
(migration 0009): ``provenance.scanners.license`` keeps them in each stored finding and gives each document
the place and confidence of its primary license (``license_where``, ``license_confidence``).

Offsets are Python ``str`` indices into the text column. Findings that come only from the HTML column
(when a text column is present too) carry null offsets; when there is no text column they refer to
the HTML.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["LICENSE_TYPE", "FINDING_TYPE", "PREFILTER", "SUPPORTED_IDS", "INVALID_TAG", "scan_batch", "detect",
           "primary_license", "valid_spdx_expression", "scan_batch_primary", "scan_batch_findings", "ALL_RIGHTS_RESERVED",
           "WHERE_RANK", "CONFIDENCE"]

FINDING_TYPE = pa.struct(
    [
        ("spdx", pa.string()),
        ("kind", pa.string()),
        ("port", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("evidence", pa.string()),
    ]
)
LICENSE_TYPE = pa.list_(FINDING_TYPE)

EVIDENCE_MAX = 200

# --------------------------------------------------------------------------------------------------
# Prefilter (RE2 syntax, used with ignore_case). Every precise matcher below requires one of these.
PREFILTER = (
    r"licen[cs]|creative ?commons|spdx|hereby granted|redistribution and use|unencumbered"
    r"|\bcc[ _-]?(?:by|0)\b|gpl|public ?domain|sspl|rsal|busl|\bbsl[ _-]?v?1|polyform|commons clause|redistribute it freely"
    r"|good and not evil|rights reserved|rechte vorbehalten|droits r[ée]serv|derechos reservados|diritti riservati"
)

# --------------------------------------------------------------------------------------------------
# Creative Commons

# SPDX ids of ported CC licenses (from the SPDX license list).
_CC_PORTED = {
    "CC-BY-2.5-AU", "CC-BY-3.0-AT", "CC-BY-3.0-AU", "CC-BY-3.0-DE", "CC-BY-3.0-IGO", "CC-BY-3.0-NL",
    "CC-BY-3.0-US", "CC-BY-NC-3.0-DE", "CC-BY-NC-ND-3.0-DE", "CC-BY-NC-ND-3.0-IGO", "CC-BY-NC-SA-2.0-DE",
    "CC-BY-NC-SA-2.0-FR", "CC-BY-NC-SA-2.0-UK", "CC-BY-NC-SA-3.0-DE", "CC-BY-NC-SA-3.0-IGO",
    "CC-BY-ND-3.0-DE", "CC-BY-SA-2.0-UK", "CC-BY-SA-2.1-JP", "CC-BY-SA-3.0-AT", "CC-BY-SA-3.0-DE",
    "CC-BY-SA-3.0-IGO",
}
_CC_VERSIONS = {"1.0", "2.0", "2.1", "2.5", "3.0", "4.0"}
# Elements as they appear in URL paths / abbreviations -> canonical SPDX element order.
_CC_ELEMENTS = {
    "by": "BY", "by-sa": "BY-SA", "by-nd": "BY-ND", "by-nc": "BY-NC", "by-nc-sa": "BY-NC-SA",
    "by-nc-nd": "BY-NC-ND", "by-nd-nc": "BY-NC-ND", "by-sa-nc": "BY-NC-SA", "by-nd-sa": None,
}

_CC_URL_RE = re.compile(
    r"creativecommons\.org/licen[sc]es/(by(?:-(?:nc|nd|sa)){0,2})/(\d\.\d)"
    r"(?:/([a-z]{2,3}(?:[-_][a-z]{2})?|igo|scotland)(?=[/\"'\s<>#?)\].,;]|$))?",
    re.I,
)
_CC_PD_RE = re.compile(r"creativecommons\.org/publicdomain/(zero|mark)/1\.0", re.I)
_REL_LICENSE_RE = re.compile(r"""<(?:a|link)\b[^>]{0,400}?\brel\s*=\s*["']?license\b[^>]{0,400}>""", re.I)
_HREF_RE = re.compile(r"""\bhref\s*=\s*["']?([^"'\s>]+)""", re.I)


def _cc_id(elements: str, version: str, port: str | None) -> tuple[str | None, str | None]:
    """SPDX id and leftover port for CC elements like ``by-nc-sa``, version ``3.0``, port ``de``."""
    el = _CC_ELEMENTS.get(elements.lower())
    if el is None or version not in _CC_VERSIONS:
        return None, None
    base = f"CC-{el}-{version}"
    if port:
        p = port.upper().replace("_", "-")
        if p == "GB":
            p = "UK"
        ported = f"{base}-{p}"
        if ported in _CC_PORTED:
            return ported, p
        if version == "2.1":  # 2.1 exists only as ports (JP); no unported SPDX id
            return None, None
        return base, p
    if version == "2.1":
        return None, None
    return base, None


# --------------------------------------------------------------------------------------------------
# SPDX tags

_SPDX_TAG_RE = re.compile(r"SPDX-License-Identifier\s*:\s*([^\r\n]*)", re.I)
_TAG_END_RE = re.compile(r"\s*(?:\*/|-->|\*\)|-\}|\"\"\"|''').*$")
_SPDX_EXPR_OK = re.compile(r"^[A-Za-z0-9().+: -]+$")
INVALID_TAG = "LicenseRef-invalid"  # an SPDX-License-Identifier whose value is not an SPDX expression
_SPDX_LEX = re.compile(r"\s*(?:(\()|(\))|(AND|OR|WITH)(?![A-Za-z0-9.+:-])|((?:DocumentRef-[A-Za-z0-9.-]+:)?[A-Za-z0-9][A-Za-z0-9.-]*\+?))",
                       re.I)


def valid_spdx_expression(expr: str) -> bool:
    """SPDX license-expression syntax: ids (``LicenseRef-*`` included) joined by AND / OR / WITH, with
    parentheses. Only the syntax is checked: ``BSD 3-Clause`` (two ids side by side) is invalid."""
    pos, depth, want_id, n = 0, 0, True, 0
    while pos < len(expr):
        m = _SPDX_LEX.match(expr, pos)
        if not m or m.end() == pos:
            return expr[pos:].strip() == "" and not want_id and depth == 0
        pos = m.end()
        if m.group(1):
            if not want_id:
                return False
            depth += 1
        elif m.group(2):
            if want_id or depth == 0:
                return False
            depth -= 1
        elif m.group(3):
            if want_id:
                return False
            want_id = True
        else:
            if not want_id:
                return False
            want_id = False
            n += 1
    return n > 0 and not want_id and depth == 0

# --------------------------------------------------------------------------------------------------
# Normalised token stream for notices: lower-case alphanumeric tokens (a trailing "+" kept).

_TOKEN_RE = re.compile(r"[a-z0-9]+\+?")
# a word hyphenated at a line end, the next line starting with comment markers / indentation
_HYPHEN_BREAK_RE = re.compile(r"[a-z]-[ \t]*\r?\n[ \t]*(?:(?://|/\*|\*|#|;+|--|!|%|rem\b)[ \t]*)?[a-z]")
_HYPHEN_BREAK_AT = re.compile(r"-[ \t]*\r?\n[ \t]*(?:(?://|/\*|\*|#|;+|--|!|%|rem\b)[ \t]*)?(?=[a-z])")


class _Norm:
    """Lower-case alphanumeric tokens joined by single spaces; offsets back to the original text are
    built only when a match needs them."""

    __slots__ = ("src", "text", "_low", "_tok_starts", "_tok_ends", "_norm_starts")

    def __init__(self, text: str):
        self.src = text
        self._low = text.lower()
        self._tok_starts = None
        if _HYPHEN_BREAK_RE.search(self._low):
            self._join_broken_words()
        else:
            self.text = " ".join(_TOKEN_RE.findall(self._low))

    def _join_broken_words(self):
        """A word hyphenated across a line break ("Li-\\n * cense", comment markers and indentation in
        between) is one token. Rare, so this path tokenises in Python with explicit offsets."""
        starts, ends, toks = [], [], []
        prev_join = False
        for m in _TOKEN_RE.finditer(self._low):
            tok = m.group(0)
            if prev_join and toks and tok.isalpha():
                toks[-1] += tok
                ends[-1] = m.end()
            else:
                starts.append(m.start())
                ends.append(m.end())
                toks.append(tok)
            nxt = _HYPHEN_BREAK_AT.match(self._low, m.end())
            prev_join = bool(nxt) and tok.isalpha()
        self.text = " ".join(toks)
        st = np.asarray(starts, dtype=np.int64)
        en = np.asarray(ends, dtype=np.int64)
        ns = np.zeros(len(toks), dtype=np.int64)
        if len(toks) > 1:
            ns[1:] = np.cumsum(np.fromiter((len(t) + 1 for t in toks), dtype=np.int64, count=len(toks)))[:-1]
        self._tok_starts, self._tok_ends, self._norm_starts = st, en, ns

    def _index(self):
        """Token offsets of ``_TOKEN_RE`` over the lower-cased text, vectorised (numpy over the code points):
        a Python loop over every token cost half of the detector's time on long pages."""
        cp = np.frombuffer(self._low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        isal = ((cp >= 97) & (cp <= 122)) | ((cp >= 48) & (cp <= 57))
        d = np.diff(isal.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        inside = ends < len(cp)
        plus = np.zeros(len(ends), dtype=np.int64)
        plus[inside] = cp[ends[inside]] == 43  # a "+" right after a token belongs to it ("gpl2+")
        ends = ends + plus
        norm_starts = np.zeros(len(starts), dtype=np.int64)
        if len(starts) > 1:
            norm_starts[1:] = np.cumsum(ends - starts + 1)[:-1]
        self._tok_starts, self._tok_ends, self._norm_starts = starts, ends, norm_starts

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Original [start, end) of normalised [a, b)."""
        if self._tok_starts is None:
            self._index()
        i, j = np.searchsorted(self._norm_starts, [a, max(a, b - 1)], side="right") - 1
        return int(self._tok_starts[max(i, 0)]), int(self._tok_ends[max(j, 0)])


_L = r"licen[cs]e"
_VER = r"(?:version|ver|v)? ?v?(\d)(?: (\d))?(\+)?"
_LATER = (
    r"(?:\+|or (?:at your option )?(?:any )?(?:later|newer|greater|higher)(?: version)?"
    r"|or (?:at your option )?any later version|and (?:any )?later(?: versions?)?|or later)"
)

# GNU family names (normalised) -> family
_GNU_FAMILY = (
    r"(?:gnu )?(?P<fam>general|lesser general|library general|lesser|library|affero general|affero) public " + _L
)
_FAMILY_MAP = {
    "general": "GPL", "lesser general": "LGPL", "lesser": "LGPL", "library general": "LGPL", "library": "LGPL",
    "affero general": "AGPL", "affero": "AGPL",
}
_FAM_VERSIONS = {"GPL": {"2.0", "3.0"}, "LGPL": {"2.0", "2.1", "3.0"}, "AGPL": {"3.0"}}

# "... under the terms of the GNU General Public License as published by the FSF; either version 2 ..."
_GNU_LONG_RE = re.compile(
    r"\b(?:under|terms of|subject to|covered by|governed by|licensed by|approved) (?:the )?(?:terms (?:and conditions )?of )?(?:the )?(?:open source )?" + _GNU_FAMILY
)
# Full license texts: "GNU GENERAL PUBLIC LICENSE Version 2, June 1991"
_GNU_TEXT_RE = re.compile(
    r"\bgnu (?P<fam>general|lesser general|library general|affero general) public licen[cs]e "
    r"version (?P<v>2|2 1|3) (?:june 1991|february 1999|29 june 2007|19 november 2007)\b"
)
# "under version 2 of the GNU General Public License"
_GNU_VFIRST_RE = re.compile(
    r"\b(?:under|terms of) (?:the )?(?:terms of )?(?:the )?version (\d)(?: (\d))?(\+)?"
    r"(?: only| or (?:at your option )?(?:any )?(?:later|newer)(?: version)?| or later)? of the " + _GNU_FAMILY
)
# Short forms: GPLv2+, GNU GPL v3, LGPL-2.1-or-later, AGPLv3 (need a licensing lead-in)
_GNU_SHORT_RE = re.compile(
    r"\b(?:under|licensed|released|distributed|available|covered by|licen[cs]e is|governed by)"
    r"(?: (?:the|a|an|terms|of|gnu|to|is|as|under|software|program|code|copyleft|this|file)){0,5} "
    r"(?:gnu )?(?P<fam>a|l|affero |lesser )?gpl ?(?:v|version )?(?P<v1>\d)(?: (?P<v2>\d))?(?P<plus>\+)?"
    r"(?: (?P<later>only|or later|or newer|or higher|or greater|or any later version|or at your option any later version))?(?= |$)"
)
# gplv2+ written as a single token after the lead-in, e.g. "Released under the GNU GPLv2+"
_GNU_SHORT2_RE = re.compile(
    r"\b(?:under|licensed|released|distributed|available|covered by|licen[cs]e is|governed by)"
    r"(?: (?:the|a|an|terms|of|gnu|to|is|as|under|this)){0,5} (?:gnu )?(?P<fam>a|l|affero |lesser )?gplv(?P<v1>\d)(?P<v2>\d)?(?P<plus>\+)?"
    r"(?: (?P<later>only|or later|or newer|or higher|or greater|or any later version))?(?= |$)"
)

# Named variants of the 3-clause BSD license that are other licenses ("BSD 3-clause License w/nuclear
# disclaimer", "BSD 3-Clause Clear", "BSD 3-Clause Open MPI variant"): a lookahead after "bsd 3 clause"
_BSD3_VARIANT = r" (?:licen[cs]e )?(?:w |with |no )?(?:nuclear|clear|open mpi|military|attribution|lbnl|modification)\b"

# (id, a literal the pattern needs (or a tuple: one of them), pattern)
_NOTICE_PATTERNS: list[tuple[str, str | tuple[str, ...], re.Pattern]] = [
    # Apache
    ("Apache-2.0", "apache", re.compile(r"\bapache (?:software )?" + _L + r" (?:version |ver |v ?)?2(?: 0)?\b(?! \d)")),
    ("Apache-2.0", "apache", re.compile(r"\b(?:under|licensed|" + _L + r") (?:the )?(?:terms of )?(?:the )?apache (?:v )?2 0(?: " + _L + r")?\b")),
    ("Apache-2.0", "apache", re.compile(r"\bapache org licenses license 2 0\b")),
    ("Apache-2.0", "asl", re.compile(r"\b(?:licen[cs]e|licensed|under) (?:the )?asl (?:v )?2 0\b")),
    # MPL
    ("MPL-2.0", "mozilla", re.compile(r"\bmozilla public " + _L + r" (?:v ?|version |ver )?2 0\b")),
    ("MPL-2.0", "mozilla", re.compile(r"\bmozilla org mpl 2 0\b")),
    ("MPL-2.0", "mpl", re.compile(r"\b(?:under|licensed|" + _L + r") (?:the )?(?:terms of )?(?:the )?mpl (?:v )?2 0\b")),
    # EPL
    ("EPL-2.0", "eclipse", re.compile(r"\beclipse public " + _L + r" (?:v ?|version |ver )?2 0\b")),
    ("EPL-2.0", "eclipse", re.compile(r"\beclipse org legal epl 2 0\b")),
    ("EPL-2.0", "epl", re.compile(r"\b(?:under|licensed|" + _L + r") (?:the )?(?:terms of )?(?:the )?epl (?:v )?2 0\b")),
    # Unlicense
    ("Unlicense", "unencumbered", re.compile(r"\bthis is free and unencumbered software released into the public domain\b")),
    ("Unlicense", "unlicense", re.compile(r"\bunlicense org\b")),
    ("Unlicense", "unlicense", re.compile(r"\b(?:under|licensed|released|" + _L + r") (?:the )?(?:terms of )?(?:the )?unlicense\b")),
    # curl
    ("curl", "curl", re.compile(r"\bcurl (?:haxx )?se docs copyright\b")),
    ("curl", "noninfringement of third party", re.compile(
        r"\bpermission to use copy modify and distribute this software for any purpose with or without fee is hereby "
        r"granted provided that the above copyright notice and this permission notice appear in all copies the software "
        r"is provided as is without warranty of any kind express or implied including but not limited to the "
        r"warranties of merchantability fitness for a particular purpose and noninfringement of third party rights\b")),
    # ISC
    ("ISC", "permission to use", re.compile(
        r"\bpermission to use copy modify and(?: or)? distribute this software for any purpose with or without fee is "
        r"hereby granted provided that the above copyright notice and this permission notice appear in all copies "
        r"(?:the software is provided as is and )?(?:the )?(?:author|authors|isc|internet systems consortium)\b.{0,40}?"
        r"disclaims? all warranties\b")),
    ("ISC", "isc", re.compile(r"\b(?:under|licensed|" + _L + r") (?:the )?(?:terms of )?(?:the )?isc " + _L + r"\b")),
    ("ISC", "isc", re.compile(r"\bopensource org licenses isc\b")),
    # MIT
    ("MIT", "permission is hereby granted", re.compile(
        r"\bpermission is hereby granted free of charge to any person obtaining a copy of this software(?: and "
        r"associated documentation files)?\b.{0,900}?\bthe above copyright notice and this permission notice shall be "
        r"included in all copies or substantial portions of the software\b")),
    ("MIT", ("mit licen", "expat licen"), re.compile(
        r"\b(?:under|licensed|released|distributed|available|governed by|covered by|terms of|" + _L + r")"
        r"(?: (?:the|terms|of|an|a|open|source)){0,4} (?:mit|expat)(?: expat)? " + _L + r"\b")),
    ("MIT", "mit", re.compile(r"\b(?:licensed|released|distributed|available|" + _L + r") (?:under )?mit\b(?! (?:press|university|institute|media|technology|computer))")),
    ("MIT", "opensource org", re.compile(r"\bopensource org licenses mit\b")),
    ("MIT", "mit", re.compile(r"\b(?:dual|multi|double|triple) ?licen[cs]ed (?:under |as )?(?:the |either )?(?:terms of )?(?:the )?"
                       r"(?:mit|mit licen[cs]e) (?:and|or)\b")),
    ("MIT", "mit", re.compile(r"\b(?:dual|multi|double|triple) ?licen[cs]ed (?:under |as )?(?:the |either )?(?:terms of )?(?:the )?"
                       r"[a-z0-9 ]{1,40}? (?:and|or) (?:the )?mit licen[cs]es?\b")),
    # BSD by its clauses (decided in _bsd), and by name
    ("BSD-3-Clause", "bsd", re.compile(
        r"\b(?:under|licensed|" + _L + r")(?: (?:the|terms|of|a)){0,3} "
        r"(?:new|modified|revised|3 clause|three clause) bsd " + _L + r"\b")),
    ("BSD-3-Clause", "bsd", re.compile(r"\bbsd 3 clause\b(?!" + _BSD3_VARIANT + ")")),
    ("BSD-2-Clause", "bsd", re.compile(
        r"\b(?:under|licensed|" + _L + r")(?: (?:the|terms|of|a)){0,3} "
        r"(?:simplified|2 clause|two clause) bsd " + _L + r"\b")),
    ("BSD-2-Clause", "bsd", re.compile(r"\bbsd 2 clause\b")),
]

# A licensing lead-in a few filler words before a license name ("licensed under your choice of the ...").
_LEAD = (
    r"\b(?:under|licensed|licenced|released|distributed|available|governed by|covered by|subject to|terms of"
    r"|choice of|licen[cs]e is|licen[cs]ed as)(?: (?:the|a|an|terms|of|your|choice|either|this|is|to|as|under|and"
    r"|conditions|following|same|its|our))"r"{0,5} "
)

# Source-available licenses (ids as SPDX has them, else ScanCode's LicenseRef-scancode-* keys).
RSAL2 = "LicenseRef-scancode-rsalv2"
RSAL1 = "LicenseRef-scancode-redis-source-available-1.0"  # "Redis Source Available License Agreement" (2019)
ELASTIC_2018 = "LicenseRef-scancode-elastic-license-2018"  # the Elastic License before 2.0 (x-pack, 2018-2021)
_POLYFORM = {
    "noncommercial": "PolyForm-Noncommercial-1.0.0", "small business": "PolyForm-Small-Business-1.0.0",
    "shield": "LicenseRef-scancode-polyform-shield-1.0.0", "strict": "LicenseRef-scancode-polyform-strict-1.0.0",
    "internal use": "LicenseRef-scancode-polyform-internal-use-1.0.0",
    "free trial": "LicenseRef-scancode-polyform-free-trial-1.0.0",
    "perimeter": "LicenseRef-scancode-polyform-perimeter-1.0.0",
    "defensive": "LicenseRef-scancode-polyform-defensive-1.0.0",
}
_POLYFORM_RE = re.compile(
    r"\bpolyform (noncommercial|non commercial|small business|shield|strict|internal use|free trial|perimeter|defensive)"
    r"(?: " + _L + r"(?: (?:version |v ?)?1 0 0)?\b| 1 0 0\b)"
    r"|\bpolyformproject org licenses (noncommercial|small business|shield|strict|internal use|free trial|perimeter|defensive)\b"
)
_SSPL_SHORT = r"(?:sspl(?:v1| v1| 1 0| 1| version 1)?)"
_RSAL_SHORT = r"(?:rsal ?v2|rsal 2 0|rsal version 2|rsal 2)"

_NOTICE_PATTERNS += [
    # SSPL (MongoDB's Server Side Public License; only version 1 exists)
    ("SSPL-1.0", "server side", re.compile(r"\bserver side public " + _L + r"(?: sspl)?(?: (?:version |v ?)?1(?: 0)?| " + _SSPL_SHORT + r")\b")),
    ("SSPL-1.0", "server side", re.compile(_LEAD + r"(?:mongodb )?server side public " + _L + r"\b")),
    ("SSPL-1.0", "sspl", re.compile(_LEAD + _SSPL_SHORT + r"\b")),
    ("SSPL-1.0", "sspl", re.compile(r"\b(?:sspl 1 0|ssplv1)\b")),
    ("SSPL-1.0", "sspl", re.compile(r"\b" + _RSAL_SHORT + r" (?:or|and) (?:the )?" + _SSPL_SHORT + r"\b")),
    ("SSPL-1.0", "mongodb", re.compile(r"\bmongodb com licensing server side public " + _L + r"\b")),
    # Redis Source Available License 2.0 (RSALv2)
    ("LicenseRef-scancode-rsalv2", "redis source available", re.compile(
        r"\bredis source available " + _L + r"(?: agreement)?(?: (?:version |v ?)?2(?: 0)?| " + _RSAL_SHORT + r")\b")),
    ("LicenseRef-scancode-rsalv2", "rsal", re.compile(_LEAD + _RSAL_SHORT + r"\b")),
    # RSAL version 1 (Redis Labs modules 2019-2022): its title has no version between "License" and "Agreement"
    (RSAL1, "source available", re.compile(
        r"\bredis (?:labs )?source available " + _L + r" agreement\b(?! (?:version |v ?)?2\b)|\brsal ?v1\b|\brsal 1 0\b")),
    ("LicenseRef-scancode-rsalv2", "rsal", re.compile(r"\b" + _RSAL_SHORT + r" (?:or|and) (?:the )?" + _SSPL_SHORT + r"\b")),
    ("LicenseRef-scancode-rsalv2", "rsal", re.compile(r"\b" + _SSPL_SHORT + r" (?:or|and) (?:the )?" + _RSAL_SHORT + r"\b")),
    # Business Source License 1.1 (MariaDB; HashiCorp, CockroachDB, Sentry ...)
    ("BUSL-1.1", "business source", re.compile(r"\bbusiness source " + _L + r" (?:version |v ?)?1 1\b")),
    ("BUSL-1.1", "business source", re.compile(_LEAD + r"business source " + _L + r"\b")),
    ("BUSL-1.1", "business source", re.compile(r"\bbusiness source " + _L + r" is a trademark of mariadb\b")),
    ("BUSL-1.1", "busl", re.compile(r"\bbusl 1 1\b|" + _LEAD + r"busl\b")),
    # "BSL 1.1" is the Business Source License (the Boost license only has a 1.0); a bare mention is decided
    # in _scan_busl, by the document's Business Source context
    ("BUSL-1.1", "bsl", re.compile(_LEAD + r"bsl (?:v ?)?1 1\b")),
    # Elastic License before 2.0 ("Licensed under the Elastic License; you may not use this file except in
    # compliance with the Elastic License"): the name without a version
    # ("... the [Elastic license](licenses/ELASTIC-LICENSE-2.0.txt)": a version a few words on is 2.0's)
    (ELASTIC_2018, "elastic", re.compile(
        _LEAD + r"elastic " + _L + r"\b(?!(?: [a-z0-9]+){0,3} (?:2|v2|elv2)\b)|\belastic " + _L + r" agreement\b")),
    # Elastic License 2.0
    ("Elastic-2.0", "elastic", re.compile(r"\belastic " + _L + r" (?:version |v ?)?2(?: 0)?\b(?! \d)")),
    ("Elastic-2.0", "elastic", re.compile(_LEAD + r"elastic (?:2 0|v2|licen[cs]e v2|elv2)\b|\belastic " + _L + r" elv2\b")),
    ("Elastic-2.0", "elv2", re.compile(_LEAD + r"elv2\b")),
    # Commons Clause (a condition added to another license; the other license is reported on its own)
    ("LicenseRef-scancode-commons-clause", "commons clause", re.compile(
        r"\bcommons clause " + _L + r" condition\b|\b(?:with|and|plus|including|under|modified by) (?:the )?commons clause\b"
        r"|\bcommonsclause com\b")),
    ("LicenseRef-scancode-commons-clause", "grant of rights", re.compile(
        r"\bthe grant of rights under the " + _L + r" will not include and the " + _L + r" does not grant to you the right to sell\b")),
    # PolyForm: decided in _scan_polyform
    # zlib (text and names)
    ("Zlib", "redistribute it freely", re.compile(
        r"\bpermission is granted to anyone to use this software for any purpose including commercial applications and to "
        r"alter it and redistribute it freely\b")),
    ("Zlib", "zlib", re.compile(_LEAD + r"(?:zlib|zlib libpng) " + _L + r"\b|\bopensource org licenses zlib\b")),
    ("Zlib", "zlib", re.compile(r"\bfor conditions of distribution and use see (?:the )?copyright notice in zlib h\b")),
    # Eclipse Distribution License 1.0 is the 3-clause BSD license (SPDX lists no separate id)
    ("BSD-3-Clause", "eclipse distribution", re.compile(r"\beclipse distribution " + _L + r" (?:v ?|version )?1 0\b|\beclipse org org documents edl v10\b")),
    # Boost Software License 1.0
    ("BSL-1.0", "boost", re.compile(r"\bboost software " + _L + r"(?: (?:version |v ?)?1 0)?\b")),
    ("BSL-1.0", "boost", re.compile(r"\bboost org license 1 0\b")),
    ("BSL-1.0", "bsl", re.compile(_LEAD + r"bsl (?:v ?)?1 0\b")),
    ("BSL-1.0", "permission is hereby granted", re.compile(
        r"\bpermission is hereby granted free of charge to any person or organization obtaining a copy of the software "
        r"and accompanying documentation covered by this " + _L + r"\b")),
    # SQLite's blessing in place of a license
    ("blessing", "good and not evil", re.compile(
        r"\b(?:in place of a legal notice here is a blessing|may you do good and not evil)\b")),
    # Public-domain dedications that are not the Unlicense or CC0
    ("LicenseRef-scancode-public-domain", "public domain", re.compile(
        r"\b(?:(?:hereby |is |are |been |be |was |were |being )?(?:placed|released|dedicated|put|donated|contributed|"
        r"committed|given|provided|licensed|dedicates?|releases?) (?:it |this (?:file|code|software|work) |them )?(?:in|into|to) the public domain"
        r"|(?:this|the) (?:file|code|source code|source|software|program|library|header|module|work|script|document"
        r"|implementation|package|project) (?:is|are) (?:hereby )?(?:in|into) the public domain"
        r"|(?:is|are) (?:hereby )?(?:placed |released |dedicated )?(?:in|into) the public domain (?:and|as|in|so|worldwide|with)"
        r"|public domain dedication)\b")),
    # Apache 1.x, old names
    ("Apache-1.1", "apache", re.compile(r"\bapache (?:software )?" + _L + r" (?:version |ver |v ?)?1 1\b")),
    ("Apache-2.0", "apache", re.compile(r"\bapache org licenses licen[cs]e 2 0\b|\bapache 2 0 " + _L + r"\b")),
    ("Apache-2.0", "apache", re.compile(_LEAD + r"apache (?:v ?2|2)(?: 0)?(?: " + _L + r")?\b(?! \d)")),
    ("MIT", "mit", re.compile(_LEAD + r"mit\b(?! (?:press|university|institute|media|technology|computer|lab|sloan|csail|news|opencourseware))")),
]

# Each pattern's literal as a gate on the padded normalised text (" " + norm + " "): a whole token for the
# short names every match has as a token ("mit" is in "submit", "isc" in "misc", "mpl" in "sample"), else
# the start of a token. A pattern runs only when its gate is present.
_WHOLE_TOKEN_LITS = {"mit", "isc", "epl", "mpl", "asl", "bsl", "busl", "elv2", "curl", "zlib", "bsd", "apache"}
_NOTICE_GATED = [(sid, tuple(f" {x} " if x in _WHOLE_TOKEN_LITS else f" {x}" for x in ((lit,) if isinstance(lit, str) else lit)), rx)
                 for sid, lit, rx in _NOTICE_PATTERNS]

# Several licenses offered together: "dual licensed under MIT or Apache-2.0", "Licensed under either of
# Apache License, Version 2.0 or MIT license at your option", "available under your choice of ..."
_MULTI_RE = re.compile(
    r"\b(?:(?:dual|multi|double|triple) ?licen[cs]ed|licen[cs]ed (?:under )?(?:either|any) of|(?:under|at) your (?:choice|option) of"
    r"|choice of (?:the )?(?:following )?licen[cs]es|licen[cs]ed under (?:the )?(?:terms of )?(?:either|both))\b"
)
_MULTI_WINDOW = 260
_MULTI_NAMES: list[tuple[str, re.Pattern]] = [
    ("MIT", re.compile(r"\b(?:mit|expat)(?: licen[cs]e)?\b(?! (?:press|university|institute|media|technology|computer|lab))")),
    ("Apache-2.0", re.compile(r"\bapache(?: software)?(?: " + _L + r")?(?: (?:version|v|ver))? ?v?2(?: 0)?\b(?! \d)")),
    ("BSL-1.0", re.compile(r"\bboost software " + _L + r"(?: (?:version |v ?)?1 0)?\b|\bbsl 1 0\b")),
    ("Zlib", re.compile(r"\bzlib(?: " + _L + r")?\b")),
    ("Unlicense", re.compile(r"\bunlicense\b")),
    ("CC0-1.0", re.compile(r"\bcc0(?: 1 0)?\b")),
    ("ISC", re.compile(r"\bisc(?: " + _L + r")\b")),
    ("MPL-2.0", re.compile(r"\bmpl (?:v ?)?2 0\b|\bmozilla public " + _L + r" (?:version |v ?)?2 0\b")),
    ("BSD-3-Clause", re.compile(r"\bbsd 3 clause\b(?!" + _BSD3_VARIANT + r")|\b(?:new|modified|revised|3 clause|three clause) bsd\b")),
    ("BSD-2-Clause", re.compile(r"\bbsd 2 clause\b|\b(?:simplified|2 clause|two clause) bsd\b")),
    ("SSPL-1.0", re.compile(r"\b" + _SSPL_SHORT + r"\b|\bserver side public " + _L + r"\b")),
    ("LicenseRef-scancode-rsalv2", re.compile(r"\b" + _RSAL_SHORT + r"\b|\bredis source available " + _L + r"\b(?! agreement)")),
    ("Elastic-2.0", re.compile(r"\belastic " + _L + r" (?:version |v ?)?2(?: 0)?\b|\belv2\b")),
    ("BUSL-1.1", re.compile(r"\bbusiness source " + _L + r"\b|\bbusl\b|\bbsl (?:v ?)?1 1\b")),
]

_BSD_RE = re.compile(
    r"\bredistribution and use in source and binary forms with or without modification are permitted provided that "
    r"the following conditions are met\b"
)
_BSD_WINDOW = 2500  # normalised characters after the preamble to look for the clauses
_BSD_SOURCE = re.compile(r"\bredistributions of source code must retain the above copyright notice\b")
_BSD_BINARY = re.compile(r"\bredistributions in binary form must reproduce the above copyright notice\b")
_BSD_NAME = re.compile(
    r"\b(?:neither the names? of|the names? of)\b.{0,200}?\b(?:may not|must not|shall not|nor)\b.{0,120}?"
    r"\b(?:used to )?endorse or promote products\b"
)
_BSD_NAME_START = re.compile(r"\b(?:neither the names? of|nor the names of (?:its|the) contributors)\b")
_BSD_ADVERT = re.compile(r"\ball advertising materials mentioning\b")
_BSD_EXTRA = re.compile(
    r"\b(?:acknowledge?ment|end user documentation|products derived from this software may not be called"
    r"|may not be called|not (?:designed|intended) for use in|nuclear|military|patent|apache|must not be misrepresented"
    r"|you must include|must be retained|source code must be made available|unmodified|without modification|export|government)\b"
)
_BSD_CLAUSE_MAX = 1200  # normalised chars between the preamble and the disclaimer in BSD-2/3 (a 4th clause exceeds it)
_BSD_END = re.compile(r"\bthis software is provided by\b.{0,200}?\bas is\b")

_CC_ABBR_RE = re.compile(
    r"\bcc (by(?: nc)?(?: sa| nd)?(?: nc)?) (?:v|version )?(\d) (\d)(?: (international|unported|generic|[a-z]{2}))?\b"
)
_CC0_RE = re.compile(
    r"\bcc0(?: 1 0| (?:public domain|licen[cs]e|waiver|dedication))\b"
    r"|\b(?:under|licensed|released|licen[cs]e|dedicated|available|waiver) (?:the |a |an )?(?:cc |creative commons )?"
    r"(?:zero |0 )?cc0\b|\bcreative commons (?:zero|0|cc0)(?: 1 0)?(?: universal)?(?: public domain dedication| " + _L + r"| waiver)\b"
)
_CC_PHRASE_RE = re.compile(
    r"\bcreative commons (?:" + _L + r" )?(?:\(?cc )?(attribution(?: (?:non ?commercial|share ?alike|no ?deriv(?:ative)?s?|no derivative works|"
    r"non commercial|share alike|no derivatives|no derivs))*)(?: (?:cc )?by(?: nc)?(?: sa| nd)?)?"
    r"(?: (?:v|version) ?)? (\d) (\d)(?: (international|unported|generic|[a-z]+))?\b"
)
_CC_PORT_NAMES = {
    "germany": "DE", "deutschland": "DE", "austria": "AT", "osterreich": "AT", "australia": "AU",
    "netherlands": "NL", "united": "US", "us": "US", "usa": "US", "england": "UK", "uk": "UK", "france": "FR",
    "japan": "JP", "igo": "IGO", "de": "DE", "at": "AT", "au": "AU", "nl": "NL", "fr": "FR", "jp": "JP",
}


def _cc_elements_from_words(words: str) -> str | None:
    w = words.replace(" ", "")
    nc = "noncommercial" in w
    sa = "sharealike" in w
    nd = "noderiv" in w
    if sa and nd:
        return None
    el = "by" + ("-nc" if nc else "") + ("-sa" if sa else "") + ("-nd" if nd else "")
    return el


def _gnu_id(fam: str, v1: str, v2: str | None, later: bool, only: bool) -> str | None:
    version = f"{v1}.{v2 or '0'}"
    if version == "2.1" and fam == "GPL":
        return None
    if version not in _FAM_VERSIONS[fam]:
        return None
    return f"{fam}-{version}-{'or-later' if later and not only else 'only'}"


_VERSION_AFTER_RE = re.compile(
    r"^(?: (?:as published by the free software foundation|v|version|ver|of the " + _L + r"|either|and|or|the))*"
    r" (?:version |ver |v )?v?(?P<v1>\d)(?: (?P<v2>\d))?(?P<plus>\+)?(?: of the " + _L + r")?"
    r"(?P<rest>(?: [a-z0-9+]+){0,12})"
)
_LATER_RE = re.compile(
    r"^(?: [a-z0-9+]+){0,16}? (?:(?:or |and )?(?:at your option |at your choice )?(?:a |any )(?:later|newer|higher|subsequent)"
    r"|or (?:later|newer|higher|greater|above))\b"
)


def _scan_gnu(norm: str, out: list):
    # each matcher runs only when the words it needs are in the text (Python's re tries a leading
    # alternation at every position: skipping a matcher that cannot match is most of the cost saved)
    long_forms = "public licen" in norm
    for m in (_GNU_LONG_RE.finditer(norm) if long_forms else ()):
        fam = _FAMILY_MAP[m.group("fam")]
        tail = norm[m.end(): m.end() + 300]
        vm = _VERSION_AFTER_RE.match(tail)
        if not vm:
            continue
        rest_start = vm.start("rest")
        rest = tail[rest_start: rest_start + 120]
        later = bool(vm.group("plus")) or bool(_LATER_RE.search(rest))
        only = rest.startswith(" only")
        sid = _gnu_id(fam, vm.group("v1"), vm.group("v2"), later, only)
        if sid:
            end = m.end() + (vm.end("rest") if later else vm.end("plus") if vm.group("plus") else vm.end("v2") if vm.group("v2") else vm.end("v1"))
            out.append((sid, m.start(), end, False))
    for m in (_GNU_TEXT_RE.finditer(norm) if long_forms and "gnu " in norm else ()):
        fam = _FAMILY_MAP[m.group("fam")]
        v = m.group("v").split(" ")
        sid = _gnu_id(fam, v[0], v[1] if len(v) > 1 else None, False, True)
        if sid:
            out.append((sid, m.start(), m.end(), True))
    for m in (_GNU_VFIRST_RE.finditer(norm) if long_forms and "version " in norm else ()):
        fam = _FAMILY_MAP[m.group("fam")]
        txt = m.group(0)
        later = bool(re.search(r"later|newer|\+", txt))
        sid = _gnu_id(fam, m.group(1), m.group(2), later, " only" in txt)
        if sid:
            out.append((sid, m.start(), m.end(), False))
    for rx in ((_GNU_SHORT_RE, _GNU_SHORT2_RE) if "gpl" in norm else ()):
        for m in rx.finditer(norm):
            fam = {"a": "AGPL", "affero ": "AGPL", "l": "LGPL", "lesser ": "LGPL", None: "GPL"}[m.group("fam")]
            lat = m.group("later") or ""
            later = bool(m.group("plus")) or (lat not in ("", "only"))
            sid = _gnu_id(fam, m.group("v1"), m.group("v2"), later, lat == "only")
            if sid:
                out.append((sid, m.start(), m.end(), not later and lat != "only"))


def _scan_bsd(norm: str, out: list):
    for m in _BSD_RE.finditer(norm):
        win = norm[m.end(): m.end() + _BSD_WINDOW]
        # stop the window at the start of the disclaimer's end or a following license preamble
        nxt = _BSD_RE.search(win)
        if nxt:
            win = win[: nxt.start()]
        e = _BSD_END.search(win)
        clause_zone = win[: e.start()] if e else win
        if _BSD_ADVERT.search(clause_zone) or _BSD_EXTRA.search(clause_zone):
            continue
        if e is not None and e.start() > _BSD_CLAUSE_MAX:
            continue
        if not (_BSD_SOURCE.search(clause_zone) and _BSD_BINARY.search(clause_zone)):
            continue
        if _BSD_NAME.search(clause_zone) or _BSD_NAME_START.search(clause_zone):
            sid = "BSD-3-Clause"
        else:
            # two clauses only: both present and the disclaimer seen (a cut-off text may hide a third clause)
            if e is None or not (_BSD_SOURCE.search(clause_zone) and _BSD_BINARY.search(clause_zone)):
                continue
            sid = "BSD-2-Clause"
        out.append((sid, m.start(), m.end() + (e.end() if e else len(clause_zone)), False))


_BSL11_RE = re.compile(r"\bbsl (?:v ?)?1 1\b")
_BUSINESS_SOURCE_RE = re.compile(r"\bbusiness source\b|\bchange (?:date|licen[cs]e)\b|\badditional use grant\b")


def _scan_busl(norm: str, out: list):
    """A bare "BSL 1.1" in a document that speaks of the Business Source License (its name, Change Date,
    Change License or Additional Use Grant)."""
    if not _BUSINESS_SOURCE_RE.search(norm):
        return
    for m in _BSL11_RE.finditer(norm):
        out.append(("BUSL-1.1", m.start(), m.end(), False))


def _scan_polyform(norm: str, out: list):
    for m in _POLYFORM_RE.finditer(norm):
        name = (m.group(1) or m.group(2)).replace("non commercial", "noncommercial")
        out.append((_POLYFORM[name], m.start(), m.end(), False))


_MULTI_STOP = re.compile(r"\b(?:copyright|see (?:the )?(?:file|licen[cs]e)|you may not|unless required|this (?:file|program|library) is)\b")


# a GNU license named with its version in a list of choices: "... or (c) the GNU Affero General Public
# License v3 (AGPLv3)"
_MULTI_GNU_RE = re.compile(
    r"\b(?:gnu )?(?P<fam>general|lesser general|library general|affero general) public " + _L +
    r" (?:version |ver |v ?)?v?(?P<v1>\d)(?: (?P<v2>\d))?(?P<plus>\+)?\b"
)
# read past the window's end: "V2" may close the window and "or later" open the text after it
_MULTI_GNU_LATER_RE = re.compile(r" or (?:at your option )?(?:any )?(?:later|newer)(?: version)?\b")


def _scan_multi(norm: str, out: list):
    for m in _MULTI_RE.finditer(norm):
        win = norm[m.end(): m.end() + _MULTI_WINDOW]
        stop = _MULTI_STOP.search(win)
        if stop:
            win = win[: stop.start()]
        for sid, rx in _MULTI_NAMES:
            x = rx.search(win)
            if x:
                out.append((sid, m.end() + x.start(), m.end() + x.end(), False))
        if "public licen" in win:
            for x in _MULTI_GNU_RE.finditer(win):
                y = _MULTI_GNU_LATER_RE.match(norm, m.end() + x.end())
                later = bool(x.group("plus") or y)
                sid = _gnu_id(_FAMILY_MAP[x.group("fam")], x.group("v1"), x.group("v2"), later, False)
                if sid:
                    out.append((sid, m.end() + x.start(), y.end() if y else m.end() + x.end(), not later))


def _emit_cc(m, el: str, out: list) -> None:
    """A CC match (groups 2-3: version, 4: port name) with its elements -> a finding."""
    port = m.group(4)
    pcode = _CC_PORT_NAMES.get(port) if port and port not in ("international", "unported", "generic") else None
    sid, p = _cc_id(el, f"{m.group(2)}.{m.group(3)}", pcode)
    if sid:
        out.append((sid, m.start(), m.end(), p))


def _scan_cc_norm(norm: str, out: list, padded: str | None = None):
    """CC abbreviations, phrases and CC0 in the normalised text. ``padded`` is `` norm `` (space on both
    sides): each matcher runs only when the token it needs is there."""
    padded = padded if padded is not None else f" {norm} "
    phrase = "creative commons" in norm
    if " cc by" in padded:
        for m in _CC_ABBR_RE.finditer(norm):
            _emit_cc(m, m.group(1).replace(" ", "-"), out)
    if phrase:
        for m in _CC_PHRASE_RE.finditer(norm):
            el = _cc_elements_from_words(m.group(1))
            if el:
                _emit_cc(m, el, out)
    if phrase or "cc0" in norm:
        for m in _CC0_RE.finditer(norm):
            out.append(("CC0-1.0", m.start(), m.end(), None))


# "License: GPL-2+", "license = 'MIT'", '"license": "Apache-2.0"', "licenseId: curl" (package metadata,
# Debian copyright files, front matter). The value must be a known name; kind "notice".
_XML_NAME_RE = re.compile(r"<license>\s*<name>\s*([^<]{1,80}?)\s*</name>", re.I)
_LICENSE_FIELD_RE = re.compile(
    r"""(?:licen[cs]e(?:[-_ ]?(?:id|name|type|identifier|spdx))?)\s*["']?\s*(?:[:=]|=>)\s*"""
    r"""[\[{(]?\s*["']?([A-Za-z0-9][A-Za-z0-9 .+()/-]{0,60}?)\s*["']?\s*(?=[,;)\]}\r\n"'<]|$)""",
    re.I | re.M,
)
_FIELD_NAMES: dict[str, str] = {}


def _add_names(sid: str, *names: str) -> None:
    for n in (sid, *names):
        _FIELD_NAMES[re.sub(r"[\s_]+", " ", n.lower()).strip()] = sid


for _fam, _vers in (("GPL", ("2", "3")), ("LGPL", ("2.1", "3")), ("AGPL", ("3",))):
    for _v in _vers:
        _v0 = _v if "." in _v else _v + ".0"
        _only, _later = f"{_fam}-{_v0}-only", f"{_fam}-{_v0}-or-later"
        _add_names(_only, f"{_fam}-{_v0}", f"{_fam}-{_v}", f"{_fam}v{_v}", f"{_fam} {_v}", f"{_fam} v{_v}", f"{_fam}{_v}",
                   f"{_fam}-{_v}-only", f"{_fam}v{_v} only", f"{_fam} {_v0}", f"{_fam}-{_v0} only")
        _add_names(_later, f"{_fam}-{_v0}+", f"{_fam}-{_v}+", f"{_fam}v{_v}+", f"{_fam} {_v}+", f"{_fam}{_v}+",
                   f"{_fam}-{_v}-or-later", f"{_fam} {_v0}+", f"{_fam}v{_v} or later", f"{_fam}-{_v}.0-or-later")
_add_names("Apache-2.0", "Apache 2.0", "Apache-2", "Apache 2", "Apache License 2.0", "Apache License, Version 2.0",
           "Apache License Version 2.0", "Apache Software License 2.0", "Apache Software License, Version 2.0", "ASL 2.0",
           "Apache2", "Apache License (2.0)", "Apache v2", "Apache License v2.0", "Apache-2.0 License")
_add_names("MIT", "MIT License", "Expat", "The MIT License", "MIT/Expat", "MIT (Expat)")
_add_names("ISC", "ISC License", "ISCL")
_add_names("MPL-2.0", "MPL 2.0", "MPLv2.0", "MPLv2", "MPL2", "Mozilla Public License 2.0", "MPL-2")
_add_names("EPL-2.0", "EPL 2.0", "EPLv2", "Eclipse Public License 2.0", "Eclipse Public License - v 2.0", "EPL-2")
_add_names("Unlicense", "The Unlicense", "UNLICENSED-PUBLIC-DOMAIN")
_add_names("BSD-2-Clause", "BSD 2-Clause", "BSD-2", "Simplified BSD", "BSD 2-clause License", "FreeBSD")
_add_names("BSD-3-Clause", "BSD 3-Clause", "BSD-3", "New BSD", "Modified BSD", "BSD 3-clause License", "Revised BSD",
           "New BSD License", "Modified BSD License")
_add_names("curl", "curl License")
for _sid in ("CC0-1.0", *(f"CC-{el}-{v}" for el in ("BY", "BY-SA", "BY-NC", "BY-NC-SA", "BY-ND", "BY-NC-ND")
                          for v in ("1.0", "2.0", "2.5", "3.0", "4.0")), *_CC_PORTED):
    _add_names(_sid, _sid.replace("-", " ", 1))
_add_names("CC0-1.0", "CC0", "CC0 1.0", "CC0 1.0 Universal")
_add_names("LGPL-2.0-only", "LGPL-2.0", "LGPLv2", "LGPL 2.0", "LGPL-2", "LGPL 2", "LGPL2")
_add_names("LGPL-2.0-or-later", "LGPL-2.0+", "LGPLv2+", "LGPL-2+", "LGPL 2+", "LGPL2+", "LGPL 2.0+")
_add_names("Zlib", "zlib License", "zlib/libpng", "zlib-libpng", "zlib/libpng License")
_add_names("BSL-1.0", "Boost", "Boost Software License", "Boost Software License 1.0", "Boost Software License, Version 1.0",
           "BSL 1.0", "BSL", "Boost License")
_add_names("Apache-1.1", "Apache 1.1", "Apache License 1.1", "Apache License, Version 1.1")
_add_names("SSPL-1.0", "SSPL", "SSPLv1", "SSPL 1.0", "SSPL-1", "Server Side Public License", "Server Side Public License v1",
           "Server Side Public License, Version 1")
_add_names(RSAL2, "RSALv2", "RSAL-2.0", "RSAL 2.0", "RSAL2", "LicenseRef-RSALv2", "LicenseRef-RSAL-2.0",
           "Redis Source Available License 2.0", "Redis Source Available License v2")
_add_names("BUSL-1.1", "BSL-1.1", "BSL 1.1", "BUSL", "BUSL 1.1", "Business Source License", "Business Source License 1.1")
_add_names(RSAL1, "RSALv1", "RSAL-1.0", "RSAL 1.0", "Redis Source Available License Agreement",
           "LicenseRef-scancode-redis-source-available-1.0")
_add_names(ELASTIC_2018, "Elastic License", "Elastic License 2018", "Elastic License Agreement")
_add_names("Elastic-2.0", "ELv2", "Elastic License 2.0", "Elastic License v2", "Elastic 2.0", "Elastic License, Version 2.0")
_add_names("LicenseRef-scancode-commons-clause", "Commons Clause", "Commons-Clause", "LicenseRef-Commons-Clause")
for _name, _sid in _POLYFORM.items():
    _add_names(_sid, f"PolyForm {_name}", f"PolyForm {_name} 1.0.0", f"PolyForm-{_name.title().replace(' ', '-')}-1.0.0",
               f"PolyForm {_name} License 1.0.0")
_add_names("blessing", "SQLite Blessing")
_FIELD_ANCHOR_RE = re.compile(r"licen[cs]e", re.I)
_FIELD_BEFORE_RE = re.compile(r"""[\s"'{,(<\[;]""")  # the character before a field name (or the text start)


def _field_matches(text: str):
    """``_LICENSE_FIELD_RE`` matches, non-overlapping, each starting at the text start or after one of
    ``_FIELD_BEFORE_RE``: tried only where "license" occurs (a leading look-behind made the engine try
    every position)."""
    end = 0
    for a in _FIELD_ANCHOR_RE.finditer(text):
        i = a.start()
        if i < end or (i and not _FIELD_BEFORE_RE.match(text, i - 1)):
            continue
        m = _LICENSE_FIELD_RE.match(text, i)
        if m:
            end = m.end()
            yield m
    if "<license>" in text or "<LICENSE>" in text:
        yield from _XML_NAME_RE.finditer(text)


_SPLIT_VALUE = re.compile(r"\s+(?:or|and)\s+|\s*/\s*(?![0-9])|\s*\|\s*", re.I)


def _names_to_ids(val: str) -> list[str]:
    """Known license names in a metadata value ("Apache 2.0", "MIT or Apache-2.0"); [] unless all are known."""
    val = val.strip().strip("()").strip()
    key = re.sub(r"[\s_]+", " ", val.lower()).strip()
    if key in _FIELD_NAMES:
        return [_FIELD_NAMES[key]]
    parts = [p.strip().strip("()").strip() for p in _SPLIT_VALUE.split(val) if p.strip()]
    if len(parts) > 1:
        sids = [_FIELD_NAMES.get(re.sub(r"[\s_]+", " ", p.lower())) for p in parts]
        if all(sids):
            return sids
    return []


def _scan_fields(text: str, out: list):
    for m in _field_matches(text):
        val = m.group(1).strip().strip("()").strip()
        key = re.sub(r"[\s_]+", " ", val.lower()).strip()
        for sid in _names_to_ids(val):
            kind = "cc" if sid.startswith("CC") else "notice"
            f = _finding(sid, kind, None, m.start(), m.end(1), text)
            if sid.endswith("-only") and "only" not in key:
                f["_weak"] = True
            out.append(f)


_SUFFIX_RE = re.compile(r"[-_](?!licen[cs]e|style)[A-Za-z0-9]|\.[0-9]|[A-Za-z0-9]", re.I)


def _evidence(text: str, s: int, e: int) -> str:
    return " ".join(text[s:e].split())[:EVIDENCE_MAX]


def _finding(sid, kind, port, s, e, text):
    return {"spdx": sid, "kind": kind, "port": port, "start": s, "end": e, "evidence": _evidence(text, s, e)}


# A comment line that says only "Public domain." (OpenBSD compat files, old C sources), or a one-line
# "/* public domain */": a statement about the file. Without the full stop or the closed comment it is a
# title ("// Public domain" over a list of licenses, a Markdown heading).
_PD_LINE_RE = re.compile(
    r"^[ \t]*(?:/\*+|\*+|//+|;+|--|!|#+)[ \t]*public[ \t]+domain\.[ \t]*(?:\*+/)?[ \t]*\r?$"
    r"|^[ \t]*/\*+[ \t]*public[ \t]+domain\.?[ \t]*\*+/[ \t]*\r?$",
    re.I | re.M,
)


# The title line of a single-file library: "stb_include.h - v0.02 - parse and process #include directives -
# public domain" (a file name, then " - public domain" closing the line or a dash-separated part of it)
_PD_TITLE_RE = re.compile(
    r"^[ \t]*(?:/\*+|//+|#+|\*+|;+|--)?[ \t]*[\w.+-]+\.[a-z]{1,4}\b[^\n]{0,120}?[ \t]-+[ \t]*(public[ \t]+domain)"
    r"(?=[ \t]*(?:\r?$|[-,;(]|\*/))",
    re.I | re.M,
)


def _scan_pd_lines(text: str, out: list):
    for m in _PD_TITLE_RE.finditer(text):
        out.append(_finding("LicenseRef-scancode-public-domain", "notice", None, m.start(1), m.end(1), text))
    for m in _PD_LINE_RE.finditer(text):
        s = m.start() + len(m.group(0)) - len(m.group(0).lstrip(" \t/*;-!#"))
        out.append(_finding("LicenseRef-scancode-public-domain", "notice", None, s, m.end(), text))


def _scan_raw(text: str, out: list):
    """Matchers over the raw text: URLs, rel=license, SPDX tags."""
    for m in _SPDX_TAG_RE.finditer(text):
        expr = _TAG_END_RE.sub("", m.group(1)).strip().strip("\"',;")
        expr = expr.strip()
        if not expr or not _SPDX_EXPR_OK.match(expr):
            continue
        end = m.start(1) + len(m.group(1).rstrip())
        if valid_spdx_expression(expr):
            out.append(_finding(expr, "spdx-tag", None, m.start(), end, text))
            continue
        # "SPDX-License-Identifier: BSD 3-Clause": not an SPDX expression. Reported as invalid (the raw
        # value never becomes an id); a value that names a known license also gives that license as a notice.
        out.append(_finding(INVALID_TAG, "spdx-tag", None, m.start(), end, text))
        for sid in _names_to_ids(expr):
            out.append(_finding(sid, "notice", None, m.start(), end, text))
    if "creativecommons" in text or "CreativeCommons" in text or "creativecommons" in text.lower():
        for m in _CC_URL_RE.finditer(text):
            sid, port = _cc_id(m.group(1), m.group(2), m.group(3))
            if sid:
                out.append(_finding(sid, "cc", port, m.start(), m.end(), text))
        for m in _CC_PD_RE.finditer(text):
            sid = "CC0-1.0" if m.group(1).lower() == "zero" else "LicenseRef-PDM-1.0"
            out.append(_finding(sid, "cc", None, m.start(), m.end(), text))
    if "rel" in text:
        for m in _REL_LICENSE_RE.finditer(text):
            h = _HREF_RE.search(m.group(0))
            if not h:
                continue
            href = h.group(1)
            u = _CC_URL_RE.search(href)
            if u:
                sid, port = _cc_id(u.group(1), u.group(2), u.group(3))
                if sid:
                    out.append(_finding(sid, "cc", port, m.start(), m.end(), text))
                continue
            u = _CC_PD_RE.search(href)
            if u:
                sid = "CC0-1.0" if u.group(1).lower() == "zero" else "LicenseRef-PDM-1.0"
                out.append(_finding(sid, "cc", None, m.start(), m.end(), text))


def detect(text: str | None) -> list[dict]:
    """All license findings in one string, ordered by start offset (duplicates of one span removed)."""
    if not text:
        return []
    raw: list[dict] = []
    _scan_raw(text, raw)
    n = _Norm(text)
    norm = n.text
    hits: list = []
    if "gpl" in norm or "general public" in norm or "public licen" in norm:
        _scan_gnu(norm, hits)
    if "redistribution and use" in norm:
        _scan_bsd(norm, hits)
    if "polyform" in norm:
        _scan_polyform(norm, hits)
    if "bsl 1 1" in norm or "bsl v1 1" in norm:
        _scan_busl(norm, hits)
    if "licen" in norm or "choice of" in norm:
        _scan_multi(norm, hits)
    padded = f" {norm} "
    for sid, gates, rx in _NOTICE_GATED:
        if gates[0] not in padded and not any(g in padded for g in gates[1:]):
            continue
        for m in rx.finditer(norm):
            hits.append((sid, m.start(), m.end(), False))
    cc_hits: list = []
    if "creative commons" in norm or "cc" in norm:
        _scan_cc_norm(norm, cc_hits, padded)
    if "public domain" in norm:
        _scan_pd_lines(text, raw)
    found = list(raw)
    _scan_fields(text, found)
    fields = {id(f) for f in found[len(raw):]}
    weak: set[int] = {id(f) for f in found if f.pop("_weak", False)}
    for sid, a, b, is_weak in hits:
        s, e = n.span(a, b)
        if _SUFFIX_RE.match(text, e):  # "MIT-CMU", "BSD-3-Clause-No-Military", "Apache 2.0.1": another license
            continue
        f = _finding(sid, "notice", None, s, e, text)
        if is_weak:
            weak.add(id(f))
        found.append(f)
    for sid, a, b, port in cc_hits:
        s, e = n.span(a, b)
        found.append(_finding(sid, "cc", port, s, e, text))
    if weak:
        # "GPLv3", "License: LGPL-3" or a bare license text say nothing about "or later"; when the same
        # document states "or any later version" for that license, the bare form is not a separate "-only".
        later = {f["spdx"][: -len("-or-later")] for f in found if f["spdx"].endswith("-or-later")}
        found = [f for f in found if not (id(f) in weak and f["spdx"].endswith("-only") and f["spdx"][:-5] in later)]
    kept = _dedupe(found)
    _place(text, kept, fields)
    _all_rights_reserved(text, kept)
    return kept


def _dedupe(found: list[dict]) -> list[dict]:
    """Drop a finding overlapping an earlier-kept one with the same SPDX id; for different ids on the
    same span keep the longer (more specific) one."""
    found.sort(key=lambda f: (f["start"], -(f["end"] - f["start"])))
    kept: list[dict] = []
    for f in found:
        dup = False
        for k in kept[-8:]:
            if f["start"] < k["end"] and k["start"] < f["end"]:
                if k["spdx"] == f["spdx"]:
                    dup = True
                    break
                if (f["kind"] == k["kind"] == "notice" and k["start"] <= f["start"] and f["end"] <= k["end"]
                        and k["end"] - k["start"] > f["end"] - f["start"]):
                    dup = True  # contained in a longer notice of another id (e.g. GPL inside its LGPL text)
                    break
        if not dup:
            kept.append(f)
    return kept


_KIND_RANK = {"spdx-tag": 0, "notice": 1, "cc": 2}


def primary_license(findings: Iterable[dict] | None) -> str | None:
    """The document-level license: the page's own declaration. Findings rank by where they were found
    (rel-license > meta > footer > inline; an SPDX tag ranks as meta), then by kind (SPDX tag > notice >
    CC), then by position. Image credits and code blocks never decide it; "All rights reserved" only when
    nothing else the page declares is left. Findings without ``where`` (stored before it existed, or
    from other callers) count as inline."""
    if not findings:
        return None
    best = None
    for i, f in enumerate(findings):
        if f is None or not f.get("spdx"):
            continue
        where = f.get("where") or "inline"
        if where in NOT_DECIDING:
            continue
        kind = f.get("kind")
        if f["spdx"] == ALL_RIGHTS_RESERVED:
            rank = (9, 0)
        elif f["spdx"] == INVALID_TAG:
            rank = (8, 0)
        else:
            rank = (WHERE_RANK["meta"] if kind == "spdx-tag" else WHERE_RANK.get(where, 3), _KIND_RANK.get(kind, 3))
        key = (rank, f.get("start") if f.get("start") is not None else 1 << 62, i)
        if best is None or key < best[0]:
            best = (key, f["spdx"])
    return best[1] if best else None


# --------------------------------------------------------------------------------------------------
# Where a finding sits on the page, and how far it speaks for the page itself.
#
# ``where``: ``rel-license`` (an <a>/<link rel="license">), ``meta`` (<meta name="license|dc.rights|
# dcterms.license|copyright">, a JSON-LD ``license`` property, a ``license:`` metadata field),
# ``footer`` (the last part of the page, a <footer> element, a "©" / "Copyright" line), ``inline``
# (anywhere else in the running text), ``credit`` (an image / photo credit: "Photo by X, CC BY"),
# ``code`` (inside <pre>/<code> or a Markdown code fence). Credits and code blocks never decide the
# document's license; the others rank rel-license > meta > footer > inline (an SPDX tag ranks as meta).

ALL_RIGHTS_RESERVED = "LicenseRef-All-Rights-Reserved"
WHERE_RANK = {"rel-license": 0, "meta": 1, "footer": 2, "inline": 3}
NOT_DECIDING = frozenset({"credit", "code"})
CONFIDENCE = {"rel-license": 0.95, "meta": 0.9, "footer": 0.8, "inline": 0.6, "credit": 0.3, "code": 0.2}
FOOTER_SHARE = 0.2  # the last fifth of a page counts as its footer

_ARR_RE = re.compile(r"all rights reserved|alle rechte vorbehalten|tous droits r[ée]serv[ée]s"
                     r"|todos los derechos reservados|tutti i diritti riservati", re.I)
_COPYRIGHT_LINE_RE = re.compile(r"^\W{0,6}(?:©|\(c\)|&copy;|&#169;|copyright\b)", re.I)
_CREDIT_RE = re.compile(
    r"\b(?:photos?|photograph(?:y|s)?|images?|pictures?|pics?|foto|bild|credits?|illustrations?|icons?|graphics?"
    r"|drawings?|maps?|videos?|logos?|artwork|diagram|screenshot|thumbnail|cover|caption)\b|\bvia (?:flickr|wikimedia)"
    r"|wikimedia commons|flickr|unsplash", re.I)
# a statement about the page or site, not one picture: "Text and photos on this page are available under ..."
_PAGE_WORDS_RE = re.compile(
    r"\b(?:text|texts|this (?:page|site|website|blog|work|article|post)|content|contents|site|website|page|blog"
    r"|articles?|posts?|all|except|unless|otherwise)\b", re.I)
_BLOCK_START_RE = re.compile(r"<(?:p|div|li|td|section|article|header|footer|figcaption|h[1-6]|br|hr)\b[^>]*>|</(?:p|div|li|td|figcaption|h[1-6])>|\n", re.I)
_TAG_STRIP_RE = re.compile(r"<[^>]*>")
_URLISH_RE = re.compile(r"\S*[/\\]\S*")
# a title-author-source-license attribution: "“Wispies” by FictarGraphics is licensed via CC BY 3.0"
_TASL_RE = re.compile(r"[\"“”'’]\s*(?:by|von|par|de|door)\s+[^\n]{1,120}?\b(?:is\s+)?licen[cs]ed\s+(?:via|under)\b[^\n]{0,12}$", re.I)
_HTML_RE = re.compile(r"<(?:html|body|div|p|a|head|meta|footer|span)\b", re.I)


def _inside(low: str, pos: int, open_pat: str, close: str) -> bool:
    """Whether ``pos`` lies inside the element opened by the last ``open_pat`` before it."""
    o = low.rfind(open_pat, 0, pos)
    return o >= 0 and low.find(close, o, pos) < 0


def _locate(text: str, low: str, is_html: bool, start: int, end: int, kind: str) -> str:
    n = len(text)
    tag_open = low.rfind("<", 0, start + 1)
    in_tag = is_html and tag_open >= 0 and low.find(">", tag_open, start) < 0
    if in_tag:
        tag = low[tag_open: low.find(">", tag_open) + 1 or tag_open + 400]
        if re.match(r"<(?:a|link)\b", tag) and re.search(r"\brel\s*=\s*[\"']?license\b", tag):
            return "rel-license"
        if tag.startswith("<meta"):
            return "meta"
    if is_html:
        if _inside(low, start, "<pre", "</pre>") or _inside(low, start, "<code", "</code>"):
            return "code"
        if _inside(low, start, "<script", "</script>"):
            s = low.rfind("<script", 0, start)
            head = low[s: low.find(">", s) + 1]
            if "ld+json" not in head:
                return "code"
            # JSON-LD: the ``license`` property is the page's metadata; a caption elsewhere in it is not
            if kind == "field" or re.search(r"[\"']licen[cs]e[\"']\s*:\s*\[?\s*(?:\{[^{}]{0,200}?[\"']@id[\"']\s*:\s*)?[\"']?\s*(?:https?:)?(?://)?(?:www\.)?$",
                                            low[max(0, start - 300):start]):
                return "meta"
        if _inside(low, start, "<figcaption", "</figcaption>") or _inside(low, start, "<figure", "</figure>"):
            return "credit"
    elif low.count("```", 0, start) % 2 == 1:
        return "code"
    # the statement the finding belongs to: back to the start of its line / block
    b = 0
    for m in _BLOCK_START_RE.finditer(low, max(0, start - 300), start):
        b = m.end()
    if b == 0:
        b = max(0, start - 300)
    before = text[b:start]
    plain = _URLISH_RE.sub(" ", _TAG_STRIP_RE.sub(" ", before))
    if (_CREDIT_RE.search(plain) and not _PAGE_WORDS_RE.search(plain)) or _TASL_RE.search(plain):
        return "credit"
    if kind == "field":
        return "meta"
    line_start = text.rfind("\n", 0, start) + 1
    if _COPYRIGHT_LINE_RE.match(text, line_start) or (is_html and _COPYRIGHT_LINE_RE.match(before.lstrip())):
        return "footer"
    if is_html and _inside(low, start, "<footer", "</footer>"):
        return "footer"
    if start >= n * (1 - FOOTER_SHARE):
        return "footer"
    return "inline"


def _place(text: str, found: list[dict], fields: set[int]) -> None:
    """Set ``where`` and ``confidence`` on each finding (in place)."""
    if not found:
        return
    low = text.lower()
    is_html = bool(_HTML_RE.search(text))
    for f in found:
        kind = "field" if id(f) in fields else f["kind"]
        w = _locate(text, low, is_html, f["start"], f["end"], kind)
        f["where"] = w
        f["confidence"] = CONFIDENCE[w]


def _all_rights_reserved(text: str, found: list[dict]) -> None:
    """An "All rights reserved" statement is recorded when nothing the page itself declares is more specific."""
    if any(f.get("where") not in NOT_DECIDING for f in found):
        return
    last = None
    for m in _ARR_RE.finditer(text):
        last = m
    if last is None:
        return
    f = _finding(ALL_RIGHTS_RESERVED, "notice", None, last.start(), last.end(), text)
    low = text.lower()
    w = _locate(text, low, bool(_HTML_RE.search(text)), last.start(), last.end(), "notice")
    if w == "credit":  # "Photo © X, all rights reserved" reserves the photo, not the page
        return
    if w == "code":
        return
    f["where"] = w
    f["confidence"] = 0.8 if w == "footer" else 0.5
    found.append(f)


def _candidates(arr: pa.Array) -> list[bool]:
    if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type) or pa.types.is_string_view(arr.type):
        mask = pc.match_substring_regex(arr, PREFILTER, ignore_case=True)
    else:
        arr = pc.cast(arr, pa.large_string())
        mask = pc.match_substring_regex(arr, PREFILTER, ignore_case=True)
    return mask.fill_null(False).to_pylist()


def _candidate_values(arr):
    """(row, value) for the rows the RE2 prefilter flags; only those reach Python."""
    import pyarrow as pa

    idx = [i for i, c in enumerate(_candidates(arr)) if c]
    if not idx:
        return []
    return zip(idx, arr.take(pa.array(idx, pa.int64())).to_pylist())


def scan_batch(batch: pa.RecordBatch | pa.Table, text_column: str = "text", html_column: str = "html") -> pa.Array:
    """Per row, the list of findings (``LICENSE_TYPE``). One RE2 prefilter pass per column; the precise
    matchers run only on candidate rows. Null or empty rows give ``[]``."""
    return scan_batch_primary(batch, text_column, html_column)[0]


def _merge_html(rows: list[dict], extra: list[dict]) -> list[dict]:
    """A row's text findings plus what its HTML adds. The HTML knows the page's structure: a license the
    text mentions and the HTML declares in a rel="license" link or metadata takes that ``where``; HTML-only
    findings come with null offsets."""
    best: dict[str, dict] = {}
    for f in extra:
        k = best.get(f["spdx"])
        if k is None or WHERE_RANK.get(f["where"], 9) < WHERE_RANK.get(k["where"], 9):
            best[f["spdx"]] = f
    have = set()
    for f in rows:
        h = best.get(f["spdx"])
        if h is not None and h["where"] in ("rel-license", "meta") and WHERE_RANK.get(f.get("where"), 9) > WHERE_RANK[h["where"]]:
            f["where"], f["confidence"] = h["where"], h["confidence"]
        elif h is not None and h["where"] in NOT_DECIDING and f.get("where") == "inline":
            # the extracted text lost the page's structure: a license the HTML finds only in a code block
            # or an image credit is that, not a statement of the page's own (a GPL header in <pre>)
            f["where"], f["confidence"] = h["where"], h["confidence"]
        have.add(f["spdx"])
    for f in extra:
        if f["spdx"] in have:
            continue
        have.add(f["spdx"])
        rows.append(dict(f, start=None, end=None))
    if any(f["spdx"] != ALL_RIGHTS_RESERVED and f.get("where") not in NOT_DECIDING for f in rows):
        rows = [f for f in rows if f["spdx"] != ALL_RIGHTS_RESERVED]
    return rows


def scan_batch_findings(batch: pa.RecordBatch | pa.Table, text_column: str = "text",
                        html_column: str = "html") -> tuple[list[list[dict]], list[str | None]]:
    """Per row, the findings (dicts with ``where`` and ``confidence``) and the primary license
    (:func:`primary_license`): the prefilter, :func:`detect` on candidate rows, the HTML column merged in."""
    names = batch.schema.names
    n = batch.num_rows
    text_arr = batch.column(text_column) if text_column in names else None
    html_arr = batch.column(html_column) if html_column and html_column in names else None
    if isinstance(text_arr, pa.ChunkedArray):
        text_arr = text_arr.combine_chunks()
    if isinstance(html_arr, pa.ChunkedArray):
        html_arr = html_arr.combine_chunks()
    rows: list[list[dict]] = [[] for _ in range(n)]
    if text_arr is not None:
        for i, t in _candidate_values(text_arr):
            rows[i] = detect(t)
    if html_arr is not None:
        for i, h in _candidate_values(html_arr):
            extra = detect(h)
            if not extra:
                continue
            if text_arr is None:
                rows[i] = extra
                continue
            rows[i] = _merge_html(rows[i], extra)
    primary = [primary_license(r) if r else None for r in rows]
    return rows, primary


def scan_batch_primary(batch: pa.RecordBatch | pa.Table, text_column: str = "text",
                       html_column: str = "html") -> tuple[pa.Array, list[str | None]]:
    """:func:`scan_batch_findings` with the findings as ``LICENSE_TYPE`` (without ``where`` and
    ``confidence``; the scanner stores them, see ``provenance.scanners.license``)."""
    rows, primary = scan_batch_findings(batch, text_column, html_column)
    return pa.array(rows, type=LICENSE_TYPE), primary


SUPPORTED_IDS = frozenset(
    {
        "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0", "CC0-1.0",
        *(f"CC-{el}-{v}" for el in ("BY", "BY-SA", "BY-NC", "BY-NC-SA", "BY-ND", "BY-NC-ND") for v in ("1.0", "2.0", "2.5", "3.0")),
        *_CC_PORTED,
        "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later",
        "LGPL-3.0-only", "LGPL-3.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-2.0", "MIT",
        "BSD-2-Clause", "BSD-3-Clause", "MPL-2.0", "ISC", "Unlicense", "curl", "EPL-2.0",
        "LGPL-2.0-only", "LGPL-2.0-or-later", "Zlib", "BSL-1.0", "Apache-1.1", "blessing", "LicenseRef-scancode-public-domain",
        # source-available
        "SSPL-1.0", RSAL2, RSAL1, "BUSL-1.1", "Elastic-2.0", ELASTIC_2018, "LicenseRef-scancode-commons-clause", *_POLYFORM.values(),
    }
)
