"""Seeds: small, valid shards of every format the readers take, built at run time.

From ../shared/data (skipped when absent): the first records of the real C4 sample repackaged in every
JSON Lines packaging and as a Parquet file of small row groups, a CCNet/Dolma file (nested ``metadata.url``),
the derived Parquet files, the Common Crawl / wget WARC excerpts cut to their first 20 gzip members (and
uncompressed), the WET and WAT files. Always: the package's generated sample (``provenance.sample``),
repackaged the same ways, and WARC / WET / WAT files written here with warcio (chunked transfer coding,
gzip / deflate / br / zstd content codings, HTML, plain text, not-text, non-2xx, request and metadata
records). Records built from content carry MARK in their text (and in an ignored field / header), so the
harness can check that no message ever quotes a record.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

MARK = "FUZZMARK fuzzmark.person@example.com"
MARKERS = ("FUZZMARK", "fuzzmark.person@example.com")
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
LINES_PER_MEMBER = 10


@dataclass
class Seed:
    name: str
    fmt: str  # jsonl | parquet | warc | wet | wat
    suffix: str  # file name ending
    data: bytes
    packaging: str | None = None  # jsonl: plain | gzip | gzip-multi | zstd | zstd-multi; warc: gz | plain
    lines: list[bytes] | None = None  # JSON Lines content (without newlines)
    records: list[bytes] | None = None  # WARC: the uncompressed record blobs (self-built seeds)
    structure: list[int] = field(default_factory=list)  # member / frame / record / page offsets
    shared: bool = False
    marked: bool = False

    @property
    def compression(self) -> str | None:
        if self.fmt != "jsonl":
            return None
        return {"plain": None, "gzip": "gzip", "gzip-multi": "gzip", "zstd": "zstd", "zstd-multi": "zstd"}[self.packaging]


# ---------------------------------------------------------------------------------------------------
# packaging
# ---------------------------------------------------------------------------------------------------
def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zst(data: bytes, checksum: bool = True) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3, write_checksum=checksum).compress(data)


def package_jsonl(lines: list[bytes], packaging: str, eol: bytes = b"\n") -> tuple[bytes, list[int]]:
    """File bytes and the offsets of its members / frames."""
    body = [ln + eol for ln in lines]
    if packaging == "plain":
        return b"".join(body), []
    if packaging in ("gzip", "zstd"):
        return (gz if packaging == "gzip" else zst)(b"".join(body)), [0]
    comp = gz if packaging == "gzip-multi" else zst
    out = bytearray()
    offs = []
    for i in range(0, max(len(body), 1), LINES_PER_MEMBER):
        offs.append(len(out))
        out += comp(b"".join(body[i : i + LINES_PER_MEMBER]))
    return bytes(out), offs


SUFFIX = {"plain": ".jsonl", "gzip": ".jsonl.gz", "gzip-multi": ".jsonl.gz", "zstd": ".jsonl.zst", "zstd-multi": ".jsonl.zst"}
PACKAGINGS = ("plain", "gzip", "gzip-multi", "zstd", "zstd-multi")


def mark_record(obj: dict) -> dict:
    obj = dict(obj)
    for k in ("text", "content", "raw_content"):
        if isinstance(obj.get(k), str):
            obj[k] = f"{MARK} {obj[k]}"
            break
    obj["fuzz_note"] = MARK
    return obj


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")


def parquet_bytes(records: list[dict], row_group_size: int = 10, **kw) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(records)
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size, **kw)
    return buf.getvalue()


def parquet_structure(data: bytes) -> list[int]:
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception:  # noqa: BLE001
        return []
    offs = []
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for c in range(rg.num_columns):
            cc = rg.column(c)
            offs.append(cc.dictionary_page_offset or cc.data_page_offset)
            offs.append(cc.data_page_offset)
    offs.append(len(data) - 8)
    return sorted(set(o for o in offs if o is not None and 0 <= o < len(data)))


def jsonl_seeds(prefix: str, lines: list[bytes], shared: bool, marked: bool) -> list[Seed]:
    out = []
    for p in PACKAGINGS:
        data, offs = package_jsonl(lines, p)
        out.append(Seed(f"{prefix}.{p}", "jsonl", SUFFIX[p], data, p, list(lines), None, offs, shared, marked))
    return out


# ---------------------------------------------------------------------------------------------------
# WARC building
# ---------------------------------------------------------------------------------------------------
def gzip_members(data: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each gzip member of a clean file."""
    out = []
    s = 0
    while s < len(data):
        d = zlib.decompressobj(wbits=31)
        d.decompress(data[s:])
        if not d.eof:
            break
        end = len(data) - len(d.unused_data)
        out.append((s, end - s))
        s = end
    return out


