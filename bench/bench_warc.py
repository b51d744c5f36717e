"""FastWARC vs warcio vs our own salvaging record walk on the same WARC files.

The WARC reader walks records itself (it must resynchronise after damage, which FastWARC cannot); this
measures what that costs against FastWARC's C++ iteration, and where the time of a WARC scan goes.

    python bench/bench_warc.py              # a ~40 MB WARC built from the sample corpus (+ the real CC excerpt)

Both libraries iterate the same response records and read every body; the figure is records/s and MB/s
per core, best of 3, measured in this run. Also reported: our whole WARC reader (records -> core schema,
with HTML-to-text extraction), to show where the time of a WARC scan goes.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import best_of  # noqa: E402  (bench/ is the script's folder)


def build_warc(path: Path, docs: int) -> int:
    """A gzip-per-record WARC of HTML responses made from the generated sample (request + response)."""
    import gzip
    import json

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from provenance.sample import generate

    src = path.parent / "src"
    generate(src, docs=docs, shards=1, seed=5, formats=("jsonl.gz",))
    n = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for line in gzip.open(next(src.glob("*.json.gz"))):
            rec = json.loads(line)
            paras = "".join(f"<p>{p}</p>\n" for p in rec["text"].split("\n"))
            html = (f"<!doctype html><html><head><title>t</title><meta name='robots' content='index'></head>"
                    f"<body>{paras}</body></html>").encode()
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(rec["url"], "response", payload=io.BytesIO(html),
                                                          http_headers=headers,
                                                          warc_headers_dict={"WARC-Date": rec["timestamp"]}))
            n += 1
    shutil.rmtree(src)
    return n


def fastwarc_iter(path) -> tuple[int, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = b = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
            b += len(rec.reader.read())
            n += 1
    return n, b


def warcio_iter(path) -> tuple[int, int]:
    from warcio.archiveiterator import ArchiveIterator

    n = b = 0
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response":
                continue
            b += len(rec.content_stream().read())
            n += 1
    return n, b


def our_reader(path) -> int:
    from provenance.readers import read_shard
    from provenance.sources import discover

    return sum(ch.batch.num_rows for ch in read_shard(discover([str(path)])[0]) if ch.batch is not None)


def our_walk(path) -> int:
    """Our salvaging record walk with HTTP parsing and body decoding, the HTML-to-text step left out (the
    part FastWARC replaced before the walk became ours)."""
    from provenance.readers import read_shard, warc
    from provenance.sources import discover

    saved = warc._html_text
    warc._html_text = lambda html: html[:100]
    try:
        return sum(ch.batch.num_rows for ch in read_shard(discover([str(path)])[0]) if ch.batch is not None)
    finally:
        warc._html_text = saved


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-warc-"))
    try:
        files = [("generated (sample corpus as HTML)", tmp / "gen.warc.gz")]
        build_warc(files[0][1], args.docs)
        real = Path(__file__).resolve().parents[2] / "shared/data/web_text/warc/cc-main-2020-34_resiliparse_sample.warc.gz"
        if real.exists():
            files.append(("real CC-MAIN-2020-34 excerpt", real))
        for label, path in files:
            n, nbytes = fastwarc_iter(path)
            n2, nbytes2 = warcio_iter(path)
            assert (n, nbytes) == (n2, nbytes2), ((n, nbytes), (n2, nbytes2))  # same records, same bodies
            tf = best_of(fastwarc_iter, path)
            tw = best_of(warcio_iter, path)
            to = best_of(our_reader, path)
            tk = best_of(our_walk, path)
            mb = os.path.getsize(path) / 1e6
            print(f"{label}: {n:,} responses, {mb:,.1f} MB compressed")
            print(f"  FastWARC  {n / tf:>10,.0f} records/s  {mb / tf:>7,.1f} MB/s")
            print(f"  warcio    {n / tw:>10,.0f} records/s  {mb / tw:>7,.1f} MB/s   FastWARC is {tw / tf:.1f}x faster")
            print(f"  our record walk (salvaging, HTTP parsed and decoded, no HTML->text): {n / tk:>8,.0f} records/s")
            print(f"  our WARC reader, incl. HTML->text (Resiliparse): {n / to:>8,.0f} records/s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
