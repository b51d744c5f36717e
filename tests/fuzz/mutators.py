"""Mutations: byte-level damage to a seed's file bytes, content-level changes to its decoded content
(re-packaged the shard's own way), and the fixed list of known hostile inputs.

Everything is a pure function of (run seed, case index) or of the known case's name, so a case id is
enough to rebuild its bytes (``--replay``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import zlib
from dataclasses import dataclass, field

from . import seeds as S
from .seeds import MARK, Seed, gz

KIB = 1024
MIB = 1 << 20


@dataclass
class Edit:
    """Original bytes [start, end) replaced by new_len bytes."""

    start: int
    end: int
    new_len: int

    @property
    def shift(self) -> int:
        return self.new_len - (self.end - self.start)

    def touched(self) -> tuple[int, int]:
        if self.end > self.start:
            return self.start, self.end
        return max(self.start - 1, 0), self.start + 1  # an insertion touches both neighbours


@dataclass
class Case:
    id: str
    seed: str
    fmt: str
    suffix: str
    mutator: str
    data: bytes
    max_doc_bytes: int = 0  # 0: the product's default
    edit: Edit | None = None  # byte-level edit of the seed's bytes (WARC: which records it touched)
    warc_layout: list[int] | None = None  # content-level WARC: new offset of every seed record, by index
    warc_touched: set = field(default_factory=set)  # content-level WARC: record indexes replaced
    expect_at: dict = field(default_factory=dict)  # WARC: record index -> allowed outcomes
    status: set | None = None  # statuses the contract allows, where the case decides it
    mem_limit: int | None = None  # bytes above the worker's RSS at case start
    known: bool = False
    note: str = ""


def rng_for(run_seed: int, index: int | str) -> random.Random:
    h = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


# ---------------------------------------------------------------------------------------------------
# byte-level
# ---------------------------------------------------------------------------------------------------
GARBAGE_TOKENS = [b"\x1f\x8b\x08", b"\x28\xb5\x2f\xfd", b"WARC/1.0\r\n", b"\r\n\r\n", b"\n", b"\x00" * 8,
                  b"Content-Length: 99999999\r\n", b"PAR1", b"\xff\xfe", b"{\"url\": \"http://x/\"}"]


def _pos(rng: random.Random, n: int, structure: list[int]) -> int:
    if n <= 0:
        return 0
    if structure and rng.random() < 0.4:
        p = rng.choice(structure) + rng.randint(-16, 40)
        return min(max(p, 0), n - 1)
    return rng.randrange(n)


def _garbage(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return rng.choice(GARBAGE_TOKENS)
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))


def byte_flip(rng, d: bytes, st) -> tuple[bytes, Edit]:
    p = _pos(rng, len(d), st)
    b = bytearray(d)
    b[p] ^= rng.randint(1, 255)
    return bytes(b), Edit(p, p + 1, 1)


def bit_flip(rng, d, st):
    p = _pos(rng, len(d), st)
    b = bytearray(d)
    b[p] ^= 1 << rng.randrange(8)
    return bytes(b), Edit(p, p + 1, 1)


def multi_flip(rng, d, st):
    p = _pos(rng, len(d), st)
    k = min(rng.randint(2, 16), len(d) - p)
    b = bytearray(d)
    for i in range(p, p + k):
        b[i] ^= rng.randint(1, 255)
    return bytes(b), Edit(p, p + k, k)


def cut(rng, d, st):
    p = _pos(rng, len(d), st)
    return d[:p], Edit(p, len(d), 0)


def delete_range(rng, d, st):
    p = _pos(rng, len(d), st)
    k = min(rng.choice([1, 2, 7, 64, 500, 4096]), len(d) - p)
    return d[:p] + d[p + k :], Edit(p, p + k, 0)


def insert_garbage(rng, d, st):
    p = _pos(rng, len(d) + 1, st)
    g = _garbage(rng)
    return d[:p] + g + d[p:], Edit(p, p, len(g))


def duplicate_range(rng, d, st):
    p = _pos(rng, len(d), st)
    k = min(rng.choice([1, 16, 300, 5000]), len(d) - p)
    piece = d[p : p + k]
    q = p + k
    return d[:q] + piece + d[q:], Edit(q, q, k)


def zero_fill(rng, d, st):
    p = _pos(rng, len(d), st)
    k = min(rng.choice([1, 4, 100, 2000]), len(d) - p)
    return d[:p] + b"\0" * k + d[p + k :], Edit(p, p + k, k)


BYTE_MUTATORS = {f.__name__: f for f in (byte_flip, bit_flip, multi_flip, cut, delete_range, insert_garbage,
                                          duplicate_range, zero_fill)}


# ---------------------------------------------------------------------------------------------------
# content-level: JSON Lines
# ---------------------------------------------------------------------------------------------------
PH = "QQFUZZPLACEHOLDERQQ"
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\xf8\x88\x80\x80\x80", b"\x80",
            b"\xf4\x90\x80\x80"]
SURROGATES = [b"\\ud800", b"\\udfff", b"\\ud800\\u0041", b"\\udc00\\ud800", b"\\uDBFF"]


def _obj(line: bytes) -> dict:
    try:
        o = json.loads(line)
        return o if isinstance(o, dict) else {"url": "https://fallback.example.com/", "text": f"{MARK} fallback"}
    except ValueError:
        return {"url": "https://fallback.example.com/", "text": f"{MARK} fallback"}


def _with(obj: dict, raw: bytes) -> bytes:
    return S.dumps(obj).replace(PH.encode(), raw)


def inject(line: bytes, where: str, raw: bytes) -> bytes:
    """Put raw bytes into the url / text / an ignored field / a key of a line's object."""
    o = _obj(line)
    if where == "key":
        o[PH] = "value"
    elif where == "ignored":
        o["zz_ignored"] = f"ignored {PH} field"
    else:
        fld = where if where in o else ("url" if where == "url" else "text")
        o[fld] = f"{o.get(fld) if isinstance(o.get(fld), str) else ''}{PH}"
    return _with(o, raw)


