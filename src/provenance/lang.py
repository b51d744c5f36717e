"""Document languages in one code system: BCP 47 tags with the shortest language subtag.

Sources disagree: HTTP ``Content-Language`` (``en-US``, ``de, en``), Common Crawl's
``WARC-Identified-Content-Language`` (ISO 639-3 lists such as ``spa,eng``), ``<html lang>`` and
``<meta http-equiv=content-language>``, and corpus fields (Dolma/CCNet ``en``, ``lang`` columns).
``normalize_tag`` maps every one of them to the same form:

* the first tag of a comma list (``spa,eng`` -> ``es``; ``de, en`` -> ``de``; ``en;q=0.8`` -> ``en``); the
  whole first item must be a tag (``en us``, ``en\n## x`` -> NULL);
* ``_`` read as ``-`` (``en_US`` -> ``en-US``);
* the two-letter ISO 639-1 code where one exists (``spa`` -> ``es``, ``eng`` -> ``en``, ``deu``/``ger`` ->
  ``de``), deprecated codes replaced (``iw`` -> ``he``), a three-letter code kept where no two-letter one
  exists (``fil``, ``yue``);
* subtags kept, cased per BCP 47 (RFC 5646 §2.1.1): ``EN-us`` -> ``en-US``, ``zh-hant-tw`` -> ``zh-Hant-TW``.
  Region subtags are *kept*, not reduced: ``en-US`` stays ``en-US``; a query for English uses
  ``language = 'en' OR language LIKE 'en-%'``;
* anything that is not a valid language tag (``english``, ``xx``, ``123``, ``*``, empty) and the
  "no linguistic content"/"undetermined" codes (``und``, ``zxx``) become NULL, never stored as written.

The mapping comes from ``langcodes`` (3.5, no dependencies, the IANA registry's aliases and ISO 639-3 ->
639-1). Its import costs ~170 ms, so it is imported only when a column holds a value that is not already
a canonical two-letter code (``en``, ``de``: the common case for corpus columns). ``normalize_array``
works columnar: each distinct value is mapped once (langcodes itself memoises, ~2 us a call).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

__all__ = ["normalize_tag", "normalize_array", "html_language"]

_SPLIT = re.compile(r"[,;]")
# BCP 47 shape: letters, digits and hyphens, starting with 2-8 letters (the full check is langcodes')
_SHAPE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*").fullmatch
_TWO_LETTER = re.compile(r"[a-z]{2}").fullmatch
_NOT_A_LANGUAGE = frozenset({"und", "zxx", "mis"})
_COMMON_639_1: frozenset[str] | None = None


@lru_cache(maxsize=4096)
def normalize_tag(value: str | None) -> str | None:
    """One language value in BCP 47 with the shortest language subtag, or None when it is not a tag."""
    if value is None:
        return None
    first = _SPLIT.split(value, 1)[0].strip(" \t").replace("_", "-")
    if not first or len(first) > 64 or not _SHAPE(first):
        return None
    import langcodes

    try:
        tag = langcodes.standardize_tag(first)
    except (ValueError, LookupError):
        return None
    if not langcodes.tag_is_valid(tag):
        return None
    if tag.split("-", 1)[0] in _NOT_A_LANGUAGE:
        return None
    return tag


def _canonical_two_letter() -> frozenset[str]:
    """The ISO 639-1 codes that are already their own canonical form (``iw``, ``in``, ``mo``, ``tl`` -> ``fil`` are not)."""
    global _COMMON_639_1
    if _COMMON_639_1 is None:
        _COMMON_639_1 = frozenset({
            "aa", "ab", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm", "bn",
            "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee",
            "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn",
            "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik",
            "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks",
            "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk",
            "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny",
            "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa",
            "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw",
            "ta", "te", "tg", "th", "ti", "tk", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur",
            "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu"})
    return _COMMON_639_1


def normalize_array(values: "pyarrow.Array") -> "pyarrow.Array":
    """``normalize_tag`` over a string array: distinct values mapped once, then taken back (columnar)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if values.null_count == len(values):
        return values
    uniq = pc.unique(values).drop_null()
    listed = uniq.to_pylist()
    canonical = _canonical_two_letter()
    if all(v in canonical for v in listed):
        return values  # already canonical: no import, no copy
    mapped = pa.array([v if v in canonical else normalize_tag(v) for v in listed], pa.string())
    return pc.take(mapped, pc.index_in(values, value_set=uniq))


# <html lang="..."> / <html xml:lang="...">, and <meta http-equiv="content-language" content="...">
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)
_LANG_ATTR = re.compile(r"""\s(?:xml:)?lang\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_META = re.compile(r"<meta\b[^>]*>", re.I)
_HTTP_EQUIV = re.compile(r"""http-equiv\s*=\s*["']?\s*content-language\b""", re.I)
_CONTENT = re.compile(r"""\scontent\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
_HEAD_CHARS = 65536


def html_language(html: str | None) -> str | None:
    """The language an HTML page declares: ``<html lang>`` (or ``xml:lang``), else ``<meta
    http-equiv="content-language" content>``; looked for in the first 64 KiB of characters. Returned as
    written (``normalize_tag`` makes it a tag or None)."""
    if not html:
        return None
    head = html[:_HEAD_CHARS]
    m = _HTML_TAG.search(head)
    if m:
        a = _LANG_ATTR.search(m.group(0))
        if a:
            v = next(g for g in a.groups() if g is not None).strip()
            if v:
                return v
    for m in _META.finditer(head):
        tag = m.group(0)
        if _HTTP_EQUIV.search(tag):
            c = _CONTENT.search(tag)
            if c:
                v = next(g for g in c.groups() if g is not None).strip()
                if v:
                    return v
    return None
