"""Copyrighted-code reference index and snippet matching inside documents (web pages, forum answers).

Users index code they must not train on (or must attribute); a scan then finds that code inside documents,
as a whole file or as a ~30-line function pasted into a long page, lightly edited (identifiers renamed,
re-indented, lines re-broken, comments changed).

Normalisation (one compiled pass over the UTF-8 bytes of an Arrow string column, no Python per document)
--------------------------------------------------------------------------------------------------------
The text becomes a stream of integer tokens:

* identifiers ``[A-Za-z_$][A-Za-z0-9_$]*`` (and any run containing non-ASCII bytes) -> one placeholder ``ID``,
  unless the word is in ``KEYWORDS`` (union of C, C++, Java, JavaScript, Go, Rust and Python keywords, case
  sensitive), which keeps its own token;
* numbers (a digit, then ``[A-Za-z0-9_.]`` and a sign after an exponent) -> ``NUM``;
* string and char literals ``"..."``, ``'...'`` (backslash escapes; ended by a newline when unterminated)
  and Python triple-quoted strings -> ``STR``;
* Markdown-ish page text: a line that starts (after whitespace) with a fence of 3+ backticks or tildes
  (with or without an info string: ```` ```python ````, ``~~~``) is dropped; any other backtick (an inline
  code span, a stray one in prose such as "doesn`t", a JS template literal) only separates tokens, so code
  in fences and after stray backticks tokenises as in its source file;
* line numbers copied from code viewers are dropped: at a line start, a decimal number followed by
  ``". "``, ``": "``, ``"|"``, ``"│"``, the end of the line, or spaces and then anything but ``, ; . :``
  (``12. x``, ``12 | x``, ``  12  x``, ``12\tx``), repeatedly (so a line that starts with a number in the
  source drops it on both sides);
* comments are dropped: ``//`` to end of line, ``/* ... */`` (an unterminated ``/*`` is plain punctuation),
  ``#`` to end of line unless it starts a C preprocessor directive (``#include``, ``#  define`` ...), which
  gives the tokens ``#`` and the directive word;
* whitespace is dropped; every other ASCII punctuation character is its own token (so ``a+=1`` and
  ``a += 1`` agree; multi-character operators are sequences of one-character tokens);
* the HTML entities ``&lt; &gt; &amp; &quot; &#39; &#x27; &apos;`` decode to their character and
  ``&nbsp;`` is whitespace, so code in an escaped ``<pre>`` block tokenises like the source.

Fingerprints
------------
A k-gram hash over token ids (polynomial, then splitmix64, 63 bits) at every token position; k-grams that
carry little code (fewer than ``min_code`` code-punctuation tokens among ``( ) { } [ ] ; = < > + - * / % &
| ^ ! ~ # @ \\`` or fewer than ``min_distinct`` distinct tokens, e.g. prose or runs of ``#include "..."``)
are skipped on both sides, and so are k-grams with fewer than ``min_words`` words (identifiers, keywords,
directive names): rows of numbers, strings and punctuation (byte arrays, test vectors, numeric tables)
are shared by unrelated files and never count. Winnowing (Schleimer, Wilkerson, Aiken 2003: the rightmost minimum of every
window of ``w`` hashes) selects the fingerprints, so any shared run of ``w + k - 1`` tokens is found.
Fingerprints present in more than ``max_df`` reference files (idioms, boilerplate) are dropped from the index.

Matching
--------
Document fingerprints are looked up with ``numpy.searchsorted`` in the sorted index. Hits are grouped by
(document, reference) into regions (consecutive hits no more than ``gap`` tokens apart). Each region is
extended token by token while the document and the reference token streams (stored in the index) agree,
so its offsets cover the copied code, not only the winnowed k-grams. For each region:

* ``containment`` = share of the region's fingerprints (occurrences) found in the reference: a small snippet
  inside a big page or a big file scores high;
* ``coverage`` = distinct reference fingerprints found / the reference's fingerprints (a whole-file copy ~1);
* ``similarity`` = estimated Jaccard of region and reference fingerprint sets;
* ``start``, ``end``: Python ``str`` offsets ``[start, end)`` of the region in the document.

A region is reported when ``containment >= min_containment``, it spans ``>= min_tokens`` tokens and has
``>= min_hits`` hits. Results per document are ordered by start, then containment (best first).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .kernels import string_buffers
from .safeio import atomic_output, write_text
from .errors import ProvenanceError

__all__ = [
    "MATCH_FIELD",
    "MATCH_TYPE",
    "KEYWORDS",
    "DEFAULT_PARAMS",
    "CODE_EXTENSIONS",
    "CodeIndex",
    "build_index",
    "load_index",
    "tokenize",
    "fingerprints",
]

MATCH_FIELD = pa.struct(
    [
        ("ref", pa.string()),
        ("license", pa.string()),
        ("containment", pa.float64()),
        ("similarity", pa.float64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("coverage", pa.float64()),
    ]
)
MATCH_TYPE = pa.list_(MATCH_FIELD)

FORMAT_VERSION = 2  # 2: Markdown fences / backticks / line numbers in the tokenizer, min_words, licenses

# Fingerprinting parameters are fixed at build time (stored in meta.json and reused by the matcher);
# the thresholds can be changed at load time.
DEFAULT_PARAMS = {"k": 16, "w": 8, "min_code": 3, "min_distinct": 6, "max_period": 12, "min_words": 3, "max_df": 20}
DEFAULT_THRESHOLDS = {"min_containment": 0.5, "min_tokens": 50, "min_hits": 5, "gap": 48, "max_results": 16}

CODE_EXTENSIONS = frozenset(
    "c h cc cpp cxx c++ hh hpp hxx inl m mm py pyi java kt kts scala js jsx mjs cjs ts tsx go rs cs swift php rb "
    "pl pm lua sh bash zsh r jl dart groovy gradle sql vb fs ml hs ex exs erl clj".split()
)

# --------------------------------------------------------------------------------------------------
# Token vocabulary: 1 ID, 2 NUM, 3 STR, 33..126 ASCII punctuation, 200 + i keyword i.

TOK_ID, TOK_NUM, TOK_STR = 1, 2, 3
KW_BASE = 200

KEYWORDS = tuple(
    sorted(
        set(
            # C / C++
            "auto break case char const continue default do double else enum extern float for goto if inline int "
            "long register restrict return short signed sizeof static struct switch typedef union unsigned void "
            "volatile while _Bool bool catch class constexpr delete explicit friend mutable namespace new noexcept "
            "nullptr operator private protected public template this throw try typename using virtual override final "
            # Java / JavaScript / TypeScript
            "abstract boolean byte extends implements import instanceof interface package super synchronized throws "
            "null true false function var let typeof undefined async await yield "
            # Go / Rust
            "func go chan defer map range select type fallthrough fn mut impl trait pub use mod match loop struct "
            # Python
            "False None True and as assert def del elif except finally from global in is lambda nonlocal not or "
            "pass raise with".split()
        )
    )
)
DIRECTIVES = ("include", "define", "undef", "ifdef", "ifndef", "if", "elif", "else", "endif", "pragma", "error",
              "warning", "line", "import")
_DIR_BASE = KW_BASE + len(KEYWORDS)  # directive words after '#' get their own ids
VOCAB = _DIR_BASE + len(DIRECTIVES) + 1

# Code punctuation: a k-gram needs min_code of these to be fingerprinted.
_CODE_PUNCT = "(){}[];=<>+-*/%&|^!~#@\\"


def _fnv(word: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in word:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _word_table(words, base):
    hs = np.array([_fnv(w.encode()) for w in words], dtype=np.uint64)
    order = np.argsort(hs, kind="stable")
    return hs[order], (np.arange(len(words), dtype=np.int32)[order] + base).astype(np.int32)


_KW_H, _KW_ID = _word_table(KEYWORDS, KW_BASE)
_DIR_H, _DIR_ID = _word_table(DIRECTIVES, _DIR_BASE)
_INC = _DIR_BASE + DIRECTIVES.index("include")
_IMP = _DIR_BASE + DIRECTIVES.index("import")
_PUNCT_TOKENS = frozenset(range(33, 127))
_IS_CODE = np.zeros(VOCAB, dtype=np.bool_)
for _c in _CODE_PUNCT:
    _IS_CODE[ord(_c)] = True
# Words (identifiers, keywords, directive names): a k-gram needs min_words of these, so rows of numbers,
# strings and punctuation (byte arrays, test vectors, numeric tables) are never fingerprinted.
_IS_WORD = np.zeros(VOCAB, dtype=np.bool_)
_IS_WORD[TOK_ID] = True
_IS_WORD[KW_BASE:VOCAB] = True


# --------------------------------------------------------------------------------------------------
# Compiled kernels


@numba.njit(cache=True, nogil=True, inline="always")
def _is_ident_start(x):
    return (x >= 97 and x <= 122) or (x >= 65 and x <= 90) or x == 95 or x == 36 or x >= 128


@numba.njit(cache=True, nogil=True, inline="always")
def _is_ident(x):
    return (x >= 97 and x <= 122) or (x >= 65 and x <= 90) or (x >= 48 and x <= 57) or x == 95 or x == 36 or x >= 128


@numba.njit(cache=True, nogil=True)
def _lookup(h, table_h, table_id):
    lo = 0
    hi = len(table_h)
    while lo < hi:
        mid = (lo + hi) >> 1
        if table_h[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(table_h) and table_h[lo] == h:
        return table_id[lo]
    return -1


@numba.njit(cache=True, nogil=True)
def _entity(data, j, end):
    """(char, length) of an HTML entity at data[j] == '&'; char 0 = not one we decode, 32 = &nbsp;."""
    n = end - j
    if n >= 4 and data[j + 3] == 59:  # &lt; &gt;
        if data[j + 1] == 108 and data[j + 2] == 116:
            return 60, 4
        if data[j + 1] == 103 and data[j + 2] == 116:
            return 62, 4
    if n >= 5 and data[j + 1] == 97 and data[j + 2] == 109 and data[j + 3] == 112 and data[j + 4] == 59:
        return 38, 5  # &amp;
    if n >= 5 and data[j + 1] == 35 and data[j + 2] == 51 and data[j + 3] == 57 and data[j + 4] == 59:
        return 39, 5  # &#39;
    if n >= 6 and data[j + 5] == 59:
        if data[j + 1] == 113 and data[j + 2] == 117 and data[j + 3] == 111 and data[j + 4] == 116:
            return 34, 6  # &quot;
        if data[j + 1] == 110 and data[j + 2] == 98 and data[j + 3] == 115 and data[j + 4] == 112:
            return 32, 6  # &nbsp;
        if data[j + 1] == 97 and data[j + 2] == 112 and data[j + 3] == 111 and data[j + 4] == 115:
            return 39, 6  # &apos;
        if data[j + 1] == 35 and data[j + 2] == 120 and data[j + 3] == 50 and data[j + 4] == 55:
            return 39, 6  # &#x27;
    return 0, 1


@numba.njit(cache=True, nogil=True)
def _tokenize(offs, data, kw_h, kw_id, dir_h, dir_id, inc_id, imp_id, tok, tstart, tend, tdoc_offs):
    """Tokens of every document, flattened: id, byte start, byte end; tdoc_offs[i]..tdoc_offs[i+1]."""
    t = 0
    n = len(offs) - 1
    for d in range(n):
        tdoc_offs[d] = t
        j = offs[d]
        end = offs[d + 1]
        line_start = True  # only whitespace seen since the last newline
        while j < end:
            x = data[j]
            if x == 10:
                line_start = True
                j += 1
                continue
            if x == 32 or x == 9 or x == 13 or x == 11 or x == 12:
                j += 1
                continue
            if x == 0xC2 and j + 1 < end and data[j + 1] == 0xA0:  # U+00A0 no-break space
                j += 2
                continue
            if x == 96 or (x == 126 and line_start):  # ` or ~
                if line_start:  # a Markdown fence line (``` or ~~~, any info string after it): dropped
                    k2 = j
                    while k2 < end and data[k2] == x:
                        k2 += 1
                    if k2 - j >= 3:
                        while k2 < end and data[k2] != 10:
                            k2 += 1
                        j = k2
                        continue
                if x == 96:  # a backtick (inline code span, stray backtick, JS template) separates, nothing more
                    j += 1
                    continue
            if line_start and x >= 48 and x <= 57:
                # a line number copied from a code viewer: "12. ", "12: ", "12 | ", "12│", "  12  code"
                k2 = j
                while k2 < end and data[k2] >= 48 and data[k2] <= 57:
                    k2 += 1
                k3 = k2
                while k3 < end and (data[k3] == 32 or data[k3] == 9):
                    k3 += 1
                strip = -1
                if k3 >= end or data[k3] == 10 or data[k3] == 13:
                    strip = k3  # a number alone on its line
                elif data[k3] == 124:
                    strip = k3 + 1
                elif data[k3] == 0xE2 and k3 + 2 < end and data[k3 + 1] == 0x94 and data[k3 + 2] == 0x82:
                    strip = k3 + 3
                elif (data[k3] == 46 or data[k3] == 58) and k3 == k2 and (
                        k3 + 1 >= end or data[k3 + 1] == 32 or data[k3 + 1] == 9 or data[k3 + 1] == 10):
                    strip = k3 + 1
                elif k3 > k2 and data[k3] != 44 and data[k3] != 59 and data[k3] != 46 and data[k3] != 58:
                    strip = k3  # "12  code": a number, spaces, then something that does not continue a row (, ; . :)
                if strip > 0:
                    j = strip  # line_start stays True: the rule applies again to what follows
                    continue
            was_line_start = line_start
            line_start = False
            s = j
            if x == 38:  # '&': maybe an HTML entity
                c, ln = _entity(data, j, end)
                if c == 32:
                    j += ln
                    line_start = was_line_start
                    continue
                if c != 0:
                    if c == 34 or c == 39:  # an escaped quote opens a string: keep it simple, one STR token
                        # find the matching escaped or raw quote on the same line
                        k2 = j + ln
                        while k2 < end and data[k2] != 10:
                            if data[k2] == c:
                                k2 += 1
                                break
                            if data[k2] == 38:
                                c2, ln2 = _entity(data, k2, end)
                                if c2 == c:
                                    k2 += ln2
                                    break
                            k2 += 1
                        tok[t] = 3
                        tstart[t] = s
                        tend[t] = k2
                        t += 1
                        j = k2
                        continue
                    tok[t] = c
                    tstart[t] = s
                    tend[t] = j + ln
                    t += 1
                    j += ln
                    continue
            if _is_ident_start(x):
                h = np.uint64(0xCBF29CE484222325)
                while j < end and _is_ident(data[j]):
                    if data[j] == 0xC2 and j + 1 < end and data[j + 1] == 0xA0:
                        break
                    h = (h ^ np.uint64(data[j])) * np.uint64(0x100000001B3)
                    j += 1
                code = 1
                if j - s <= 12:
                    kw = _lookup(h, kw_h, kw_id)
                    if kw >= 0:
                        code = kw
                tok[t] = code
                tstart[t] = s
                tend[t] = j
                t += 1
                continue
            if x >= 48 and x <= 57:
                j += 1
                while j < end:
                    y = data[j]
                    if _is_ident(y) and y < 128 or y == 46:
                        j += 1
                    elif (y == 43 or y == 45) and (data[j - 1] == 101 or data[j - 1] == 69 or data[j - 1] == 112 or data[j - 1] == 80):
                        j += 1
                    else:
                        break
                tok[t] = 2
                tstart[t] = s
                tend[t] = j
                t += 1
                continue
            if x == 34 or x == 39:  # " '
                if j + 2 < end and data[j + 1] == x and data[j + 2] == x:  # triple quote
                    k2 = j + 3
                    found = -1
                    while k2 + 2 < end:
                        if data[k2] == 92:
                            k2 += 2
                            continue
                        if data[k2] == x and data[k2 + 1] == x and data[k2 + 2] == x:
                            found = k2 + 3
                            break
                        k2 += 1
                    if found > 0:
                        tok[t] = 3
                        tstart[t] = s
                        tend[t] = found
                        t += 1
                        j = found
                        continue
                k2 = j + 1
                while k2 < end:
                    y = data[k2]
                    if y == 92:
                        k2 += 2
                        continue
                    if y == x:
                        k2 += 1
                        break
                    if y == 10:
                        break
                    k2 += 1
                if k2 > end:
                    k2 = end
                tok[t] = 3
                tstart[t] = s
                tend[t] = k2
                t += 1
                j = k2
                continue
            if x == 47 and j + 1 < end:  # '/'
                y = data[j + 1]
                if y == 47:  # // comment
                    j += 2
                    while j < end and data[j] != 10:
                        j += 1
                    continue
                if y == 42:  # /* comment */ (unterminated: plain punctuation)
                    k2 = j + 2
                    found = -1
                    while k2 + 1 < end:
                        if data[k2] == 42 and data[k2 + 1] == 47:
                            found = k2 + 2
                            break
                        k2 += 1
                    if found > 0:
                        j = found
                        line_start = was_line_start
                        continue
            if x == 35:  # '#': preprocessor directive or comment
                k2 = j + 1
                while k2 < end and (data[k2] == 32 or data[k2] == 9):
                    k2 += 1
                ws = k2
                h = np.uint64(0xCBF29CE484222325)
                while k2 < end and ((data[k2] >= 97 and data[k2] <= 122)):
                    h = (h ^ np.uint64(data[k2])) * np.uint64(0x100000001B3)
                    k2 += 1
                dcode = -1
                if k2 > ws and was_line_start and (k2 >= end or not _is_ident(data[k2])):
                    dcode = _lookup(h, dir_h, dir_id)
                if dcode >= 0:
                    tok[t] = 35
                    tstart[t] = s
                    tend[t] = s + 1
                    t += 1
                    tok[t] = dcode
                    tstart[t] = ws
                    tend[t] = k2
                    t += 1
                    j = k2
                    if dcode == inc_id or dcode == imp_id:  # the header name, <...> or "...", is one STR
                        while j < end and (data[j] == 32 or data[j] == 9):
                            j += 1
                        if j < end and (data[j] == 60 or data[j] == 34):
                            close = 62 if data[j] == 60 else 34
                            k3 = j + 1
                            while k3 < end and data[k3] != 10 and data[k3] != close:
                                k3 += 1
                            if k3 < end and data[k3] == close:
                                tok[t] = 3
                                tstart[t] = j
                                tend[t] = k3 + 1
                                t += 1
                                j = k3 + 1
                    continue
                # comment to end of line
                while j < end and data[j] != 10:
                    j += 1
                continue
            if x < 128:
                if x > 32 and x < 127:
                    tok[t] = x
                    tstart[t] = s
                    tend[t] = j + 1
                    t += 1
                j += 1
                continue
            j += 1  # stray UTF-8 byte (not reached: x >= 128 starts an identifier)
    tdoc_offs[n] = t
    return t


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z


@numba.njit(cache=True, nogil=True)
def _fingerprint(tok, tdoc_offs, k, w, min_code, min_distinct, max_period, min_words, is_code, is_word, vocab, fp_hash,
                 fp_doc, fp_pos, fp_doc_offs):
    """Winnowed k-gram fingerprints of every document: hash (int64 >= 0), document, token position of the
    k-gram's first token. Uninformative k-grams are skipped (hash = MAX, never selected)."""
    MAX = np.int64(0x7FFFFFFFFFFFFFFF)
    B = np.uint64(0x100000001B3)
    Bk = np.uint64(1)
    for _ in range(k - 1):
        Bk = Bk * B
    nd = len(tdoc_offs) - 1
    counts = np.zeros(vocab, np.int32)
    f = 0
    hashes = np.empty(0, np.int64)
    periodic = np.zeros(0, np.bool_)
    for d in range(nd):
        fp_doc_offs[d] = f
        a = tdoc_offs[d]
        b = tdoc_offs[d + 1]
        nk = b - a - k + 1
        if nk <= 0:
            continue
        if len(hashes) < nk:
            hashes = np.empty(max(nk, 2 * len(hashes)), np.int64)
            periodic = np.zeros(len(hashes), np.bool_)
        periodic[:nk] = False
        # k-grams that repeat with a short period (runs of alike statements, enum tables) carry little
        for per in range(1, min(max_period, k - 4) + 1):
            streak = 0
            for x in range(a, b - per):
                if tok[x] == tok[x + per]:
                    streak += 1
                else:
                    streak = 0
                i0 = x - a - (k - per) + 1
                if i0 >= 0 and i0 < nk and streak >= k - per:
                    periodic[i0] = True
        h = np.uint64(0)
        ncode = 0
        nword = 0
        ndist = 0
        for i in range(k):
            x = tok[a + i]
            h = h * B + np.uint64(x)
            if is_code[x]:
                ncode += 1
            if is_word[x]:
                nword += 1
            if counts[x] == 0:
                ndist += 1
            counts[x] += 1
        for i in range(nk):
            if i > 0:
                xo = tok[a + i - 1]
                xn = tok[a + i + k - 1]
                h = (h - np.uint64(xo) * Bk) * B + np.uint64(xn)
                if is_code[xo]:
                    ncode -= 1
                if is_word[xo]:
                    nword -= 1
                counts[xo] -= 1
                if counts[xo] == 0:
                    ndist -= 1
                if is_code[xn]:
                    ncode += 1
                if is_word[xn]:
                    nword += 1
                if counts[xn] == 0:
                    ndist += 1
                counts[xn] += 1
            if ncode >= min_code and ndist >= min_distinct and nword >= min_words and not periodic[i]:
                hashes[i] = np.int64(_mix(h) >> np.uint64(1))
            else:
                hashes[i] = MAX
        for i in range(k):  # reset counts for the last k-gram's tokens
            counts[tok[a + nk - 1 + i]] = 0
        # robust winnowing: rightmost minimum of each window of w hashes
        last = -1
        nw = nk - w + 1
        if nw <= 0:
            nw = 1
        for s in range(nw):
            e = min(s + w, nk)
            mi = s
            mv = hashes[s]
            for q in range(s + 1, e):
                if hashes[q] <= mv:
                    mv = hashes[q]
                    mi = q
            if mv == MAX:
                continue
            if mi != last:
                fp_hash[f] = mv
                fp_doc[f] = d
                fp_pos[f] = mi
                f += 1
                last = mi
    fp_doc_offs[nd] = f
    return f