def set_field(line: bytes, key: str, raw_json: bytes, drop: tuple[str, ...] = ()) -> bytes:
    o = _obj(line)
    for k in drop:
        o.pop(k, None)
    o[key] = PH
    return S.dumps(o).replace(f'"{PH}"'.encode(), raw_json)


def deep(k: int, closed: bool = True) -> bytes:
    return b"[" * k + (b"]" * k if closed else b"")


WRONG_TYPES = [("url", b"123"), ("url", b"1.5"), ("url", b"true"), ("url", b'["https://a.example.com/"]'),
               ("url", b'{"href": "https://a.example.com/"}'), ("text", b'["a", "b"]'), ("text", b'{"t": "x"}'),
               ("text", b"42"), ("text", b"false"), ("timestamp", b'{"a": 1}'), ("timestamp", b"[1, 2]"),
               ("timestamp", b"true"), ("id", b"true"), ("id", b"{}"), ("metadata", b'"a string"'),
               ("date", b'{"$date": 5}'), ("language", b"[1]"), ("http_headers", b'{"a": "b"}')]
NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" + b"0" * 5000, b"-0", b"1.5e-400",
           b"123456789012345678901234567890", b"1e308"]
WS_URLS = ["", "   ", "\t", "\x1c", "\u00a0", "\u2028", "\u3000", " https://ws.example.com/ ", "\x85"]


def _line(rng, lines):
    return rng.randrange(len(lines)) if lines else 0


def cm_invalid_utf8(rng, lines):
    where = rng.choice(["url", "text", "ignored", "key"])
    i = _line(rng, lines)
    lines[i] = inject(lines[i], where, rng.choice(BAD_UTF8))
    return f"invalid_utf8_{where}"


def cm_lone_surrogate(rng, lines):
    where = rng.choice(["url", "text", "ignored", "key"])
    i = _line(rng, lines)
    lines[i] = inject(lines[i], where, rng.choice(SURROGATES))
    return f"lone_surrogate_{where}"


def cm_paired_surrogate(rng, lines):
    i = _line(rng, lines)
    lines[i] = inject(lines[i], "text", b"\\ud83d\\ude00")
    return "paired_surrogate"


def cm_bom(rng, lines):
    i = 0 if rng.random() < 0.5 else _line(rng, lines)
    if lines:
        lines[i] = b"\xef\xbb\xbf" + lines[i]
    return "bom_start" if i == 0 else "bom_mid"


def cm_blank(rng, lines):
    for _ in range(rng.randint(1, 4)):
        lines.insert(rng.randint(0, len(lines)), rng.choice([b"", b"   ", b"\t", b" \r", b"\t \t"]))
    return "blank_lines"


def cm_non_object(rng, lines):
    lines.insert(rng.randint(0, len(lines)), rng.choice([b"null", b"123", b'"a string"', b"[1, 2]", b"true", b"[]",
                                                         b"-1.5e3", b'[{"url": "https://x.example.com/", "text": "t"}]']))
    return "non_object"


def cm_two_objects(rng, lines):
    if len(lines) < 2:
        return "two_objects_skipped"
    i = _line(rng, lines)
    j = _line(rng, lines)
    sep = rng.choice([b"", b" ", b"\t"])
    if rng.random() < 0.5:
        lines[i] = lines[i] + sep + lines[j]
        return "two_objects"
    lines[i] = lines[i] + sep + rng.choice([b"null", b"1", b"{}", b'"x"'])
    return "object_then_value"


def cm_deep(rng, lines):
    k = rng.choice([1000, 1022, 1023, 1024, 1025, 3000, 100000])
    i = _line(rng, lines)
    if rng.random() < 0.7:
        lines[i] = set_field(lines[i], "zz_deep", deep(k))
        return f"deep_field_{k + 1}"
    lines.insert(i, deep(k, closed=rng.random() < 0.5))
    return f"deep_line_{k}"


def cm_numbers(rng, lines):
    i = _line(rng, lines)
    key = rng.choice(["zz_number", "zz_number", "timestamp", "date", "language"])
    lines[i] = set_field(lines[i], key, rng.choice(NUMBERS))
    return f"number_{key}"


def cm_wrong_type(rng, lines):
    i = _line(rng, lines)
    key, raw = rng.choice(WRONG_TYPES)
    lines[i] = set_field(lines[i], key, raw)
    return f"wrong_type_{key}"


def cm_url_fallback(rng, lines):
    i = _line(rng, lines)
    o = _obj(lines[i])
    url = o.pop("url", None) or "https://fb.example.com/"
    v = rng.randrange(5)
    if v == 0:
        o["metadata"] = {"url": url}
    elif v == 1:
        o["id"] = url
    elif v == 2:
        o["id"] = "opaque-id-123"
    elif v == 3:
        o["url"] = None
        o["meta"] = {"url": url}
    else:
        o["metadata"] = {"url": None, "warc_url": url}
    lines[i] = S.dumps(o)
    return f"url_fallback_{v}"


def cm_dup_keys(rng, lines):
    i = _line(rng, lines)
    o = _obj(lines[i])
    key = rng.choice(["url", "text"])
    first = rng.choice([b'"https://first.example.com/"', b"123", b"null", b'""'])
    body = S.dumps(o)
    lines[i] = b"{" + json.dumps(key).encode() + b": " + first + b", " + body[1:]
    return f"dup_key_{key}"


def cm_control(rng, lines):
    i = _line(rng, lines)
    raw = rng.choice([b"\x01", b"\x00", b"\x1f", b"\x7f", b"\\u0000", b"\\u001f", b"\x0b"])
    lines[i] = inject(lines[i], rng.choice(["text", "url", "ignored"]), raw)
    return "control_char"


def cm_ws_url(rng, lines):
    i = _line(rng, lines)
    o = _obj(lines[i])
    o["url"] = rng.choice(WS_URLS)
    lines[i] = S.dumps(o)
    return "whitespace_url"


