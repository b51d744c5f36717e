"""Escaping for the places report text lands: Markdown (inline text, table cells, code spans), plain
terminal text, and chart labels. Every string that came from the corpus, from HTTP headers, from file or
bucket names, from takedown requests or from the about file goes through one of these; what the
templates themselves write is marked safe with :class:`Md`.

The Markdown escapes are chosen to hold in the renderers people use on the files: CommonMark / GFM
(GitHub, Hugging Face, markdown-it-py for ``datasheet.html``) and Python-Markdown, which passes raw HTML
through and knows fewer backslash escapes. So ``<``, ``>`` and entity-forming ``&`` become character
references (``&lt;``), never ``\\<``; the other Markdown punctuation is backslash-escaped; a value never
contains a line break (which would end a table row or start a block such as a heading).

YAML is not escaped here: the dataset card's header is written with a YAML serializer
(:func:`provenance.reports.card_yaml`).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["Md", "md_text", "md_code", "md_paragraphs", "plain", "chart_label"]


class Md(str):
    """Markdown that is safe to insert as is (written by the templates, or already escaped)."""

    __slots__ = ()


# line breaks CommonMark or a terminal honours, and the other separators a value must not carry
_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
# Unicode bidi overrides/isolates reorder what a reader sees ("Trojan Source"); zero-width joiners are fine
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_MD_BACKSLASH = set("\\`*_[]#!|~$")
_ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_BLANK_LINE = re.compile(r"(?:\r\n|[\r\n\v\f\x85\u2028\u2029])[ \t]*(?:\r\n|[\r\n\v\f\x85\u2028\u2029])+")
# what starts a block at the beginning of a line: a list item ("- ", "+ ", "1. ", "1) "), a block quote, a
# thematic break or setext underline ("---", "==="); "#", "*", "_", "`", "~", "|", "<" are escaped anywhere
_LINE_START = re.compile(r"^(?:([-+])(?=[ \t]|$)|(>)|(\d{1,9})([.)])(?=[ \t]|$)|([-=])(?=[-= \t]*$))")


def _clean(s: str) -> str:
    """One line of printable text: line breaks -> spaces, tabs -> spaces, control and bidi characters ->
    U+FFFD."""
    s = _BREAKS.sub(" ", s).replace("\t", " ")
    if s.isprintable() and not (_BIDI & set(s)):
        return s
    return "".join("\ufffd" if c in _BIDI or unicodedata.category(c) in ("Cc", "Cs") else c for c in s)


def _cut(s: str, limit: int | None) -> str:
    if limit is not None and len(s) > limit:
        return s[: limit - 1] + "…"
    return s


def md_text(v, *, limit: int | None = None, line_start: bool = True) -> Md:
    """``v`` as literal Markdown inline text, safe in a table cell, a list item or a heading.
    ``line_start``: also neutralise what would start a block when the value begins a line (``-``, ``+``,
    ``>``, ``1.``); harmless elsewhere."""
    if isinstance(v, Md):
        return v
    s = _cut(_clean("" if v is None else str(v)), limit)
    s = _ENTITY_LIKE.sub("&amp;", s)
    out = []
    for i, c in enumerate(s):
        if c == "_" and 0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum():
            out.append(c)  # between two letters or digits "_" can neither open nor close emphasis (US_SSN)
        elif c in _MD_BACKSLASH:
            out.append("\\" + c)
        elif c == "<":
            out.append("&lt;")
        else:
            out.append(c)
    s = "".join(out)
    if line_start:
        s = s.lstrip(" ")
        s = _LINE_START.sub(lambda m: m.group(3) + "\\" + m.group(4) if m.group(3) else "\\" + m.group(0), s, count=1)
    return Md(s)


def md_code(v, *, table: bool = False, limit: int | None = None) -> Md:
    """``v`` as a Markdown code span, whatever backticks it holds (the fence is longer than any run of
    backticks inside). ``table``: the span sits in a table cell, where GFM needs ``|`` escaped even inside
    code."""
    s = _cut(_clean("" if v is None else str(v)), limit)
    if not s.strip():
        return Md("(empty)") if not s else Md("`" + s + "`")
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    if s[0] in "` " or s[-1] in "` ":
        s = f" {s} "
    if table:
        s = s.replace("|", "\\|")
    return Md(f"{fence}{s}{fence}")


def md_paragraphs(v) -> Md:
    """Free text (the about file's description) as Markdown paragraphs: blank lines separate paragraphs,
    every paragraph is literal text."""
    text = "" if v is None else str(v)
    paras = [" ".join(p.split()) for p in _BLANK_LINE.split(text.strip())]
    return Md("\n\n".join(md_text(p) for p in paras if p))


def plain(v, *, limit: int | None = None) -> str:
    """``v`` for a terminal: one line, no control characters (no ANSI escape sequences from the corpus)."""
    return _cut(_clean("" if v is None else str(v)), limit)


def chart_label(v, limit: int = 40) -> str:
    """``v`` as a matplotlib label: one line, at most ``limit`` characters, and ``$`` escaped so that
    matplotlib never parses it as mathtext (a bad formula fails the whole chart)."""
    return _cut(_clean("" if v is None else str(v)), limit).replace("$", r"\$")