def warc_record(rtype: str, uri: str | None, block: bytes, idx: int, extra: list[tuple[str, str]] | None = None,
                content_type: str | None = None, content_length: str | None = "auto") -> bytes:
    """One WARC record, written by hand (used for hostile variants and checked against warcio)."""
    h = [("WARC-Type", rtype), ("WARC-Record-ID", f"<urn:uuid:00000000-0000-4000-8000-{idx:012d}>"),
         ("WARC-Date", "2024-05-18T01:02:%02dZ" % (idx % 60))]
    if uri:
        h.append(("WARC-Target-URI", uri))
    if content_type:
        h.append(("Content-Type", content_type))
    h += extra or []
    if content_length == "auto":
        h.append(("Content-Length", str(len(block))))
    elif content_length is not None:
        h.append(("Content-Length", content_length))
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def warcio_record(rtype: str, uri: str, payload: bytes, idx: int, content_type: str | None = None) -> bytes:
    """One record written by warcio's WARCWriter (uncompressed)."""
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=False)
    hd = {"WARC-Record-ID": f"<urn:uuid:00000000-0000-4000-8000-{idx:012d}>",
          "WARC-Date": "2024-05-18T01:02:%02dZ" % (idx % 60)}
    if content_type:
        hd["Content-Type"] = content_type
    rec = w.create_warc_record(uri, rtype, payload=io.BytesIO(payload), warc_headers_dict=hd,
                               warc_content_type=content_type or "")
    w.write_record(rec)
    return buf.getvalue()


def html_page(i: int, words: int = 30) -> bytes:
    body = " ".join(f"word{j}" for j in range(words))
    return (f"<!doctype html><html><head><title>Fuzz page {i}</title><meta charset=\"utf-8\"></head><body>"
            f"<h1>Page {i}</h1><p>{MARK} page {i} says hello.</p><p>{body}</p></body></html>").encode()


def http_response(body: bytes, ctype: str = "text/html; charset=utf-8", status: str = "200 OK",
                  headers: list[tuple[str, str]] | None = None, eol: bytes = b"\r\n") -> bytes:
    h = [("Content-Type", ctype), ("X-Fuzz-Note", MARK)] + (headers or [])
    if not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in h):
        h.append(("Content-Length", str(len(body))))
    head = f"HTTP/1.1 {status}".encode() + eol + b"".join(f"{k}: {v}".encode() + eol for k, v in h) + eol
    return head + body


def chunked(body: bytes, size: int = 50) -> bytes:
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")


def _br(b: bytes) -> bytes:
    import brotli

    return brotli.compress(b)


def _deflate(b: bytes) -> bytes:
    return zlib.compress(b)


CODINGS = {"gzip": gz, "deflate": _deflate, "br": _br, "zstd": lambda b: zst(b, False)}


def warcinfo(idx: int) -> bytes:
    return warc_record("warcinfo", None, b"software: provenance-fuzz\r\nisPartOf: CC-MAIN-2024-22\r\n", idx,
                       content_type="application/warc-fields")


def built_warc_records() -> list[bytes]:
    """The self-built WARC: index -> record blob. Hostile cases replace one index."""
    recs = [warcinfo(0)]
    i = 1

    def resp(http: bytes, uri: str | None = None) -> bytes:
        nonlocal i
        r = warcio_record("response", uri or f"https://fuzz{i}.example.com/page/{i}", http, i)
        i += 1
        return r

    def raw(rtype, block, ctype, uri=None):
        nonlocal i
        r = warc_record(rtype, uri or f"https://fuzz{i}.example.com/page/{i}", block, i, content_type=ctype)
        i += 1
        return r

    recs.append(resp(http_response(html_page(1))))
    recs.append(raw("request", b"GET /page/2 HTTP/1.1\r\nHost: fuzz2.example.com\r\n\r\n", "application/http; msgtype=request"))
    recs.append(resp(http_response(chunked(html_page(3)), headers=[("Transfer-Encoding", "chunked")])))
    for enc in ("gzip", "deflate", "br", "zstd"):
        recs.append(resp(http_response(CODINGS[enc](html_page(i)), headers=[("Content-Encoding", enc)])))
    recs.append(resp(http_response(chunked(gz(html_page(i)), 64), headers=[("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")])))
    recs.append(resp(http_response(f"{MARK} plain text page, several words here.".encode(), ctype="text/plain")))
    recs.append(resp(http_response(b"\x89PNG\r\n\x1a\n" + bytes(range(256)), ctype="image/png")))
    recs.append(resp(http_response(html_page(i), status="404 Not Found")))
    recs.append(resp(http_response(html_page(i))))
    recs.append(raw("metadata", b"fetchTimeMs: 12\r\n", "application/warc-fields"))
    recs.append(resp(http_response(html_page(i))))
    recs.append(resp(http_response(html_page(i))))
    return recs


