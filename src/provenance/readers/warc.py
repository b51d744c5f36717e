"""WARC, WET and WAT from Common Crawl (or any crawler), read with FastWARC.

- WARC: every ``response`` record is a row: URL, capture date, HTTP headers (JSON, kept for later
  scanners), the HTML body (kept in the batch, never persisted) and its plain text, extracted with
  Resiliparse. Responses that are not text (images, PDFs, ...) or not HTTP 2xx are quarantined as
  ``not_text`` so that every response is accounted for.
- WET: every ``conversion`` record is a row; the text is the record body.
- WAT: every ``metadata`` record that describes an HTTP *response* is a row with an empty text (WAT holds
  metadata, not text): URL, date, response headers and the HTML ``<meta>`` tags. Request and other
  metadata records are not documents.

Positions are byte offsets of the record in the (compressed) file. A record loop in Python is inherent to
WARC (records are variable-length and parsed one at a time); the work per record is in FastWARC and
Resiliparse (C++). Why FastWARC over warcio: ``bench/bench_warc.py`` measures both on the same files.
"""

from __future__ import annotations

import re
import zlib
from typing import Iterator

import orjson
import pyarrow as pa

from .. import errors
from ..errors import ShardError
from ..sources import Shard, open_binary
from .base import ReadChunk, ReadOptions, finalize, quarantine_record

_TEXTUAL = ("text/html", "application/xhtml+xml", "text/plain", "application/xml", "text/xml")
_CRAWL_RE = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def _decode(body: bytes, charset: str | None) -> str:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    enc = charset or detect_encoding(body)
    return bytes_to_str(body, enc, fallback_encodings=("utf-8", "cp1252"))


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP/1.1 chunked transfer coding (wget and other crawlers store bodies as sent)."""
    out = bytearray()
    i = 0
    while True:
        nl = body.find(b"\r\n", i)
        if nl < 0:
            raise ValueError("chunked body without a chunk-size line")
        size = int(body[i:nl].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return bytes(out)
        start = nl + 2
        out += body[start : start + size]
        if start + size > len(body):
            raise ValueError("chunked body ends inside a chunk")
        i = start + size + 2


def _decode_http_body(body: bytes, headers: dict[str, str]) -> bytes:
    """Transfer- and content-decode an HTTP body. Common Crawl stores bodies decoded already (and renames
    the headers to X-Crawler-*); other crawlers keep them as sent."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    for enc in reversed([e.strip().lower() for e in headers.get("content-encoding", "").split(",") if e.strip()]):
        if enc in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 47)
        elif enc == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -15)
        elif enc == "br":
            import brotli

            body = brotli.decompress(body)
        elif enc == "zstd":
            import zstandard

            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        elif enc != "identity":
            raise ValueError(f"unsupported content-encoding {enc!r}")
    return body


def _html_text(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=False, alt_texts=False, links=False, form_fields=False, noscript=False)


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
        self.rows += 1


def read_warc(shard: Shard, options: ReadOptions) -> Iterator[ReadChunk]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    kind = shard.format
    types = {
        "warc": WarcRecordType.response | WarcRecordType.warcinfo,
        "wet": WarcRecordType.conversion | WarcRecordType.warcinfo,
        "wat": WarcRecordType.metadata | WarcRecordType.warcinfo,
    }[kind]
    m = _CRAWL_RE.search(shard.uri)
    crawl = m.group(0) if m else None
    f = open_binary(shard)
    try:
        try:
            it = iter(ArchiveIterator(f, record_types=types, parse_http=(kind == "warc"), strict_mode=False))
        except Exception as exc:  # noqa: BLE001 - FastWARC raises plain exceptions for unreadable input
            raise ShardError(errors.UNREADABLE, f"not a readable WARC file ({exc})") from exc
        acc = _Rows()
        seen_any = False
        while True:
            try:
                rec = next(it)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001
                yield from _flush(acc, shard, options, crawl)
                raise ShardError(errors.TRUNCATED, f"WARC stream unreadable after {acc.rows} records ({exc})") from exc
            seen_any = True
            pos = int(rec.stream_pos)
            if rec.record_type == WarcRecordType.warcinfo:
                body = rec.reader.read(1 << 16).decode("utf-8", "replace")
                mm = re.search(r"isPartOf:\s*(\S+)", body)
                if mm:
                    crawl = mm.group(1).strip()
                continue
            try:
                _one(rec, pos, kind, acc, options)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the shard
                acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"unparseable {kind.upper()} record: {exc}"))
            if acc.bytes >= options.batch_bytes or len(acc.cols["position"]) >= options.batch_rows:
                yield from _flush(acc, shard, options, crawl)
                acc = _Rows()
        yield from _flush(acc, shard, options, crawl)
        if not seen_any and (shard.size or 0) > 0:
            # FastWARC stops quietly on input that is not WARC at all; say so instead of reporting 0 rows
            f2 = open_binary(shard)
            try:
                head = f2.read(4)
            finally:
                f2.close()
            if not (head.startswith(b"WARC") or head.startswith(b"\x1f\x8b")):
                raise ShardError(errors.UNREADABLE, "not a WARC file (no WARC record found)")
    finally:
        f.close()


