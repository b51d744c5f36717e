"""WARC, WET and WAT from Common Crawl (or any crawler), read record by record over the salvaged stream.

- WARC: every ``response`` record is a row: URL, capture date, HTTP headers (JSON, kept for later
  scanners), the HTML body (kept in the batch, never persisted) and its plain text, extracted with
  Resiliparse. Responses that are not text (images, PDFs, ...) or not HTTP 2xx are quarantined as
  ``not_text`` so that every response is accounted for.
- WET: every ``conversion`` record is a row; the text is the record body.
- WAT: every ``metadata`` record that describes an HTTP *response* is a row with an empty text (WAT holds
  metadata, not text): URL, date, response headers and the HTML ``<meta>`` tags. Request and other
  metadata records are not documents.

The record walk is ours rather than FastWARC's: FastWARC stops quietly at the first damaged gzip member or
wrong ``Content-Length`` (and reports a truncated file as complete), where an audit must resynchronise at
the next record and say what it skipped (docs/bad-input.md, "WARC, WET, WAT"). The walk reads
``.warc.gz`` through ``stream.SalvageStream`` (one gzip member per record is the norm: member boundaries
both give positions and catch a wrong ``Content-Length`` without re-reading), checks every record's end,
and caps what it holds: headers at 64 KiB, blocks and decoded bodies at ``max_doc_bytes``.
``bench/bench_warc.py`` measures it against FastWARC and warcio.

Positions are the compressed offset of the member a record starts in (``.warc.gz``) or the record's byte
offset (``.warc``); a record after the first inside one member gets the member's offset plus its index.
"""

from __future__ import annotations

import bisect
import codecs
import io
import re
import zlib
from typing import Iterator

import orjson
import pyarrow as pa

from .. import errors
from ..errors import ShardError
from ..sources import Shard, open_binary
from .base import ReadChunk, ReadOptions, finalize, quarantine_record
from ..lang import html_language
from .stream import SalvageStream

_TEXTUAL = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")
_CRAWL_RE = re.compile(rb"isPartOf:\s*(\S+)")
_CC_RE = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:+-]{1,40})", re.I)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,40}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}")
MAX_HEADER = 64 * 1024  # WARC header block, and HTTP header block
CHUNK = 1 << 16
MAX_TAGS = 500_000  # a page with more tags is too_large (memory of the DOM), real pages have far fewer
_WANTED = {"warc": b"response", "wet": b"conversion", "wat": b"metadata"}