# indexes of the self-built WARC that hostile cases replace
BUILT_PLAIN_HTML = 12
BUILT_CHUNKED = 3
BUILT_GZIP = 4


def built_wet_records() -> list[bytes]:
    recs = [warcinfo(0)]
    for i in range(1, 9):
        text = f"{MARK} converted text of page {i}\nsecond line with words {i}\n".encode()
        recs.append(warc_record("conversion", f"https://wet{i}.example.com/p/{i}", text, i, content_type="text/plain",
                                extra=[("WARC-Identified-Content-Language", "eng")]))
    return recs


def wat_envelope(i: int, response: bool = True) -> bytes:
    pm = {"HTTP-Response-Metadata": {"Response-Message": {"Status": "200"},
                                      "Headers": {"Content-Type": "text/html", "X-Fuzz-Note": MARK},
                                      "HTML-Metadata": {"Head": {"Title": f"{MARK} {i}", "Metas": [{"name": "description", "content": MARK}]}}}} \
        if response else {"HTTP-Request-Metadata": {"Headers": {"Host": f"wat{i}.example.com"}}}
    env = {"Envelope": {"Format": "WARC", "WARC-Header-Metadata": {"WARC-Type": "response" if response else "request",
                                                                   "WARC-Target-URI": f"https://wat{i}.example.com/"},
                        "Payload-Metadata": pm}}
    return json.dumps(env).encode()


def built_wat_records() -> list[bytes]:
    recs = [warcinfo(0)]
    for i in range(1, 9):
        recs.append(warc_record("metadata", f"https://wat{i}.example.com/", wat_envelope(i, response=(i % 3 != 2)), i,
                                content_type="application/json"))
    return recs


def warc_seed_from_records(name: str, fmt: str, records: list[bytes], packaging: str, shared: bool = False,
                           marked: bool = True) -> Seed:
    ext = {"warc": ".warc", "wet": ".warc.wet", "wat": ".warc.wat"}[fmt]
    if packaging == "gz":
        blobs = [gz(r) for r in records]
        ext += ".gz"
    else:
        blobs = list(records)
    offs, o = [], 0
    for b in blobs:
        offs.append(o)
        o += len(b)
    return Seed(name, fmt, ext, b"".join(blobs), packaging, None, list(records), offs, shared, marked)


# ---------------------------------------------------------------------------------------------------
# building every seed
# ---------------------------------------------------------------------------------------------------
def _shared_c4_lines(n: int = 80) -> list[bytes]:
    with gzip.open(SHARED / "web_text" / "c4" / "c4-sample.00000-of-00001.json.gz", "rb") as f:
        out = []
        for line in f:
            if not line.strip():
                continue
            out.append(dumps(mark_record(json.loads(line))))
            if len(out) >= n:
                break
    return out


def _shared_ccnet_lines() -> list[bytes]:
    with gzip.open(SHARED / "web_text" / "ccnet_dolma" / "cc_en_head-0091.jsonl.gz", "rb") as f:
        return [dumps(mark_record(json.loads(line))) for line in f if line.strip()]


def _cut_warc(path: Path, members: int = 20) -> bytes:
    data = path.read_bytes()
    mem = gzip_members(data)[:members]
    if not mem:
        return data
    end = mem[-1][0] + mem[-1][1]
    return data[:end]