def _one(rec, pos: int, kind: str, acc: _Rows, options: ReadOptions) -> None:
    url = (rec.headers.get("WARC-Target-URI") or "").strip().strip("<>")
    date = rec.headers.get("WARC-Date")
    rid = rec.record_id
    n = int(rec.content_length or 0)
    if kind == "wat":
        if "json" not in (rec.headers.get("Content-Type") or ""):
            return
        if n > options.max_doc_bytes:
            acc.bad(quarantine_record(pos, errors.TOO_LARGE, f"WAT record of {n:,} bytes exceeds max_doc_bytes", n))
            return
        env = orjson.loads(rec.reader.read())
        pm = env.get("Envelope", {}).get("Payload-Metadata", {})
        resp = pm.get("HTTP-Response-Metadata")
        if resp is None:
            return  # request / other metadata: not a document
        headers = resp.get("Headers") or {}
        meta = (resp.get("HTML-Metadata") or {}).get("Head", {}).get("Metas")
        acc.add(position=pos, doc_id=rid, url=url, text="", crawl_date=date,
                http_headers=orjson.dumps({"headers": headers, "html_metas": meta}).decode(), html=None)
        return
    if kind == "wet":
        if n > options.max_doc_bytes:
            acc.bad(quarantine_record(pos, errors.TOO_LARGE, f"WET record of {n:,} bytes exceeds max_doc_bytes={options.max_doc_bytes:,}", n))
            return
        body = rec.reader.read()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            acc.bad(quarantine_record(pos, errors.BAD_UTF8, f"WET text is not valid UTF-8 at byte {exc.start}", n))
            return
        lang = rec.headers.get("WARC-Identified-Content-Language")
        acc.add(position=pos, doc_id=rid, url=url, text=text, crawl_date=date, language=lang)
        return
    # WARC response
    if n > options.max_doc_bytes:
        acc.bad(quarantine_record(pos, errors.TOO_LARGE, f"WARC response of {n:,} bytes exceeds max_doc_bytes={options.max_doc_bytes:,}", n))
        return
    if not rec.is_http:
        acc.bad(quarantine_record(pos, errors.NOT_TEXT, "response record without an HTTP message"))
        return
    status = rec.http_headers.status_code
    ctype = (rec.http_content_type or "").lower()
    headers = {k.lower(): v for k, v in rec.http_headers.items()}
    body = rec.reader.read()
    try:
        body = _decode_http_body(body, headers)
    except Exception as exc:  # noqa: BLE001 - zlib.error, brotli.error, ValueError
        acc.bad(quarantine_record(pos, errors.BAD_RECORD, f"HTTP body cannot be decoded: {exc}", len(body)))
        return
    if status is None or not (200 <= status < 300):
        acc.bad(quarantine_record(pos, errors.NOT_TEXT, f"HTTP status {status}: no document", len(body)))
        return
    if ctype and not ctype.startswith(_TEXTUAL):
        acc.bad(quarantine_record(pos, errors.NOT_TEXT, f"content type {ctype} is not text", len(body)))
        return
    html = _decode(body, rec.http_charset)
    text = _html_text(html) if ("html" in ctype or not ctype or "xml" in ctype) else html
    acc.add(position=pos, doc_id=rid, url=url, text=text, crawl_date=date,
            language=headers.get("content-language"),
            http_headers=orjson.dumps(headers).decode(), html=html if options.keep_html else None)


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