def cm_empty_text(rng, lines):
    i = _line(rng, lines)
    o = _obj(lines[i])
    v = rng.randrange(3)
    if v == 0:
        o["text"] = ""
    elif v == 1:
        o.pop("text", None)
    else:
        o["text"] = None
    lines[i] = S.dumps(o)
    return "empty_text"


def cm_garbage_line(rng, lines):
    lines.insert(rng.randint(0, len(lines)), rng.choice([b"{", b"}", b'{"url": ', b"not json at all", b"{'a': 1}",
                                                         b'{"url": "x", "text": "y",}', b"\\", b"\xff\xfe{}"]))
    return "garbage_line"


CONTENT_MUTATORS = [cm_invalid_utf8, cm_lone_surrogate, cm_paired_surrogate, cm_bom, cm_blank, cm_non_object,
                    cm_two_objects, cm_deep, cm_numbers, cm_wrong_type, cm_url_fallback, cm_dup_keys, cm_control,
                    cm_ws_url, cm_empty_text, cm_garbage_line]


def content_mutate_jsonl(rng: random.Random, seed: Seed) -> tuple[bytes, str]:
    lines = list(seed.lines)
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        names.append(rng.choice(CONTENT_MUTATORS)(rng, lines))
    eol = b"\r\n" if rng.random() < 0.1 else b"\n"
    if eol == b"\r\n":
        names.append("crlf")
    data, _ = S.package_jsonl(lines, seed.packaging, eol)
    if seed.packaging == "plain" and rng.random() < 0.1 and data.endswith(b"\n"):
        data = data[:-1]
        names.append("no_final_newline")
    return data, "+".join(names)


# ---------------------------------------------------------------------------------------------------
# content-level: Parquet
# ---------------------------------------------------------------------------------------------------
def _records(seed: Seed) -> list[dict]:
    return [json.loads(ln) for ln in seed.lines]