def _generated(tmp: Path, seed: int) -> tuple[list[bytes], bytes, bytes]:
    from provenance.sample import generate

    out = tmp / "generated"
    generate(out, docs=200, shards=1, seed=seed, formats=("jsonl.gz", "parquet"))
    jz = next(out.glob("*.json.gz")).read_bytes()
    pqb = next(out.glob("*.parquet")).read_bytes()
    lines = [ln for ln in gzip.decompress(jz).split(b"\n") if ln.strip()]
    return lines, jz, pqb


def build_seeds(tmp: str | os.PathLike, seed: int = 0, use_shared: bool = True) -> tuple[list[Seed], list[str]]:
    """Every seed, and notes (e.g. shared data absent)."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    seeds: list[Seed] = []
    notes: list[str] = []
    # generated sample (always): as written, and 60 of its records marked and repackaged
    try:
        lines, jz, pqb = _generated(tmp, 1234)
        seeds.append(Seed("gen.jsonl.gz", "jsonl", ".json.gz", jz, "gzip", lines, None, [0]))
        seeds.append(Seed("gen.parquet", "parquet", ".parquet", pqb, None, None, None, parquet_structure(pqb)))
        marked = [dumps(mark_record(json.loads(ln))) for ln in lines[:60]]
        seeds += jsonl_seeds("genm", marked, False, True)
        pb = parquet_bytes([json.loads(ln) for ln in marked], 10)
        seeds.append(Seed("genm.parquet-rg10", "parquet", ".parquet", pb, None, marked, None, parquet_structure(pb), False, True))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"generated sample unavailable: {type(exc).__name__}: {exc}")
    # self-built WARC / WET / WAT (always)
    recs = built_warc_records()
    seeds.append(warc_seed_from_records("built.warc.gz", "warc", recs, "gz"))
    seeds.append(warc_seed_from_records("built.warc", "warc", recs, "plain"))
    seeds.append(warc_seed_from_records("built.wet.gz", "wet", built_wet_records(), "gz"))
    seeds.append(warc_seed_from_records("built.wat.gz", "wat", built_wat_records(), "gz"))
    # shared data
    if not use_shared or not SHARED.is_dir():
        notes.append(f"shared data seeds skipped: {SHARED} is not present")
        return seeds, notes
    try:
        c4 = _shared_c4_lines(80)
        seeds += jsonl_seeds("c4", c4, True, True)
        pb = parquet_bytes([json.loads(ln) for ln in c4], 10)
        seeds.append(Seed("c4.parquet-rg10", "parquet", ".parquet", pb, None, c4, None, parquet_structure(pb), True, True))
        cc = _shared_ccnet_lines()
        d, offs = package_jsonl(cc, "gzip-multi")
        seeds.append(Seed("ccnet.gzip-multi", "jsonl", ".jsonl.gz", d, "gzip-multi", cc, None, offs, True, True))
        for p in sorted((SHARED / "web_text" / "parquet_derived").glob("*.parquet")):
            b = p.read_bytes()
            if len(b) <= (1 << 20):
                seeds.append(Seed(f"shared.{p.stem}.parquet", "parquet", ".parquet", b, None, None, None, parquet_structure(b), True))
        wdir = SHARED / "web_text" / "warc"
        for p in sorted(wdir.glob("*.warc.gz")):
            cut = _cut_warc(p)
            stem = p.name[: -len(".warc.gz")]
            offs = [o for o, _ in gzip_members(cut)]
            seeds.append(Seed(f"shared.{stem}.warc.gz", "warc", ".warc.gz", cut, "gz", None, None, offs, True))
            if stem.startswith(("dolma_wget_sample-0000", "cc-main-2020-34")):
                plain = b"".join(zlib.decompressobj(wbits=31).decompress(cut[o : o + n]) for o, n in gzip_members(cut))
                seeds.append(Seed(f"shared.{stem}.warc", "warc", ".warc", plain, "plain", None, None, [], True))
        for p, fmt, suf in ((wdir / "cc-main-2024-22_whirlwind.warc.wet.gz", "wet", ".warc.wet.gz"),
                            (wdir / "cc-main-2024-22_whirlwind.warc.wat.gz", "wat", ".warc.wat.gz")):
            if p.exists():
                b = p.read_bytes()
                seeds.append(Seed(f"shared.{p.name}", fmt, suf, b, "gz", None, None, [o for o, _ in gzip_members(b)], True))
    except Exception as exc:  # noqa: BLE001
        notes.append(f"some shared data seeds failed to build: {type(exc).__name__}: {exc}")
    return seeds, notes