class _Bad(Exception):
    """A record that cannot be read: reason code and a message that never quotes the record."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# -- the byte source: salvaged, buffered, rewindable --------------------------------------------------------

class _Source:
    """The decoded bytes of a WARC file with a cursor. ``member_starts`` and ``damage`` come from the
    salvaged stream (``.warc.gz``); a plain file has neither. ``rewind`` goes back to an earlier offset
    (within the buffer, by seeking a plain file, or by decoding again from the member that holds it)."""

    def __init__(self, shard: Shard):
        self.shard = shard
        self.gz = False
        self.members: list[int] = []  # out offsets of member starts (sorted)
        self.member_comp: dict[int, int] = {}  # out offset -> compressed offset
        self.damage: list = []  # Damage events not yet taken, with absolute out offsets
        self.seen = 0  # furthest decoded offset ever loaded (events before it were collected)
        raw = open_binary(shard)
        head = raw.read(2)
        # gzip by name or by content: a .warc.gz whose first member is damaged is still gzip
        self.gz = head == b"\x1f\x8b" or shard.uri.lower().split("?", 1)[0].endswith(".gz")
        raw.seek(0) if raw.seekable() else None
        if not raw.seekable():
            raw.close()
            raw = open_binary(shard)
        self._attach(raw, 0, 0)

    def _attach(self, raw, comp_start: int, out_start: int) -> None:
        self.raw = raw
        if self.gz:
            if comp_start:
                raw.seek(comp_start)
            self.st = SalvageStream(raw, "gzip", track_members=True, start=comp_start)
        else:
            if comp_start:
                raw.seek(comp_start)
            self.st = None
        self.out_base = out_start
        self.buf = bytearray()
        self.base = out_start  # offset of buf[0]
        self.pos = out_start
        self.eof = False

    def close(self) -> None:
        self.raw.close()

    # filling --------------------------------------------------------------------------------------------
    def _fill(self, want_end: int) -> None:
        if self.base + len(self.buf) >= want_end:
            return
        while self.base + len(self.buf) < want_end and not self.eof:
            end = self.base + len(self.buf)
            if self.st is None:
                data = self.raw.read(CHUNK)
            else:
                data = self.st.read(CHUNK)
                for ev in self.st.take_events():
                    ev.out_offset += self.out_base
                    if ev.out_offset >= self.seen:
                        self.damage.append(ev)
                for out_off, comp in self.st.member_starts:
                    o = out_off + self.out_base
                    if o not in self.member_comp:
                        bisect.insort(self.members, o)
                    # a later member at the same decoded offset replaces one that gave no output (junk)
                    self.member_comp[o] = comp
                self.st.member_starts.clear()
            if not data:
                self.eof = True
                break
            self.buf += data
            self.seen = max(self.seen, self.base + len(self.buf))

    def trim(self) -> None:
        """Drop what lies before the cursor."""
        cut = self.pos - self.base
        if cut > 0:
            del self.buf[:cut]
            self.base = self.pos

    # reading ----------------------------------------------------------------------------------------------
    def peek(self, n: int) -> bytes:
        self._fill(self.pos + n)
        i = self.pos - self.base
        return bytes(self.buf[i : i + n])

    def next_member_after(self, off: int) -> int | None:
        i = bisect.bisect_right(self.members, off)
        return self.members[i] if i < len(self.members) else None

    def at_member_start(self) -> bool:
        return self.pos in self.member_comp

    def read(self, n: int, stop_at_member: bool = True) -> bytes:
        """Up to ``n`` bytes; with ``stop_at_member``, never across a member start (so the caller can look)."""
        self._fill(self.pos + n)  # member starts up to there are known after this
        if stop_at_member and self.gz:
            nxt = self.next_member_after(self.pos)
            if nxt is not None:
                n = min(n, nxt - self.pos)
        i = self.pos - self.base
        data = bytes(self.buf[i : i + n])
        self.pos += len(data)
        return data

    def header_block(self, limit: int) -> bytes | None:
        """The bytes from the cursor to the end of the first empty line (a header block), the cursor moved
        past them; None when no empty line comes within ``limit`` bytes (or before the end)."""
        start = self.pos
        while True:
            i = start - self.base
            a = self.buf.find(b"\n\r\n", i, i + limit)
            b = self.buf.find(b"\n\n", i, i + limit)
            ends = [x + 3 for x in (a,) if x >= 0] + [x + 2 for x in (b,) if x >= 0]
            if ends:
                end = min(ends)
                data = bytes(self.buf[i:end])
                self.pos = self.base + end
                return data
            if len(self.buf) - i >= limit or self.eof:
                return None
            self._fill(self.base + len(self.buf) + CHUNK)

    def readline(self, limit: int) -> bytes | None:
        """A line with its ending, or None when no line ends within ``limit`` bytes (or before the end)."""
        start = self.pos
        while True:
            i = self.buf.find(b"\n", self.pos - self.base)
            if i >= 0 and self.base + i - start < limit:
                end = self.base + i + 1
                data = bytes(self.buf[start - self.base : end - self.base])
                self.pos = end
                return data
            have = self.base + len(self.buf) - start
            if have >= limit or self.eof:
                return None
            self._fill(self.base + len(self.buf) + CHUNK)

    def skip(self, n: int, stop_at_member: bool = True) -> int:
        """Move on by up to ``n`` bytes without keeping them (stopping at a member start); returns how
        many."""
        moved = 0
        while moved < n:
            chunk = self.read(min(CHUNK * 16, n - moved), stop_at_member)
            if not chunk:
                break
            moved += len(chunk)
            self.trim()
            if stop_at_member and self.gz and self.at_member_start():
                break
        return moved

    def at_end(self) -> bool:
        self._fill(self.pos + 1)
        return self.pos >= self.base + len(self.buf) and self.eof

    def find_record(self, start: int) -> int:
        """The first offset >= start where a record begins: ``WARC/`` at the start of a line or of a
        member. -1 when there is none (the cursor is then at the end)."""
        self.rewind(max(start - 1, 0))  # the byte before ``start`` tells whether a line starts there
        while True:
            self._fill(self.pos + CHUNK)
            j = self.buf.find(b"WARC/", max(start - self.base, 0))
            while j >= 0:
                off = self.base + j
                if (off == 0 or (j > 0 and self.buf[j - 1] == 0x0A) or off in self.member_comp
                        or _VERSION_LINE.match(self.buf, j)):  # (damage may have eaten the line end before it)
                    return off
                j = self.buf.find(b"WARC/", j + 1)
            if self.eof:
                self.pos = self.base + len(self.buf)
                self.trim()
                return -1
            # keep the last bytes: a match may straddle the fill boundary, and needs the byte before it
            self.pos = max(self.pos, self.base + len(self.buf) - 6)
            self.trim()

    def rewind(self, off: int) -> None:
        if off >= self.base:
            self.pos = off
            return
        # decode again: from the member that holds ``off`` (gzip) or by seeking (plain)
        raw = open_binary(self.shard)
        if self.gz:
            i = bisect.bisect_right(self.members, off) - 1
            out0 = self.members[i] if i >= 0 else 0
            comp0 = self.member_comp.get(out0, 0) if i >= 0 else 0
            if not raw.seekable():
                out0 = comp0 = 0
            self.raw.close()
            self._attach(raw, comp0, out0)
        else:
            self.raw.close()
            self._attach(raw, off if raw.seekable() else 0, off if raw.seekable() else 0)
        while self.pos < off:
            if not self.read(min(CHUNK * 16, off - self.pos), stop_at_member=False):
                break
            self.trim()

    def take_damage(self, upto: int, member: int | None = None, after: int = -1) -> list:
        """Damage events at decoded offsets in (``after``, ``upto``] (only those of the member at compressed
        offset ``member``, when given)."""
        if not self.damage:
            return []
        hit = [d for d in self.damage if d.out_offset <= upto and (member is None or d.member == member)
               and d.out_offset > after]
        if hit:
            self.damage = [d for d in self.damage if d not in hit]
        return hit

    def member_at(self, off: int) -> int | None:
        """The decoded offset of the member that holds ``off`` (None: plain file, or before any member)."""
        if not self.gz:
            return None
        i = bisect.bisect_right(self.members, off) - 1
        return self.members[i] if i >= 0 else None

    def position(self, off: int, earlier_in_member: int) -> int:
        """The row position of a record that starts at decoded offset ``off``: the compressed offset of its
        member plus the number of records that started earlier in the same member (``.warc.gz``), the byte
        offset (``.warc``)."""
        m = self.member_at(off)
        if m is None:
            return off
        return self.member_comp[m] + earlier_in_member


# -- record bodies ----------------------------------------------------------------------------------------

_HEADER_LINE = re.compile(rb"([^:\r\n]*):[ \t]*([^\r\n]*)\r?\n")


def _parse_header_block(block: bytes, join: bool = False) -> dict[str, bytes]:
    """Header lines (``Name: value`` each, ending with the empty line) into a lower-case dict. One regex pass
    for the usual block; continuation lines and anything odd take the careful path. A repeated name keeps its
    last line, or with ``join`` (HTTP fields) all of them joined with ", " in order (RFC 9110 section 5.3):
    then two ``Content-Usage`` or ``X-Robots-Tag`` lines of a response both count."""
    if b"\n " not in block and b"\n\t" not in block and not block.startswith((b" ", b"\t")):
        pairs = _HEADER_LINE.findall(block)
        if len(pairs) == block.count(b"\n") - 1 and all(k.strip() for k, _ in pairs):
            out = {k.strip().lower().decode("latin-1"): v.rstrip(b" \t") for k, v in pairs}
            if len(out) == len(pairs) or not join:
                return out
            out = {}
            for k, v in pairs:  # a repeated field: join its lines
                k = k.strip().lower().decode("latin-1")
                v = v.rstrip(b" \t")
                out[k] = out[k] + b", " + v if k in out else v
            return out
    out: dict[str, bytes] = {}
    last = None
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last is not None:
            out[last] = out[last] + b" " + line.strip()
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise _Bad(errors.BAD_RECORD, "a header line without a name and a colon")
        last = name.strip().lower().decode("latin-1")
        out[last] = out[last] + b", " + value.strip() if join and last in out else value.strip()
    return out


def _dechunk(body: bytes, cap: int) -> bytes:
    """Undo HTTP/1.1 chunked transfer coding, strictly: hexadecimal sizes, no chunk beyond the body."""
    out = bytearray()
    i = 0
    n = len(body)
    while True:
        nl = body.find(b"\n", i)
        if nl < 0:
            raise _Bad(errors.BAD_RECORD, "chunked body without a chunk-size line")
        size_s = body[i:nl].rstrip(b"\r").split(b";", 1)[0].strip()
        if not size_s or len(size_s) > 16 or not all(c in _HEX for c in size_s):
            raise _Bad(errors.BAD_RECORD, "chunked body with an invalid chunk size (not hexadecimal digits)")
        size = int(size_s, 16)
        if size == 0:
            return bytes(out)
        start = nl + 1
        if start + size > n:
            raise _Bad(errors.BAD_RECORD, f"chunked body ends inside a chunk (a chunk of {size:,} bytes, "
                                          f"{n - start:,} left)")
        out += body[start : start + size]
        if len(out) > cap:
            raise _Bad(errors.TOO_LARGE, f"de-chunked body exceeds --max-doc-bytes {cap:,}")
        i = start + size
        if body.startswith(b"\r\n", i):
            i += 2
        elif body.startswith(b"\n", i):
            i += 1
        else:
            raise _Bad(errors.BAD_RECORD, "chunked body: a chunk is not followed by a line end")


def _inflate(body: bytes, cap: int, wbits: int) -> bytes:
    """zlib data (gzip members, possibly several; zlib; raw deflate), at most ``cap`` bytes of output."""
    out = bytearray()
    data = body
    while True:
        d = zlib.decompressobj(wbits)
        try:
            out += d.decompress(data, cap + 1 - len(out))
        except zlib.error as exc:
            raise _Bad(errors.BAD_RECORD, f"HTTP body: damaged {'gzip' if wbits > 15 else 'deflate'} data "
                                          f"({str(exc).split(':', 1)[-1].strip()})") from None
        if len(out) > cap:
            raise _Bad(errors.TOO_LARGE, f"decoded HTTP body exceeds --max-doc-bytes {cap:,}")
        if not d.eof:
            raise _Bad(errors.BAD_RECORD, "HTTP body: coded data ends early")
        data = d.unused_data
        if wbits <= 15 or not data.strip(b"\x00"):
            return bytes(out)


def _content_decode(body: bytes, coding: str, cap: int) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, cap, 47)
    if coding == "deflate":
        try:
            zlib.decompressobj(15).decompress(body[:64])
            return _inflate(body, cap, 15)
        except zlib.error:
            return _inflate(body, cap, -15)
    if coding == "br":
        import brotli

        dec = brotli.Decompressor()
        try:
            out = dec.process(body, output_buffer_limit=cap + 1)
        except brotli.error:
            raise _Bad(errors.BAD_RECORD, "HTTP body: damaged brotli data") from None
        if len(out) > cap:
            raise _Bad(errors.TOO_LARGE, f"decoded HTTP body exceeds --max-doc-bytes {cap:,}")
        if not dec.is_finished():
            raise _Bad(errors.BAD_RECORD, "HTTP body: brotli data ends early")
        return out
    if coding == "zstd":
        import zstandard

        out = bytearray()
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
            while len(out) <= cap:
                chunk = reader.read(min(1 << 20, cap + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
        except zstandard.ZstdError:
            raise _Bad(errors.BAD_RECORD, "HTTP body: damaged zstd data") from None
        if len(out) > cap:
            raise _Bad(errors.TOO_LARGE, f"decoded HTTP body exceeds --max-doc-bytes {cap:,}")
        return bytes(out)
    if coding in ("identity", ""):
        return body
    raise _Bad(errors.BAD_RECORD, "HTTP body: unsupported content coding")


def _decode_http_body(body: bytes, headers: dict[str, str], cap: int) -> bytes:
    """Transfer- and content-decode an HTTP body, never making more than ``cap`` bytes. Common Crawl stores
    bodies decoded already (and renames the headers to X-Crawler-*); other crawlers keep them as sent."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body, cap)
    codings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",") if e.strip()]
    if len(codings) > 4:
        raise _Bad(errors.BAD_RECORD, "HTTP body: more than four content codings")
    for c in reversed(codings):
        body = _content_decode(body, c, cap)
    return body