def parquet_variant(records: list[dict], variant: str, rng: random.Random | None = None) -> bytes:
    import pyarrow as pa

    n = len(records)
    urls = [r.get("url") for r in records]
    texts = [r.get("text") for r in records]
    ts = [str(r.get("timestamp") or r.get("date") or "") for r in records]
    cols = {"url": pa.array(urls, pa.string()), "text": pa.array(texts, pa.string()), "timestamp": pa.array(ts, pa.string())}
    if variant == "int_url":
        cols["url"] = pa.array(list(range(n)), pa.int64())
    elif variant == "struct_text":
        cols["text"] = pa.array([{"t": t} for t in texts], pa.struct([("t", pa.string())]))
    elif variant == "list_text":
        cols["text"] = pa.array([[t] for t in texts], pa.list_(pa.string()))
    elif variant == "struct_timestamp":
        cols["timestamp"] = pa.array([{"s": 1} for _ in texts], pa.struct([("s", pa.int64())]))
    elif variant == "binary_text_bad_utf8":
        bad = set((rng or random.Random(0)).sample(range(n), max(1, n // 8)))
        cols["text"] = pa.array([(t.encode() + (b"\xc3\x28" if i in bad else b"")) for i, t in enumerate(texts)], pa.binary())
    elif variant == "binary_url_bad_utf8":
        cols["url"] = pa.array([(u.encode() + (b"\xff" if i % 7 == 3 else b"")) for i, u in enumerate(urls)], pa.binary())
    elif variant == "nulls_and_empty":
        cols["url"] = pa.array([None if i % 5 == 1 else ("  " if i % 5 == 2 else u) for i, u in enumerate(urls)], pa.string())
        cols["text"] = pa.array([None if i % 7 == 3 else ("" if i % 7 == 4 else t) for i, t in enumerate(texts)], pa.string())
    elif variant == "large_string":
        cols["text"] = pa.array(texts, pa.large_string())
        cols["url"] = pa.array(urls, pa.large_string())
    elif variant == "dictionary":
        cols["url"] = pa.array(urls, pa.string()).dictionary_encode()
    elif variant == "int_timestamp":
        cols["timestamp"] = pa.array([10 ** 18 if i % 3 == 0 else -5 for i in range(n)], pa.int64())
    elif variant == "float_timestamp":
        cols["timestamp"] = pa.array([float("nan") if i % 2 else float("inf") for i in range(n)], pa.float64())
    elif variant == "id_url":
        cols.pop("url")
        cols["id"] = pa.array(urls, pa.string())
    elif variant == "nested_metadata_url":
        cols.pop("url")
        cols["metadata"] = pa.array([{"url": u} for u in urls], pa.struct([("url", pa.string())]))
    elif variant == "bool_id":
        cols["id"] = pa.array([True] * n, pa.bool_())
    table = pa.table(cols)
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=10)
    return buf.getvalue()


PARQUET_VARIANTS = ["int_url", "struct_text", "list_text", "struct_timestamp", "binary_text_bad_utf8",
                    "binary_url_bad_utf8", "nulls_and_empty", "large_string", "dictionary", "int_timestamp",
                    "float_timestamp", "id_url", "nested_metadata_url", "bool_id"]


def parquet_page_flip(rng: random.Random, data: bytes, header: bool = False) -> tuple[bytes, Edit, str]:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(io.BytesIO(data)).metadata
    g = rng.randrange(md.num_row_groups)
    rg = md.row_group(g)
    c = rng.randrange(rg.num_columns)
    cc = rg.column(c)
    start = cc.dictionary_page_offset or cc.data_page_offset
    size = cc.total_compressed_size
    p = start + (rng.randrange(min(size, 24)) if header else rng.randrange(max(size, 1)))
    b = bytearray(data)
    b[p] ^= rng.randint(1, 255)
    return bytes(b), Edit(p, p + 1, 1), f"parquet_{'page_header' if header else 'page'}_flip_rg{g}"


# ---------------------------------------------------------------------------------------------------
# content-level: WARC (self-built seeds: replace one record)
# ---------------------------------------------------------------------------------------------------
def set_warc_header(rec: bytes, name: str, value: bytes | None) -> bytes:
    head, sep, rest = rec.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    key = name.lower().encode() + b":"
    out = [ln for ln in lines if not ln.lower().startswith(key)]
    if value is not None:
        out.append(name.encode() + b": " + value)
    return b"\r\n".join(out) + sep + rest


def replace_block(rec: bytes, block: bytes, content_length: bytes | None = None) -> bytes:
    head, _, _ = rec.partition(b"\r\n\r\n")
    cl = content_length if content_length is not None else str(len(block)).encode()
    return set_warc_header(head + b"\r\n\r\n", "Content-Length", cl)[:-4] + b"\r\n\r\n" + block + b"\r\n\r\n"


def block_of(rec: bytes) -> bytes:
    head, _, rest = rec.partition(b"\r\n\r\n")
    for ln in head.split(b"\r\n"):
        if ln.lower().startswith(b"content-length:"):
            return rest[: int(ln.split(b":", 1)[1])]
    return rest


def response(http: bytes, idx: int = 12) -> bytes:
    return S.warc_record("response", f"https://hostile{idx}.example.com/p", http, idx,
                         content_type="application/http; msgtype=response")


@functools.lru_cache(maxsize=None)
def bomb(coding: str, size: int = 256 * MIB) -> bytes:
    """``size`` bytes of one repeated byte, compressed with a content coding, streamed (never held whole)."""
    piece = b"a" * MIB
    if coding in ("gzip", "deflate"):
        c = zlib.compressobj(9, zlib.DEFLATED, 31 if coding == "gzip" else 15)
        out = bytearray()
        for _ in range(size // MIB):
            out += c.compress(piece)
        return bytes(out + c.flush())
    if coding == "br":
        import brotli

        c = brotli.Compressor(quality=5)
        out = bytearray()
        for _ in range(size // MIB):
            out += c.process(piece)
        return bytes(out + c.finish())
    import zstandard

    c = zstandard.ZstdCompressor(level=3).compressobj()
    out = bytearray()
    for _ in range(size // MIB):
        out += c.compress(piece)
    return bytes(out + c.flush())


@functools.lru_cache(maxsize=None)
def jsonl_bomb(size: int = 200 * MIB) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = bytearray(c.compress(S.dumps({"url": "https://good.example.com/1", "text": f"{MARK} before"}) + b"\n"))
    out += c.compress(b'{"url": "https://bomb.example.com/", "text": "')
    piece = b"a" * MIB
    for _ in range(size // MIB):
        out += c.compress(piece)
    out += c.compress(b'"}\n' + S.dumps({"url": "https://good.example.com/2", "text": f"{MARK} after"}) + b"\n")
    return bytes(out + c.flush())


def http_lf_only(body: bytes) -> bytes:
    return S.http_response(body, eol=b"\n")


def hostile_warc_records() -> dict[str, tuple[bytes, set]]:
    """name -> (replacement record for BUILT_PLAIN_HTML, allowed outcomes for it)."""
    page = S.html_page(12)
    good = S.http_response(page)
    base = response(good)
    cl = len(block_of(base))
    out = {
        "cl_too_big": (set_warc_header(base, "Content-Length", str(cl + 100).encode()), {"bad_record"}),
        "cl_too_small": (set_warc_header(base, "Content-Length", str(cl - 10).encode()), {"bad_record"}),
        "cl_non_numeric": (set_warc_header(base, "Content-Length", b"12ab"), {"bad_record"}),
        "cl_marker": (set_warc_header(base, "Content-Length", b"FUZZMARK"), {"bad_record"}),
        "cl_missing": (set_warc_header(base, "Content-Length", None), {"bad_record"}),
        "cl_negative": (set_warc_header(base, "Content-Length", b"-5"), {"bad_record"}),
        "cl_huge": (set_warc_header(base, "Content-Length", b"99999999999999999999"), {"bad_record", "too_large"}),
        # "-6" sends a reader that trusts the sign back to the same size line: an endless loop
        "chunk_negative": (response(S.http_response(b"-6\r\nhello\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_negative_small": (response(S.http_response(b"-5\r\nhello\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_non_hex": (response(S.http_response(b"zz\r\nhello\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_marker": (response(S.http_response(b"FUZZMARK\r\nhello\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_oversized": (response(S.http_response(b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_past_end": (response(S.http_response(b"400\r\n" + page + b"\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_no_size_line": (response(S.http_response(b"<html>" + page, headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "chunk_plus_sign": (response(S.http_response(b"+10\r\n0123456789abcdef\r\n0\r\n\r\n", headers=[("Transfer-Encoding", "chunked")])), {"bad_record"}),
        "unknown_coding_marker": (response(S.http_response(page, headers=[("Content-Encoding", "FUZZMARK")])), {"bad_record"}),
        "bad_gzip_body": (response(S.http_response(gz(page)[:40] + b"\x00" * 30, headers=[("Content-Encoding", "gzip")])), {"bad_record"}),
        "bad_br_body": (response(S.http_response(b"\x8b\x03\x80FUZZMARK garbage", headers=[("Content-Encoding", "br")])), {"bad_record"}),
        "http_lf_only": (response(http_lf_only(page)), {"doc", "bad_record", "not_text", "no_text"}),
        "http_garbage_headers": (response(b"HTTP/1.1 200 OK\r\nX-Fuzz: " + MARK.encode() + b"\r\n\x00\xff: \xfe\r\nContent-Type text/html\r\n\r\n" + page),
                                 {"doc", "bad_record", "not_text", "no_text"}),
        "http_no_headers": (response(b"FUZZMARK not an http message at all"), {"bad_record", "not_text"}),
        "target_uri_invalid_utf8": (set_warc_header(base, "WARC-Target-URI", b"https://bad.example.com/\xff\xfe/FUZZMARK"),
                                    {"bad_utf8", "bad_record"}),
        "target_uri_beyond_unicode": (set_warc_header(base, "WARC-Target-URI", b"https://bad.example.com/\xf4\x90\x80\x80"),
                                      {"bad_utf8", "bad_record"}),
        "huge_warc_header": (set_warc_header(base, "WARC-Fuzz-Note", b"FUZZMARK " + b"x" * (100 * KIB)), {"bad_record", "too_large"}),
        "warc_header_no_colon": (base.replace(b"WARC-Date:", b"WARC-Date FUZZMARK", 1), {"bad_record", "doc"}),
        "bad_version_line": (base.replace(b"WARC/1.0", b"WARC/9.FUZZMARK", 1), {"bad_record", "doc", "absent"}),
    }
    for coding in ("gzip", "deflate", "br", "zstd"):
        out[f"bomb_{coding}"] = (response(S.http_response(bomb(coding), headers=[("Content-Encoding", coding)])), {"too_large"})
    out["bomb_chunked_gzip"] = (response(S.http_response(S.chunked(bomb("gzip"), 1 << 16),
                                                         headers=[("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])),
                                {"too_large"})
    out["bomb_stacked"] = (response(S.http_response(gz(bomb("gzip", 64 * MIB)), headers=[("Content-Encoding", "gzip, gzip")])),
                           {"too_large"})
    return out


def package_warc(records: list[bytes], packaging: str) -> tuple[bytes, list[int]]:
    blobs = [gz(r) for r in records] if packaging == "gz" else list(records)
    offs, o = [], 0
    for b in blobs:
        offs.append(o)
        o += len(b)
    return b"".join(blobs), offs


def warc_content_mutate(rng: random.Random, seed: Seed) -> tuple[bytes, list[int], set, str]:
    """Random header / HTTP damage to one record of a self-built seed."""
    recs = list(seed.records)
    j = rng.randrange(1, len(recs))
    r = recs[j]
    v = rng.randrange(6)
    if v == 0:
        cl = len(block_of(r))
        r = set_warc_header(r, "Content-Length", str(max(0, cl + rng.choice([-200, -3, -1, 1, 2, 50, 5000]))).encode())
        name = "warc_content_length"
    elif v == 1:
        r = set_warc_header(r, "Content-Length", rng.choice([b"", b"x", b"-1", b"0x10", b" 12 ", b"1e3"]))
        name = "warc_content_length_text"
    elif v == 2:
        r = r.replace(b"\r\n", b"\n", rng.randint(1, 12))
        name = "warc_crlf_to_lf"
    elif v == 3:
        blk = block_of(r)
        k = rng.randrange(max(len(blk), 1))
        blk2 = blk[:k] + _garbage(rng) + blk[k:]
        r = replace_block(r, blk2)
        name = "warc_block_garbage"
    elif v == 4:
        blk = block_of(r)
        blk2 = blk.replace(b"\r\n", b"\n", rng.randint(1, 6))
        r = replace_block(r, blk2)
        name = "warc_http_lf"
    else:
        r = set_warc_header(r, "WARC-Type", rng.choice([b"response", b"conversion", b"metadata", b"resource", b"bogus", b""]))
        name = "warc_type"
    recs[j] = r
    data, offs = package_warc(recs, seed.packaging)
    return data, offs, {j}, name


# ---------------------------------------------------------------------------------------------------
# random cases
# ---------------------------------------------------------------------------------------------------
def random_case(run_seed: int, index: int, seeds: list[Seed], allowed=None) -> Case | None:
    """Case ``index`` of run ``run_seed``; None when its seed is not ``allowed`` (a set of seed names)."""
    rng = rng_for(run_seed, index)
    seed = rng.choice(seeds)
    if allowed is not None and seed.name not in allowed:
        return None
    cid = f"r{run_seed}-{index}"
    base = dict(id=cid, seed=seed.name, fmt=seed.fmt, suffix=seed.suffix)
    try:
        return _random_case(rng, seed, base)
    except Exception as exc:  # noqa: BLE001 - a content mutation that does not apply: damage bytes instead
        rng = rng_for(run_seed, f"{index}-fallback")
        mname = rng.choice(list(BYTE_MUTATORS))
        data, e = BYTE_MUTATORS[mname](rng, seed.data, seed.structure)
        return Case(mutator=mname, data=data, edit=e, note=f"fallback after {type(exc).__name__}", **base)


def _random_case(rng: random.Random, seed: Seed, base: dict) -> Case:
    roll = rng.random()
    if seed.fmt == "jsonl" and seed.lines and roll < 0.45:
        data, name = content_mutate_jsonl(rng, seed)
        if rng.random() < 0.2 and seed.packaging != "plain":
            data, e = BYTE_MUTATORS[rng.choice(list(BYTE_MUTATORS))](rng, data, [])
            name += "+bytes"
        return Case(mutator=f"content:{name.split('+')[0]}", data=data, note=name, **base)
    if seed.fmt == "parquet" and seed.lines and roll < 0.3:
        v = rng.choice(PARQUET_VARIANTS)
        return Case(mutator=f"parquet:{v}", data=parquet_variant(_records(seed), v, rng), **base)
    if seed.fmt == "parquet" and roll < 0.6:
        try:
            data, e, name = parquet_page_flip(rng, seed.data, header=rng.random() < 0.3)
            return Case(mutator=name.rsplit("_rg", 1)[0], data=data, edit=e, note=name, **base)
        except Exception:  # noqa: BLE001
            pass
    if seed.fmt in ("warc", "wet", "wat") and seed.records and roll < 0.35:
        data, offs, touched, name = warc_content_mutate(rng, seed)
        return Case(mutator=f"warc:{name}", data=data, warc_layout=offs, warc_touched=touched, **base)
    mname = rng.choice(list(BYTE_MUTATORS))
    data, e = BYTE_MUTATORS[mname](rng, seed.data, seed.structure)
    return Case(mutator=mname, data=data, edit=e, **base)


# ---------------------------------------------------------------------------------------------------
# known cases
# ---------------------------------------------------------------------------------------------------
def _pick(seeds: dict[str, Seed], *names: str) -> Seed | None:
    for n in names:
        if n in seeds:
            return seeds[n]
    return None


def known_cases(seeds: dict[str, Seed]) -> list[Case]:
    out: list[Case] = []

    def add(name: str, seed: Seed, data: bytes, **kw):
        out.append(Case(id=f"k-{name}", seed=seed.name, fmt=seed.fmt, suffix=kw.pop("suffix", seed.suffix),
                        mutator=f"known:{name.split('@')[0]}", data=data, known=True, **kw))

    # ---------------- JSON Lines ----------------
    for pk in ("plain", "gzip", "zstd-multi"):
        s = _pick(seeds, f"c4.{pk}", f"genm.{pk}")
        if s is None:
            continue
        L = list(s.lines)

        def pack(lines, eol=b"\n", _s=s):
            return S.package_jsonl(lines, _s.packaging, eol)[0]

        add(f"null-first-line@{pk}", s, pack([b"null"] + L))
        add(f"array-first-line@{pk}", s, pack([b"[]"] + L))
        add(f"number-first-line@{pk}", s, pack([b"1"] + L))
        add(f"invalid-utf8-url@{pk}", s, pack([L[0], inject(L[1], "url", b"\xff\xfe")] + L[2:]))
        # a 4-byte sequence beyond U+10FFFF: Arrow's JSON parser lets it through, DuckDB refuses it (and quotes it)
        add(f"beyond-unicode-url@{pk}", s, pack([L[0], inject(L[1], "url", b"/FUZZMARK\xf4\x90\x80\x80")] + L[2:]))
        add(f"invalid-utf8-text@{pk}", s, pack([L[0], inject(L[1], "text", b"\xc3\x28")] + L[2:]))
        add(f"invalid-utf8-ignored@{pk}", s, pack([inject(L[0], "ignored", b"\x80")] + L[1:]))
        add(f"invalid-utf8-key@{pk}", s, pack([inject(L[0], "key", b"\xfe")] + L[1:]))
        add(f"two-objects-blank@{pk}", s, pack([L[0], L[1] + b" " + L[2], b"", L[3], b"   ", L[4] + b" null"] + L[5:]))
    s = _pick(seeds, "c4.plain", "genm.plain")
    if s is not None:
        L = list(s.lines)

        def pack(lines, eol=b"\n"):
            return S.package_jsonl(lines, "plain", eol)[0]

        add("lone-surrogates", s, pack([inject(L[0], "text", b"\\ud800"), inject(L[1], "url", b"\\udfff"),
                                        inject(L[2], "key", b"\\ud800"), inject(L[3], "ignored", b"\\udc00x"),
                                        inject(L[4], "text", b"\\ud83d\\ude00")] + L[5:]))
        add("overlong-and-surrogate-utf8", s, pack([inject(L[0], "text", b"\xc0\xaf"), inject(L[1], "text", b"\xed\xa0\x80"),
                                                    inject(L[2], "url", b"\xe0\x80\xaf"), inject(L[3], "text", b"\xf4\x90\x80\x80")] + L[4:]))
        add("bom-start-and-mid", s, pack([b"\xef\xbb\xbf" + L[0], L[1], b"\xef\xbb\xbf" + L[2]] + L[3:]))
        add("blank-and-whitespace-lines", s, pack([b"", L[0], b"   ", b"\t\r", L[1], b"", b"", L[2]] + L[3:] + [b"  "]))
        add("non-objects", s, pack([L[0], b"null", b"42", b'"str"', b"[1, 2]", b"true", L[1], b"{}"] + L[2:]))
        add("deep-nesting", s, pack([set_field(L[0], "zz", deep(1022)), set_field(L[1], "zz", deep(1023)),
                                     set_field(L[2], "zz", deep(1024)), set_field(L[3], "zz", deep(1030)),
                                     deep(100000), deep(200000, closed=False), set_field(L[4], "zz", deep(50000))] + L[5:]))
        add("numbers-in-ignored-fields", s, pack([set_field(L[i], k, v) for i, (k, v) in enumerate(
            [("zz", b"NaN"), ("zz", b"Infinity"), ("zz", b"-Infinity"), ("zz", b"1" + b"0" * 5000), ("zz", b"1e999"),
             ("timestamp", b"NaN"), ("timestamp", b"1e300"), ("date", b"-Infinity"), ("timestamp", b"99999999999999999999999")])]
            + L[9:]))
        add("wrong-types", s, pack([set_field(L[i % len(L)], k, v) for i, (k, v) in enumerate(WRONG_TYPES)] + L[len(WRONG_TYPES):]))
        add("duplicate-keys", s, pack([b'{"url": "https://first.example.com/", ' + S.dumps(_obj(L[0]))[1:],
                                       b'{"text": 5, ' + S.dumps(_obj(L[1]))[1:], b'{"url": null, ' + S.dumps(_obj(L[2]))[1:],
                                       S.dumps(_obj(L[3]))[:-1] + b', "url": 7}'] + L[4:]))
        add("control-characters", s, pack([inject(L[0], "text", b"\x01"), inject(L[1], "text", b"\\u0000"),
                                           inject(L[2], "url", b"\x00"), inject(L[3], "text", b"\x7f"),
                                           inject(L[4], "text", b"\x0c")] + L[5:]))
        add("crlf", s, pack(L, eol=b"\r\n"))
        add("whitespace-and-empty", s, pack([set_field(L[i], "url", json.dumps(u).encode()) for i, u in enumerate(WS_URLS)]
                                             + [set_field(L[len(WS_URLS)], "text", b'""'),
                                                set_field(L[len(WS_URLS) + 1], "text", b"null")] + L[len(WS_URLS) + 2:]))
        add("url-fallbacks", s, pack([b'{"metadata": {"url": "https://m.example.com/"}, "text": "t1 FUZZMARK"}',
                                      b'{"id": "https://id.example.com/", "text": "t2 FUZZMARK"}',
                                      b'{"id": "opaque-42", "text": "t3 FUZZMARK"}',
                                      b'{"url": null, "meta": {"url": "https://meta.example.com/"}, "text": "t4"}',
                                      b'{"metadata": "str", "text": "t5"}', b'{"id": 42, "text": "t6"}',
                                      b'{"WARC-Target-URI": "https://w.example.com/", "content": "t7"}',
                                      b'{"url": "https://r.example.com/", "raw_content": "t8", "text": null}'] + L))
        add("no-final-newline", s, pack(L)[:-1])
        add("empty-file", s, b"")
        add("only-blank", s, b"\n\n   \n\r\n")
    # documents dense in what the scanners look for: their matchers must stay linear (a text of phone
    # numbers once took minutes: a pairwise overlap test in the PII scanner)
    s = _pick(seeds, "c4.plain", "genm.plain")
    if s is not None:
        dense = {"phones": "+1 (555) 555-5555 ", "ibans": "DE89 3704 0044 0532 0130 00 ", "emails": "a.b@c.de ",
                 "cards": "4111 1111 1111 1111 ", "spdx": "SPDX-License-Identifier: MIT ",
                 "cc": "creativecommons.org/licenses/by/4.0/ ", "ips": "8.8.8.8 ", "digits": "1234567890"}
        for what, unit in dense.items():
            text = unit * max(1, (1 << 19) // len(unit))  # ~0.5 MB
            add(f"dense-{what}", s, S.dumps({"url": "https://dense.example.com/", "text": text}) + b"\n" +
                b"\n".join(list(s.lines)[:3]) + b"\n")
    # size limits (small max_doc_bytes: line cap 8 MiB)
    M = 64 * KIB
    for pk in ("plain", "gzip"):
        s = _pick(seeds, f"c4.{pk}", f"genm.{pk}")
        if s is None:
            continue
        L = list(s.lines)
        big = S.dumps({"url": "https://big.example.com/", "text": MARK + " " + "b" * (9 * MIB)})
        add(f"line-over-cap@{pk}", s, S.package_jsonl(L[:5] + [big] + L[5:], pk)[0], max_doc_bytes=M)
        over = [S.dumps({"url": f"https://edge{k}.example.com/", "text": "e" * (M + d)}) for k, d in enumerate((-1, 0, 1, 1000))]
        add(f"doc-just-over-max@{pk}", s, S.package_jsonl(L[:3] + over + L[3:], pk)[0], max_doc_bytes=M)
    s = _pick(seeds, "c4.gzip", "genm.gzip")
    if s is not None:
        L = list(s.lines)
        big = S.dumps({"url": "https://big.example.com/", "text": "b" * (10 * MIB)})
        full = gz(b"\n".join(L[:20] + [big]) + b"\n")
        add("oversize-line-then-truncated", s, full[: len(full) - 2000], max_doc_bytes=M, status={"partial"})
        add("gzip-bomb-line", s, jsonl_bomb(), mem_limit=160 * MIB)
        add("crc-flip-single-member", s, _flip(s.data, len(s.data) - 8), status={"partial"})
        add("isize-flip-single-member", s, _flip(s.data, len(s.data) - 2), status={"partial"})
        add("truncated-in-trailer", s, s.data[:-3], status={"partial"})
        add("truncated-mid", s, s.data[: len(s.data) // 2], status={"partial"})
        add("not-gzip", s, b"".join(ln + b"\n" for ln in L[:5]), status={"failed", "partial"})
    s = _pick(seeds, "c4.gzip-multi", "genm.gzip-multi")
    if s is not None and len(s.structure) >= 4:
        m = s.structure
        add("gzip-member-damage", s, _flip(s.data, (m[2] + m[3]) // 2), status={"partial"})
        add("gzip-member-header-flags", s, _flip(s.data, m[2] + 3, 0xE0), status={"partial"})
        add("gzip-member-header-magic", s, _flip(s.data, m[2] + 1), status={"partial"})
        add("gzip-member-method", s, _flip(s.data, m[2] + 2), status={"partial"})
        add("gzip-garbage-between-members", s, s.data[: m[2]] + b"FUZZGARBAGE" * 20 + s.data[m[2] :], status={"partial"})
        add("gzip-zero-padding", s, s.data + b"\0" * 4096, status={"done"})
        add("gzip-zero-between-members", s, s.data[: m[2]] + b"\0" * 512 + s.data[m[2] :], status={"partial"})
        add("gzip-crc-flip-member", s, _flip(s.data, m[3] - 6), status={"partial"})
        add("gzip-last-member-truncated", s, s.data[:-10], status={"partial"})
        add("gzip-member-deleted-middle", s, s.data[: m[2] + 30] + s.data[m[2] + 300 :], status={"partial"})
        add("gzip-trailing-garbage", s, s.data + b"FUZZ trailing", status={"partial"})
    s = _pick(seeds, "c4.zstd-multi", "genm.zstd-multi")
    if s is not None and len(s.structure) >= 4:
        m = s.structure
        add("zstd-frame-damage", s, _flip(s.data, (m[2] + m[3]) // 2), status={"partial"})
        add("zstd-frame-magic", s, _flip(s.data, m[2]), status={"partial"})
        add("zstd-frame-header-descriptor", s, _flip(s.data, m[2] + 4, 0xFF), status={"partial"})
        add("zstd-checksum-flip", s, _flip(s.data, m[3] - 2), status={"partial"})
        skip = (0x184D2A50 + 3).to_bytes(4, "little") + (16).to_bytes(4, "little") + b"FUZZMARK skipped"
        add("zstd-skippable-frames", s, skip + s.data[: m[2]] + skip + s.data[m[2] :] + skip, status={"done"})
        add("zstd-truncated", s, s.data[: (m[2] + m[3]) // 2], status={"partial"})
        add("zstd-garbage-between", s, s.data[: m[2]] + b"FUZZGARBAGE" * 5 + s.data[m[2] :], status={"partial"})
    s = _pick(seeds, "c4.zstd", "genm.zstd")
    if s is not None:
        add("zstd-single-checksum-flip", s, _flip(s.data, len(s.data) - 1), status={"partial"})
        add("zstd-single-damage", s, _flip(s.data, len(s.data) // 2), status={"partial", "failed"})
    # ---------------- Parquet ----------------
    s = _pick(seeds, "c4.parquet-rg10", "genm.parquet-rg10")
    if s is not None:
        rng = random.Random(7)
        recs = _records(s)
        for v in PARQUET_VARIANTS:
            add(f"parquet-{v}", s, parquet_variant(recs, v, rng))
        for k in range(3):
            d, e, name = parquet_page_flip(random.Random(100 + k), s.data)
            add(f"parquet-page-flip-{k}", s, d, edit=e, note=name)
            d, e, name = parquet_page_flip(random.Random(200 + k), s.data, header=True)
            add(f"parquet-page-header-flip-{k}", s, d, edit=e, note=name)
        add("parquet-footer-cut", s, s.data[:-12], status={"failed"})
        add("parquet-footer-flip", s, _flip(s.data, len(s.data) - 40), status={"failed", "partial", "done"})
        add("parquet-magic-flip", s, _flip(s.data, len(s.data) - 2), status={"failed"})
        add("parquet-truncated-mid", s, s.data[: len(s.data) // 2], status={"failed"})
        add("parquet-empty", s, b"", status={"failed"})
    # ---------------- WARC ----------------
    for sname in ("built.warc.gz", "built.warc"):
        s = seeds.get(sname)
        if s is None:
            continue
        tag = "gz" if s.packaging == "gz" else "plain"
        j = S.BUILT_PLAIN_HTML
        for hname, (rec, allowed) in hostile_warc_records().items():
            recs = list(s.records)
            recs[j] = rec
            data, offs = package_warc(recs, s.packaging)
            lim = 512 * MIB if hname.startswith("bomb") else None
            add(f"warc-{hname}@{tag}", s, data, warc_layout=offs, warc_touched={j}, expect_at={j: allowed}, mem_limit=lim)
        # block larger than max_doc_bytes
        recs = list(s.records)
        recs[j] = response(S.http_response(S.html_page(12, words=20000)))
        data, offs = package_warc(recs, s.packaging)
        add(f"warc-block-over-max@{tag}", s, data, warc_layout=offs, warc_touched={j}, expect_at={j: {"too_large"}},
            max_doc_bytes=64 * KIB)
        # garbage between two records, truncation inside a record
        recs = list(s.records)
        data, offs = package_warc(recs, s.packaging)
        p = offs[j]
        add(f"warc-garbage-between-records@{tag}", s, data[:p] + b"FUZZMARK garbage between records\r\n" * 3 + data[p:],
            edit=Edit(p, p, 34 * 3), status={"partial", "done"})
        q = offs[j] + 60
        add(f"warc-truncated-in-record@{tag}", s, data[:q], edit=Edit(q, len(data), 0), status={"partial"},
            expect_at={j: {"bad_record", "absent"}})
        if s.packaging == "gz":
            add(f"warc-damaged-member@{tag}", s, _flip(data, offs[j] + 40), edit=Edit(offs[j] + 40, offs[j] + 41, 1),
                status={"partial"})
            add(f"warc-member-header-damage@{tag}", s, _flip(data, offs[j] + 3, 0xE0), edit=Edit(offs[j] + 3, offs[j] + 4, 1),
                status={"partial"})
    s = seeds.get("built.wet.gz")
    if s is not None:
        recs = list(s.records)
        recs[3] = S.warc_record("conversion", "https://wet3.example.com/p/3", b"FUZZMARK text \xff\xfe not utf-8\n", 3,
                                content_type="text/plain")
        data, offs = package_warc(recs, "gz")
        add("wet-invalid-utf8", s, data, warc_layout=offs, warc_touched={3}, expect_at={3: {"bad_utf8"}})
    s = seeds.get("built.wat.gz")
    if s is not None:
        for name, block, allowed in (
                ("wat-invalid-json", b'{"Envelope": {"Payload-Metadata": FUZZMARK', {"bad_record"}),
                ("wat-json-list", b'["FUZZMARK", 1, 2]', {"bad_record", "absent"}),
                ("wat-envelope-string", b'{"Envelope": "FUZZMARK"}', {"bad_record", "absent"}),
                ("wat-payload-list", b'{"Envelope": {"Payload-Metadata": ["FUZZMARK"]}}', {"bad_record", "absent"}),
                ("wat-response-meta-string", b'{"Envelope": {"Payload-Metadata": {"HTTP-Response-Metadata": "FUZZMARK"}}}',
                 {"bad_record", "doc", "absent"}),
                ("wat-headers-list", b'{"Envelope": {"Payload-Metadata": {"HTTP-Response-Metadata": {"Headers": ["FUZZMARK"],'
                                     b' "HTML-Metadata": {"Head": "x"}}}}}', {"bad_record", "doc"}),
                ("wat-invalid-utf8", b'{"Envelope": {"Payload-Metadata": {"HTTP-Response-Metadata": {"Headers": {"a": "\xff FUZZMARK"}}}}}',
                 {"bad_record", "bad_utf8", "doc"}),
                ("wat-deep-json", b'{"Envelope": ' + deep(100000) + b"}", {"bad_record", "absent"}),
        ):
            recs = list(s.records)
            recs[4] = S.warc_record("metadata", "https://wat4.example.com/", block, 4, content_type="application/json")
            data, offs = package_warc(recs, "gz")
            add(name, s, data, warc_layout=offs, warc_touched={4}, expect_at={4: allowed})
    for sname in ("shared.dolma_wget_sample-0000.warc.gz", "shared.cc-main-2020-34_resiliparse_sample.warc.gz"):
        s = seeds.get(sname)
        if s is not None and len(s.structure) > 6:
            p = s.structure[5] + 100
            add(f"shared-warc-truncated@{sname.split('.')[1]}", s, s.data[:p], edit=Edit(p, len(s.data), 0), status={"partial"})
            q = s.structure[4] + 50
            add(f"shared-warc-damaged-member@{sname.split('.')[1]}", s, _flip(s.data, q), edit=Edit(q, q + 1, 1),
                status={"partial"})
    return out


def _flip(data: bytes, p: int, x: int = 0x55) -> bytes:
    b = bytearray(data)
    if 0 <= p < len(b):
        b[p] ^= x
    return bytes(b)