@numba.njit(cache=True, nogil=True)
def _byte_to_char(data, base, byte_pos):
    """Code point offsets (relative to base) of sorted-or-not byte positions within one document."""
    out = np.empty(len(byte_pos), np.int64)
    for i in range(len(byte_pos)):
        c = 0
        for j in range(base, byte_pos[i]):
            if (data[j] & 0xC0) != 0x80:
                c += 1
        out[i] = c
    return out


@numba.njit(cache=True, nogil=True)
def _extend(dtok, da, db, rtok, ra, rb, dstart, rstart, dend, rend):
    """Extend the aligned span [dstart, dend) ~ [rstart, rend) backwards and forwards while tokens agree."""
    while dstart > da and rstart > ra and dtok[dstart - 1] == rtok[rstart - 1]:
        dstart -= 1
        rstart -= 1
    while dend < db and rend < rb and dtok[dend] == rtok[rend]:
        dend += 1
        rend += 1
    return dstart, dend


# --------------------------------------------------------------------------------------------------
# Python wrappers


def _as_string_array(texts) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), pa.large_string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = pc.cast(texts, pa.large_string())
    if texts.null_count:
        texts = texts.fill_null("")
    return texts


def tokenize(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(token ids int32, byte starts int64, byte ends int64, per-document token offsets int64[n+1])."""
    arr = _as_string_array(texts)
    offs, data = string_buffers(arr)
    nbytes = int(offs[-1] - offs[0]) if len(offs) else 0
    cap = nbytes + 1
    tok = np.empty(cap, np.int32)
    ts = np.empty(cap, np.int64)
    te = np.empty(cap, np.int64)
    tdo = np.empty(len(offs), np.int64)
    n = _tokenize(offs, data, _KW_H, _KW_ID, _DIR_H, _DIR_ID, _INC, _IMP, tok, ts, te, tdo)
    return tok[:n], ts[:n], te[:n], tdo


def fingerprints(tok, tdoc_offs, params: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hash int64, doc int64, token position within doc int64, per-document offsets int64[n+1])."""
    cap = max(len(tok), 1)
    h = np.empty(cap, np.int64)
    d = np.empty(cap, np.int64)
    p = np.empty(cap, np.int64)
    fo = np.empty(len(tdoc_offs), np.int64)
    n = _fingerprint(tok, tdoc_offs, int(params["k"]), int(params["w"]), int(params["min_code"]),
                     int(params["min_distinct"]), int(params["max_period"]), int(params.get("min_words", 0)), _IS_CODE,
                     _IS_WORD, VOCAB, h, d, p, fo)
    return h[:n].copy(), d[:n].copy(), p[:n].copy(), fo


# --------------------------------------------------------------------------------------------------
# Building


def _is_license_file(name: str) -> bool:
    u = name.upper()
    for stem in ("LICENSE", "LICENCE", "COPYING"):
        if u == stem or (u.startswith(stem) and u[len(stem)] in ".-_"):
            return True
    return False


class _FolderLicenses:
    """The license of a folder inside a source: its own LICENSE / LICENCE / COPYING (``.txt``, ``.md``,
    ``-MIT``, ``_1_0.txt`` ... variants; the first, in name order, whose text the license detector
    recognises), else its parent's, up to the source root (never above it). Cached per folder."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[Path, str | None] = {}

    def own(self, folder: Path) -> str | None:
        from .licenses import detect, primary_license

        try:
            names = sorted(x for x in os.listdir(folder) if _is_license_file(x))
        except OSError:
            return None
        for n in names:
            f = folder / n
            if not f.is_file():
                continue
            try:
                text = f.read_bytes()[:1 << 20].decode("utf-8", "replace")
            except OSError:
                continue
            lic = primary_license(detect(text))
            if lic:
                return lic
        return None

    def __call__(self, folder: Path) -> str | None:
        if folder in self.cache:
            return self.cache[folder]
        lic = self.own(folder)
        if lic is None and folder != self.root and self.root in folder.parents:
            lic = self(folder.parent)
        self.cache[folder] = lic
        return lic


def _header_license(text: str) -> str | None:
    """A file's own license: an SPDX tag or a license notice (header) in its first 8 KB."""
    from .licenses import detect, primary_license

    return primary_license([f for f in detect(text[:8192]) if f["kind"] in ("spdx-tag", "notice")])


def _read_sources(sources: list[str]) -> list[dict]:
    """Records {name, path, text, license, source} from folders of code files and JSON Lines(.gz) of files
    (the ``licensed_source_files`` format: repo, path, content, kind, file_spdx_identifier,
    repo_declared_license). Records with ``kind == "license_file"`` are skipped (license texts, not code)."""
    out: list[dict] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            folder_license = _FolderLicenses(p)
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                if f.suffix.lstrip(".").lower() not in CODE_EXTENSIONS:
                    continue
                try:
                    text = f.read_bytes().decode("utf-8")
                except UnicodeDecodeError:
                    continue
                rel = f.relative_to(p).as_posix()
                out.append({"name": f"{p.name}/{rel}", "path": rel, "text": text, "license": None, "source": str(src),
                            "folder_license": folder_license(f.parent)})
        elif not p.exists():
            raise ProvenanceError(f"{src}: no such file or folder (index sources are folders of code, code files, or "
                                  f"JSON Lines of {{path, content}} records)")
        elif p.suffix.lstrip(".").lower() in CODE_EXTENSIONS:
            try:
                text = p.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ProvenanceError(f"{src}: not UTF-8 text") from exc
            out.append({"name": p.name, "path": p.name, "text": text, "license": None, "source": str(src),
                        "folder_license": _FolderLicenses(p.parent)(p.parent)})
        else:
            opener = gzip.open if p.name.endswith(".gz") else open
            with opener(p, "rt", encoding="utf-8", errors="strict") as fh:
                try:
                    for n, line in enumerate(fh, 1):
                        if not line.strip():
                            continue
                        try:
                            r = json.loads(line)
                        except ValueError:
                            r = None
                        if not isinstance(r, dict):
                            raise ProvenanceError(
                                f"{src}:{n}: not a JSON object (index sources are folders of code, code files "
                                f"({', '.join(sorted(CODE_EXTENSIONS)[:6])}, ...), or JSON Lines of {{path, content}} records)")
                        if r.get("kind") == "license_file":
                            continue
                        text = r.get("content") if r.get("content") is not None else r.get("text")
                        if not text or not isinstance(text, str):
                            continue
                        path = str(r.get("path") or "")
                        name = f"{r['repo']}/{path}" if r.get("repo") else path
                        lic = r.get("file_spdx_identifier") or r.get("license")
                        repo_lic = r.get("repo_declared_license")
                        out.append({"name": name, "path": path, "text": text, "license": lic if isinstance(lic, str) else None,
                                    "source": str(src), "folder_license": repo_lic if isinstance(repo_lic, str) else None})
                except (UnicodeDecodeError, EOFError, OSError) as exc:
                    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
                        raise
                    raise ProvenanceError(f"{src}: cannot be read as (gzipped) JSON Lines: {type(exc).__name__}") from exc
    return out


def build_index(sources: list[str] | str, out_dir, *, name: str, license: str | None = None, **params) -> dict:
    """Index the code files of ``sources`` into ``out_dir`` and return the meta dictionary.

    Files written: ``refs.parquet`` (ref_id, name, path, license, source, bytes, sha1, tokens, fingerprints,
    token_stream: the normalised token ids as little-endian uint16 bytes), ``fingerprints.parquet``
    (fingerprint int64, ref_id int32, position int32 = token offset in the reference; sorted, one row per
    distinct (fingerprint, ref)), ``meta.json`` (name, format, parameters, counts). ``license`` overrides
    the SPDX id of every file; otherwise a file's license is, in order: its declared SPDX id (JSON Lines
    ``file_spdx_identifier``), an SPDX tag or license notice in its first 8 KB (``licenses.detect``), its
    repository's license (a folder source: the LICENSE / LICENCE / COPYING file of its folder or the nearest
    parent inside the source; JSON Lines: ``repo_declared_license``). Rebuilding the same sources gives
    byte-identical files.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [str(sources)]
    prm = dict(DEFAULT_PARAMS)
    prm.update({k: v for k, v in params.items() if k in DEFAULT_PARAMS})
    recs = _read_sources([str(s) for s in sources])
    # stable order, duplicate names keep the first
    seen: set[str] = set()
    uniq = []
    for r in sorted(recs, key=lambda r: (r["name"], r["source"])):
        if r["name"] in seen:
            continue
        seen.add(r["name"])
        uniq.append(r)
    recs = uniq
    for r in recs:
        if license:
            r["license"] = license
        elif not r["license"]:
            r["license"] = _header_license(r["text"]) or r.get("folder_license")
    texts = pa.array([r["text"] for r in recs], pa.large_string())
    tok, _, _, tdo = tokenize(texts)
    h, d, p, _ = fingerprints(tok, tdo, prm)
    # one row per distinct (hash, ref), first position
    order = np.lexsort((p, d, h))
    h, d, p = h[order], d[order], p[order]
    keep = np.ones(len(h), bool)
    if len(h):
        keep[1:] = (h[1:] != h[:-1]) | (d[1:] != d[:-1])
    h, d, p = h[keep], d[keep], p[keep]
    # document frequency; drop fingerprints in more than max_df references
    if len(h):
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
        df = np.diff(np.r_[starts, len(h)])
        dfr = np.repeat(df, df)
        common = dfr > int(prm["max_df"])
    else:
        common = np.zeros(0, bool)
    common_h = np.unique(h[common])
    n_common = int(common_h.size)
    h, d, p = h[~common], d[~common], p[~common]
    nfp = np.bincount(d, minlength=len(recs)).astype(np.int64)
    ntok = np.diff(tdo).astype(np.int64)
    streams = [tok[tdo[i] : tdo[i + 1]].astype("<u2").tobytes() for i in range(len(recs))]
    refs = pa.table(
        {
            "ref_id": pa.array(np.arange(len(recs), dtype=np.int32)),
            "name": pa.array([r["name"] for r in recs], pa.string()),
            "path": pa.array([r["path"] for r in recs], pa.string()),
            "license": pa.array([r["license"] for r in recs], pa.string()),
            "source": pa.array([r["source"] for r in recs], pa.string()),
            "bytes": pa.array([len(r["text"].encode("utf-8")) for r in recs], pa.int64()),
            "sha1": pa.array([hashlib.sha1(r["text"].encode("utf-8")).hexdigest() for r in recs], pa.string()),
            "tokens": pa.array(ntok, pa.int64()),
            "fingerprints": pa.array(nfp, pa.int64()),
            "token_stream": pa.array(streams, pa.binary()),
        }
    )
    fps = pa.table(
        {
            "fingerprint": pa.array(h, pa.int64()),
            "ref_id": pa.array(d.astype(np.int32)),
            "position": pa.array(p.astype(np.int32)),
        }
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opts = dict(compression="zstd", write_statistics=True, store_schema=False)
    # each file through an exclusively created temporary file renamed over its name (never through a symlink)
    with atomic_output(out / "refs.parquet") as f:
        pq.write_table(refs, f, **opts)
    with atomic_output(out / "fingerprints.parquet") as f:
        pq.write_table(fps, f, row_group_size=1 << 20, **opts)
    with atomic_output(out / "common_fingerprints.parquet") as f:
        pq.write_table(pa.table({"fingerprint": pa.array(common_h, pa.int64())}), f, **opts)
    meta = {
        "name": name,
        "format": "provenance.codeindex",
        "format_version": FORMAT_VERSION,
        "params": prm,
        "license_override": license,
        "sources": [str(s) for s in sources],
        "refs": len(recs),
        "tokens": int(ntok.sum()),
        "fingerprints": int(len(h)),
        "distinct_fingerprints": int(np.unique(h).size),
        "dropped_common_fingerprints": n_common,
        "refs_without_fingerprints": int((nfp == 0).sum()),
        "bytes": int(sum(refs.column("bytes").to_pylist())),
    }
    write_text(out / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


# --------------------------------------------------------------------------------------------------
# Loading and matching


@dataclass
class CodeIndex:
    meta: dict
    refs: pa.Table
    fp_hash: np.ndarray  # sorted int64
    fp_ref: np.ndarray  # int64
    fp_pos: np.ndarray  # int64
    ref_names: list
    ref_licenses: list
    ref_nfp: np.ndarray
    ref_tok: np.ndarray  # all reference token streams, concatenated (int32)
    ref_tok_offs: np.ndarray
    common: np.ndarray  # sorted int64: fingerprints dropped from the index as too common (ignored in documents)
    thresholds: dict = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    @property
    def params(self) -> dict:
        return self.meta["params"]

    def match_batch(self, texts, **thresholds) -> pa.Array:
        """Per row, a list of ``MATCH_FIELD`` structs (empty when nothing matches). Keyword arguments override
        the thresholds (min_containment, min_tokens, min_hits, gap, max_results) for this call."""
        th = dict(self.thresholds)
        th.update(thresholds)
        arr = _as_string_array(texts)
        n = len(arr)
        rows: list[list] = [[] for _ in range(n)]
        if n == 0 or len(self.fp_hash) == 0:
            return pa.array(rows, MATCH_TYPE)
        tok, ts, te, tdo = tokenize(arr)
        arr_offs, data = string_buffers(arr)
        ts = ts - arr_offs[np.repeat(np.arange(n), np.diff(tdo))]  # byte offsets relative to each document
        te = te - arr_offs[np.repeat(np.arange(n), np.diff(tdo))]
        h, d, p, fo = fingerprints(tok, tdo, self.params)
        if len(self.common) and len(h):
            ok = self.common[np.minimum(np.searchsorted(self.common, h), len(self.common) - 1)] != h
            if not ok.all():
                h, d, p = h[ok], d[ok], p[ok]
                fo = np.searchsorted(d, np.arange(n + 1), "left").astype(np.int64)
        # lookup
        lo = np.searchsorted(self.fp_hash, h, "left")
        hi = np.searchsorted(self.fp_hash, h, "right")
        cnt = hi - lo
        hit = np.flatnonzero(cnt)
        if len(hit) == 0:
            return pa.array(rows, MATCH_TYPE)
        c = cnt[hit]
        q = np.repeat(hit, c)  # doc fingerprint index
        e = np.repeat(lo[hit] - np.cumsum(np.r_[0, c[:-1]]), c) + np.arange(int(c.sum()))  # index entry
        hd, hp, hr, hrp, hh = d[q], p[q], self.fp_ref[e], self.fp_pos[e], h[q]
        # group by (doc, ref) and doc position; split into regions at gaps
        order = np.lexsort((hp, hr, hd))
        hd, hp, hr, hrp, hh = hd[order], hp[order], hr[order], hrp[order], hh[order]
        k = int(self.params["k"])
        brk = np.ones(len(hd), bool)
        brk[1:] = (hd[1:] != hd[:-1]) | (hr[1:] != hr[:-1]) | (hp[1:] - hp[:-1] > int(th["gap"]))
        rid = np.cumsum(brk) - 1
        rs = np.flatnonzero(brk)
        re_ = np.r_[rs[1:], len(hd)]
        nhit = re_ - rs
        cand = np.flatnonzero(nhit >= int(th["min_hits"]))
        if len(cand) == 0:
            return pa.array(rows, MATCH_TYPE)
        # distinct reference fingerprints per region (for coverage / similarity)
        key_order = np.lexsort((hh, rid))
        kh, kr = hh[key_order], rid[key_order]
        first = np.ones(len(kh), bool)
        first[1:] = (kh[1:] != kh[:-1]) | (kr[1:] != kr[:-1])
        ndistinct = np.bincount(kr[first], minlength=len(rs))
        results = []
        for r in cand:
            a, b = rs[r], re_[r]
            doc = int(hd[a])
            ref = int(hr[a])
            da, db = int(tdo[doc]), int(tdo[doc + 1])
            ra, rb = int(self.ref_tok_offs[ref]), int(self.ref_tok_offs[ref + 1])
            # extend backwards from the first hit and forwards from the last, each aligned in the reference
            s0, _ = _extend(tok, da, db, self.ref_tok, ra, rb, da + int(hp[a]), ra + int(hrp[a]),
                            da + int(hp[a]) + k, ra + int(hrp[a]) + k)
            lp, lr = int(hp[b - 1]), int(hrp[b - 1])
            _, e1 = _extend(tok, da, db, self.ref_tok, ra, rb, da + lp, ra + lr, da + lp + k, ra + lr + k)
            # an extension that ran one or two words into the prose after the code ("}" then "Thanks ...")
            j = e1
            while j - 1 > s0 and e1 - j < 2 and tok[j - 1] not in _PUNCT_TOKENS:
                j -= 1
            if j < e1 and j - 1 > s0 and tok[j - 1] in (41, 59, 93, 125) \
                    and 10 in data[arr_offs[doc] + te[j - 1] : arr_offs[doc] + ts[j]]:
                e1 = j
            ntokens = e1 - s0
            if ntokens < int(th["min_tokens"]):
                continue
            # doc fingerprints whose k-gram lies inside the region
            fa, fb = int(fo[doc]), int(fo[doc + 1])
            pos = p[fa:fb]
            i0 = int(np.searchsorted(pos, s0 - da, "left"))
            i1 = int(np.searchsorted(pos, e1 - da - k, "right"))
            nreg = max(i1 - i0, 1)
            inreg = (hp[a:b] >= s0 - da) & (hp[a:b] <= e1 - da - k)
            # hits counted per doc fingerprint occurrence (one ref may hold a hash once; doc occurrences distinct)
            m_occ = int(np.unique(hp[a:b][inreg]).size)
            containment = min(1.0, m_occ / nreg)
            if containment < float(th["min_containment"]):
                continue
            m = int(ndistinct[r])
            nref = int(self.ref_nfp[ref])
            coverage = m / nref if nref else 0.0
            nreg_distinct = int(np.unique(h[fa + i0 : fa + i1]).size)
            similarity = m / max(nreg_distinct + nref - m, 1)
            results.append((doc, ref, containment, similarity, coverage, int(ts[s0]), int(te[e1 - 1]), m_occ))
        if not results:
            return pa.array(rows, MATCH_TYPE)
        # byte -> str offsets, per document
        by_doc: dict[int, list] = {}
        for rec in results:
            by_doc.setdefault(rec[0], []).append(rec)
        for doc, recs in by_doc.items():
            recs = _undominated(recs)
            base = int(arr_offs[doc])
            bpos = np.array([x for rec in recs for x in (rec[5], rec[6])], np.int64) + base
            cpos = _byte_to_char(data, base, bpos)
            out = []
            for i, (_, ref, cont, sim, cov, _, _, _) in enumerate(recs):
                out.append(
                    {
                        "ref": self.ref_names[ref],
                        "license": self.ref_licenses[ref],
                        "containment": round(cont, 6),
                        "similarity": round(sim, 6),
                        "start": int(cpos[2 * i]),
                        "end": int(cpos[2 * i + 1]),
                        "coverage": round(cov, 6),
                    }
                )
            out.sort(key=lambda f: (f["start"], -f["containment"], -f["coverage"], f["ref"]))
            rows[doc] = out[: int(th["max_results"])]
        return pa.array(rows, MATCH_TYPE)


def _undominated(recs: list) -> list:
    """Drop a region that lies (>= 80 % of its span) inside a region of another reference with clearly more
    hits (a function shared by several files, found inside a whole-file copy of one of them)."""
    recs = sorted(recs, key=lambda r: -r[7])
    kept: list = []
    for r in recs:
        s, e, m = r[5], r[6], r[7]
        dom = False
        for q in kept:
            ov = min(e, q[6]) - max(s, q[5])
            if ov > 0.8 * (e - s) and m < 0.9 * q[7]:
                dom = True
                break
        if not dom:
            kept.append(r)
    return kept


def check_meta(out_dir, meta: dict) -> None:
    """A ``ProvenanceError`` (one line) unless ``meta`` is a code index of this format version."""
    if not isinstance(meta, dict) or meta.get("format") != "provenance.codeindex":
        raise ProvenanceError(f"{out_dir} is not a provenance code index")
    v = meta.get("format_version")
    if v != FORMAT_VERSION:
        raise ProvenanceError(
            f"{out_dir}: code index format version {v}, this version reads {FORMAT_VERSION}: rebuild it with "
            f"`provenance index build {meta.get('name') or 'NAME'} SOURCES --out {out_dir}`")


def load_index(out_dir, **thresholds) -> CodeIndex:
    """Load an index written by ``build_index``; keyword arguments override the default thresholds."""
    out = Path(out_dir)
    meta = json.loads((out / "meta.json").read_text())
    check_meta(out, meta)
    refs = pq.read_table(out / "refs.parquet")
    fps = pq.read_table(out / "fingerprints.parquet")
    h = fps.column("fingerprint").to_numpy()
    r = fps.column("ref_id").to_numpy().astype(np.int64)
    p = fps.column("position").to_numpy().astype(np.int64)
    if len(h) > 1 and not np.all(h[1:] >= h[:-1]):
        o = np.argsort(h, kind="stable")
        h, r, p = h[o], r[o], p[o]
    streams = refs.column("token_stream").to_pylist()
    lens = np.array([len(s) // 2 for s in streams], np.int64)
    toks = np.frombuffer(b"".join(streams), dtype="<u2").astype(np.int32) if streams else np.zeros(0, np.int32)
    th = dict(DEFAULT_THRESHOLDS)
    th.update(thresholds)
    return CodeIndex(
        meta=meta,
        refs=refs.drop_columns(["token_stream"]),
        fp_hash=np.ascontiguousarray(h),
        fp_ref=r,
        fp_pos=p,
        ref_names=refs.column("name").to_pylist(),
        ref_licenses=refs.column("license").to_pylist(),
        ref_nfp=refs.column("fingerprints").to_numpy(),
        ref_tok=toks,
        ref_tok_offs=np.r_[0, np.cumsum(lens)].astype(np.int64),
        common=np.sort(pq.read_table(out / "common_fingerprints.parquet").column("fingerprint").to_numpy()),
        thresholds=th,
    )