def _split_http(block: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Status, lower-case headers and body of an HTTP response message."""
    end = block.find(b"\r\n\r\n", 0, MAX_HEADER + 4)
    sep = 4
    lf = block.find(b"\n\n", 0, MAX_HEADER + 2)
    if end < 0 or (0 <= lf < end):
        end, sep = lf, 2
    if end < 0:
        raise _Bad(errors.NOT_TEXT if not block.startswith(b"HTTP/") else errors.BAD_RECORD,
                   "response record without an HTTP message" if not block.startswith(b"HTTP/") else
                   "HTTP headers do not end within 64 KiB")
    nl = block.find(b"\n")
    status_line = block[: nl if 0 <= nl < end else end].rstrip(b"\r")
    if not status_line.startswith(b"HTTP/"):
        raise _Bad(errors.NOT_TEXT, "response record without an HTTP message")
    parts = status_line.split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) == 3 else None
    raw = _parse_header_block(block[nl + 1 : end + sep] if 0 <= nl < end else b"\n", join=True)
    headers = {k: v.decode("latin-1") for k, v in raw.items()}
    return status, headers, block[end + sep :]


def _html_text(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False, alt_texts=False, links=False, form_fields=False, noscript=False)


def _decode_html(body: bytes, ctype: str) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    m = _CHARSET_RE.search(ctype)
    enc = None
    if m:
        try:
            enc = codecs.lookup(m.group(1)).name
        except LookupError:
            enc = None
    return bytes_to_str(body, enc or detect_encoding(body), fallback_encodings=("utf-8", "cp1252"))


# -- rows -------------------------------------------------------------------------------------------------

class _Rows:
    def __init__(self):
        self.cols: dict[str, list] = {k: [] for k in ("position", "doc_id", "url", "text", "crawl_date", "language", "http_headers", "html")}
        self.quarantine: list[dict] = []
        self.rows = 0
        self.bytes = 0

    def add(self, **kw):
        for k, v in self.cols.items():
            v.append(kw.get(k))
        self.rows += 1
        self.bytes += len(kw.get("text") or "") + len(kw.get("html") or "")

    def bad(self, q: dict):
        self.quarantine.append(q)
        self.rows += q.get("n_rows") or 0


def _text_header(h: dict[str, bytes], name: str) -> str | None:
    v = h.get(name)
    if v is None:
        return None
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        return v.decode("latin-1")


def _record_row(kind: str, h: dict[str, bytes], block: bytes, pos: int, acc: _Rows, options: ReadOptions) -> None:
    """Turn one wanted record into a row (or a quarantine row); raises _Bad."""
    cap = options.max_doc_bytes
    raw_url = (h.get("warc-target-uri") or b"").strip().strip(b"<>")
    try:
        url = raw_url.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(errors.BAD_UTF8, f"WARC-Target-URI is not valid UTF-8 (byte {exc.start:,})") from None
    date = _text_header(h, "warc-date")
    rid = _text_header(h, "warc-record-id")
    if kind == "wat":
        if b"json" not in (h.get("content-type") or b""):
            return
        try:
            env = orjson.loads(block)
        except orjson.JSONDecodeError:
            raise _Bad(errors.BAD_RECORD, "WAT metadata is not valid JSON") from None
        pm = env.get("Envelope", {}).get("Payload-Metadata", {}) if isinstance(env, dict) else None
        pm = pm if isinstance(pm, dict) else {}
        resp = pm.get("HTTP-Response-Metadata")
        if resp is None:
            return  # request / other metadata: not a document
        if not isinstance(resp, dict):
            raise _Bad(errors.BAD_RECORD, "WAT HTTP-Response-Metadata is not an object")
        headers = resp.get("Headers") or {}
        html_meta = resp.get("HTML-Metadata")
        head = html_meta.get("Head") if isinstance(html_meta, dict) else None
        meta = head.get("Metas") if isinstance(head, dict) else None
        acc.add(position=pos, doc_id=rid, url=url, text="", crawl_date=date,
                http_headers=orjson.dumps({"headers": headers, "html_metas": meta}).decode(), html=None)
        return
    if kind == "wet":
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Bad(errors.BAD_UTF8, f"WET text is not valid UTF-8 at byte {exc.start:,}") from None
        acc.add(position=pos, doc_id=rid, url=url, text=text, crawl_date=date,
                language=_text_header(h, "warc-identified-content-language"))
        return
    status, headers, body = _split_http(block)
    body = _decode_http_body(body, headers, cap)
    if status is None or not (200 <= status < 300):
        raise _Bad(errors.NOT_TEXT, f"HTTP status {status}: no document")
    ctype = headers.get("content-type", "").lower()
    if ctype and not ctype.startswith(_TEXTUAL):
        mime = ctype.split(";")[0].strip()
        # a header value is the publisher's text: name it only when it is a plain type/subtype token
        what = mime if _MIME.fullmatch(mime) else "a content type that"
        raise _Bad(errors.NOT_TEXT, f"{what} is not text" if what.endswith("that") else f"content type {what} is not text")
    html = _decode_html(body, ctype)
    markup = "html" in ctype or not ctype or "xml" in ctype
    if markup and html.count("<") > MAX_TAGS:
        # the DOM of a page costs ~400 bytes a node: 16 MiB of "<b>" would take over a gigabyte to extract
        raise _Bad(errors.TOO_LARGE, f"HTML with more than {MAX_TAGS:,} tags")
    text = _html_text(html) if markup else html
    acc.add(position=pos, doc_id=rid, url=url, text=text, crawl_date=date,
            # Content-Language, else what the page declares (<html lang>, <meta http-equiv>); normalised in finalize
            language=headers.get("content-language") or (html_language(html) if markup else None),
            http_headers=orjson.dumps(headers).decode(), html=html if options.keep_html else None)


def read_warc(shard: Shard, options: ReadOptions) -> Iterator[ReadChunk]:
    kind = shard.format
    wanted = _WANTED[kind]
    m = _CC_RE.search(shard.uri)
    crawl = m.group(0) if m else None
    src = _Source(shard)
    acc = _Rows()
    seen_record = False
    in_member = 0  # records started in the current member so far
    member_of_last = None
    try:
        while True:
            at_end = src.at_end()  # (reads ahead: damage at the cursor is known after this)
            for d in src.take_damage(src.pos):
                acc.bad(quarantine_record(d.member, d.reason, d.detail, d.skipped, kind="range"))
            if at_end:
                break
            start = src.pos
            head = src.peek(5)
            if head != b"WARC/":
                # skip blank lines between records; anything else is not a record: find the next one
                line_ends = len(head) - len(head.lstrip(b"\r\n"))
                if line_ends:
                    src.read(line_ends)
                    continue
                nxt = src.find_record(start + 1)
                end = nxt if nxt >= 0 else src.seen
                if not seen_record and nxt < 0 and start == 0:
                    raise ShardError(errors.UNREADABLE, "not a WARC file (no WARC record found)")
                acc.bad(quarantine_record(src.position(start, 0), errors.BAD_RECORD,
                                          f"{end - start:,} bytes that are not a WARC record", end - start,
                                          kind="range"))
                if nxt < 0:
                    break
                src.rewind(nxt)
                continue
            seen_record = True
            mo = src.member_at(start)
            if mo != member_of_last:
                member_of_last, in_member = mo, 0
            pos = src.position(start, in_member)
            in_member += 1
            outcome = _one_record(src, kind, wanted, pos, acc, options)
            if outcome == "warcinfo":
                pass
            elif isinstance(outcome, tuple) and outcome[0] == "crawl":
                crawl = outcome[1] or crawl
            src.trim()
            if acc.bytes >= options.batch_bytes or len(acc.cols["position"]) >= options.batch_rows:
                yield from _flush(acc, shard, options, crawl)
                acc = _Rows()
        for d in src.take_damage(1 << 62):
            acc.bad(quarantine_record(d.member, d.reason, d.detail, d.skipped, kind="range"))
        yield from _flush(acc, shard, options, crawl)
    finally:
        src.close()


def _one_record(src: _Source, kind: str, wanted: bytes, pos: int, acc: _Rows, options: ReadOptions):
    """Read the record at the cursor; leave the cursor after it (or where reading must go on)."""
    start = src.pos
    for d in src.take_damage(start):  # damage right where this record starts: before it, not in it
        acc.bad(quarantine_record(d.member, d.reason, d.detail, d.skipped, kind="range"))
    head = src.header_block(MAX_HEADER)
    ok = head is not None
    damaged = src.take_damage(src.pos)
    if damaged or not ok:
        ended = not damaged and src.eof and src.base + len(src.buf) - start < MAX_HEADER
        acc.bad(quarantine_record(pos, errors.BAD_RECORD, "WARC record in a damaged gzip member" if damaged else
                                  "the file ends inside this record's header" if ended else
                                  "WARC record header does not end within 64 KiB"))
        if ended and not src.gz:
            acc.bad(quarantine_record(pos, errors.TRUNCATED, f"the file ends inside the record at position {pos:,}",
                                      kind="range"))
        if damaged:
            return _after_damage(src, start, damaged, acc)
        return _resync(src, start + 1)
    try:
        h = _parse_header_block(head[head.find(b"\n") + 1 :])
    except _Bad as exc:
        acc.bad(quarantine_record(pos, exc.reason, f"WARC header: {exc.detail}"))
        return _resync(src, start + 1)
    rtype = (h.get("warc-type") or b"").strip().lower()
    is_row = rtype == wanted
    cl_raw = h.get("content-length")
    if cl_raw is None or not cl_raw.isdigit() or len(cl_raw) > 15:
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, "WARC record without a valid Content-Length"))
        return _resync(src, src.pos)
    cl = int(cl_raw)
    body_start = src.pos
    keep = (is_row or rtype == b"warcinfo") and cl <= options.max_doc_bytes
    parts = []
    got = 0
    while got < cl:
        if keep:
            chunk = src.read(cl - got)
            if chunk:
                parts.append(chunk)
            n = len(chunk)
        else:
            n = src.skip(cl - got)
        if not n:
            break
        got += n
        if src.gz and got < cl and src.at_member_start() and src.peek(5) == b"WARC/":
            break  # the next record's member begins inside this block: Content-Length is wrong
    block = b"".join(parts)
    damaged = src.take_damage(src.pos)
    if damaged:
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, "WARC record in a damaged gzip member"))
        return _after_damage(src, start, damaged, acc)
    if got < cl:
        if src.at_end():
            nxt = src.find_record(body_start)
            if nxt >= 0:  # a record begins inside the block: Content-Length is wrong, not the file short
                if is_row or not rtype:
                    acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"Content-Length {cl:,} runs past the next "
                                                                      f"record"))
                src.rewind(nxt)
                return None
            if is_row or not rtype:
                acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"the file ends inside this record "
                                                                  f"({got:,} of {cl:,} block bytes)"))
            if not src.gz:
                acc.bad(quarantine_record(pos, errors.TRUNCATED, f"the file ends inside the record at position "
                                                                 f"{pos:,}", kind="range"))
            return None
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"Content-Length {cl:,} runs past the end of the "
                                                              f"record ({got:,} bytes before the next one)"))
        return None  # the cursor is at the next record's member
    # the record must end here: CR/LF, then the next record, a member start or the end of the file
    seg = src.peek(64)
    trailer = len(seg) - len(seg.lstrip(b"\r\n"))
    if trailer:
        src.read(trailer, stop_at_member=False)
    boundary = src.at_end() or src.peek(5) == b"WARC/" or (src.gz and src.at_member_start())
    if not boundary:
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"Content-Length {cl:,} does not end at a record "
                                                              f"boundary"))
        return _resync(src, body_start)
    inner = _embedded_record(block) if keep else None
    if inner is not None:
        # the block holds a whole WARC record of its own: this record's Content-Length is wrong (too large) and
        # happened to end at a boundary; the records it swallowed are read on their own
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"Content-Length {cl:,} runs over the next record"))
        src.rewind(body_start + inner)
        return None
    mine = src.member_at(start)
    late = src.take_damage(src.pos, member=src.member_comp.get(mine)) if mine is not None else []
    if late:
        # the record's own member failed its CRC at its end: the bytes are all there, but some are damaged
        for d in late:
            acc.bad(quarantine_record(d.member, d.reason, d.detail, d.skipped, kind="range"))
        if is_row or not rtype:
            acc.bad(quarantine_record(pos, errors.BAD_RECORD, "WARC record in a gzip member that fails its CRC check"))
        return None
    if not rtype:
        acc.bad(quarantine_record(pos, errors.BAD_RECORD, "WARC record without a WARC-Type"))
        return None
    if rtype == b"warcinfo":
        mm = _CRAWL_RE.search(block[:65536])
        return ("crawl", mm.group(1).decode("latin-1").strip()) if mm else "warcinfo"
    if not is_row:
        return None
    if cl > options.max_doc_bytes:
        acc.bad(quarantine_record(pos, errors.TOO_LARGE, f"{kind.upper()} record block of {cl:,} bytes exceeds "
                                                         f"--max-doc-bytes {options.max_doc_bytes:,}", cl))
        return None
    try:
        _record_row(kind, h, block, pos, acc, options)
    except _Bad as exc:
        acc.bad(quarantine_record(pos, exc.reason, exc.detail, len(block)))
    except Exception as exc:  # noqa: BLE001 - a library failing on hostile content: this record only
        acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"unreadable {kind.upper()} record "
                                                          f"({errors.safe_message(exc)})", len(block)))
    return None


_INNER = re.compile(rb"\nWARC/[01]\.\d+\r?\n")
_VERSION_LINE = re.compile(rb"WARC/[01]\.\d{1,3}\r\nWARC-[A-Za-z-]+:")


def _embedded_record(block: bytes) -> int | None:
    """The offset in ``block`` of a complete WARC record that starts at a line start inside it (its headers
    parse, with a WARC-Type and a numeric Content-Length, and its block ends at CR/LF followed by the next
    record or by the end of ``block``), or None. Such a record means the outer Content-Length was wrong."""
    for m in _INNER.finditer(block):
        at = m.start() + 1
        end = block.find(b"\r\n\r\n", at, at + MAX_HEADER)
        sep = 4
        lf = block.find(b"\n\n", at, at + MAX_HEADER)
        if end < 0 or 0 <= lf < end:
            end, sep = lf, 2
        if end < 0:
            continue
        try:
            h = _parse_header_block(block[block.find(b"\n", at) + 1 : end + sep])
        except _Bad:
            continue
        cl = h.get("content-length")
        if not h.get("warc-type") or cl is None or not cl.isdigit() or len(cl) > 15:
            continue
        after = end + sep + int(cl)
        if after > len(block):
            continue
        rest = block[after : after + 64].lstrip(b"\r\n")
        if after == len(block) or rest.startswith(b"WARC/") or (not rest and after + 64 >= len(block)):
            return at
    return None


def _after_damage(src: _Source, start: int, damaged: list, acc: _Rows):
    """A record ran into damage: record it, and go on where the salvaged stream resumed after the first
    damage point inside the record (the next intact member), whatever this record's reading consumed."""
    for d in damaged:
        acc.bad(quarantine_record(d.member, d.reason, d.detail, d.skipped, kind="range"))
    resumed = [d.out_offset for d in damaged if d.resumed_at is not None and d.out_offset > start]
    if resumed:
        src.rewind(min(resumed))
        return None
    return _resync(src, start + 1)


def _resync(src: _Source, start: int):
    """Go on at the next record that begins at or after ``start`` (or at the end)."""
    nxt = src.find_record(start)
    if nxt >= 0:
        src.rewind(nxt)
    return None


def _flush(acc: _Rows, shard: Shard, options: ReadOptions, crawl: str | None) -> Iterator[ReadChunk]:
    n = len(acc.cols["position"])
    if n == 0:
        if acc.quarantine:
            yield ReadChunk(None, acc.quarantine, acc.rows)
        return
    c = acc.cols
    batch, q = finalize(
        shard_id=shard.shard_id,
        positions=pa.array(c["position"], pa.int64()),
        text=pa.array(c["text"], pa.string()),
        url=pa.array(c["url"], pa.string()),
        doc_id=pa.array(c["doc_id"], pa.string()),
        crawl_date=pa.array(c["crawl_date"], pa.string()),
        optional={
            "language": pa.array(c["language"], pa.string()),
            "crawl": pa.array([crawl] * n, pa.string()),
            "http_headers": pa.array(c["http_headers"], pa.string()),
            "html": pa.array(c["html"], pa.string()),
        },
        options=options,
        allow_empty_text=(shard.format == "wat"),
    )
    yield ReadChunk(batch, acc.quarantine + q, acc.rows)
