"""Peak memory of a scan on the worst inputs, against the same scan of an ordinary shard (the anchor).

    python bench/bench_hostile.py            # ~2 minutes; writes ~1 GB of temporary files

Each case is one shard scanned by ``provenance.pipeline.scan_shard`` (every scanner, into Parquet sinks) in a
fresh process; the figure is that process's peak RSS (``VmHWM``). A scan's memory must not
follow the size of the shard, nor the size of its worst record beyond ``--max-doc-bytes`` (16 MiB): the
ratios to the anchor say whether it does.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

RUN = """
import sys
from provenance.pipeline import scan_shard
from provenance.sources import discover
res = scan_shard(discover([sys.argv[1]])[0], sys.argv[2])
print(res.status, res.rows_read, res.documents, res.quarantined, res.error_reason or "-")
# VmHWM: the peak RSS of this address space (a fork's ru_maxrss would carry the parent's peak over exec)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("HWM", hwm)
"""


def scan_in_child(path: Path, work: Path) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(path), str(work)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{path.name}: the scan failed ({proc.returncode}): {err[-500:]}")
    result, hwm = out.strip().splitlines()
    return int(hwm.split()[1]) / 1024, time.perf_counter() - t0, result


def line(i: int) -> bytes:
    return json.dumps({"url": f"https://s{i % 50}.example.com/{i}", "text": f"doc {i} " + "lorem ipsum dolor " * 200}).encode()


def jsonl_gz(path: Path, docs: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as f:
        for i in range(docs):
            f.write(line(i) + b"\n")
    return path


def big_document(path: Path, mb: int) -> Path:
    """One document of ``mb`` MB of text between two ordinary ones (plain JSON Lines)."""
    with open(path, "wb") as f:
        f.write(line(0) + b"\n" + b'{"url": "https://big.example.com/", "text": "')
        chunk = b"word " * (1 << 18)
        for _ in range(mb * (1 << 20) // len(chunk)):
            f.write(chunk)
        f.write(b'"}\n' + line(2) + b"\n")
    return path


def gzip_bomb(path: Path, gb: int) -> Path:
    """A line of ``gb`` GB of one repeated byte, compressed to a few MB."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(c.compress(line(0) + b'\n{"url": "https://bomb.example.com/", "text": "'))
        block = b"A" * (1 << 24)
        for _ in range(gb * 64):
            f.write(c.compress(block))
        f.write(c.compress(b'"}\n' + line(2) + b"\n") + c.flush())
    return path


def warc_bombs(path: Path) -> Path:
    """Responses whose Content-Encoding gzip / br / zstd bodies inflate to 256 MiB, and a 100 MB response."""
    import brotli
    import zstandard

    raw = b"<p>" + b"a" * (256 << 20)
    bodies = [("gzip", gzip.compress(raw, 9)), ("br", brotli.compress(raw, quality=5)),
              ("zstd", zstandard.ZstdCompressor(level=3).compress(raw))]
    out = io.BytesIO()
    for i, (coding, body) in enumerate(bodies):
        http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: " + coding.encode() + b"\r\n\r\n" + body)
        rec = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://bomb.example.com/" + str(i).encode() +
               b"\r\nContent-Length: " + str(len(http)).encode() + b"\r\n\r\n" + http + b"\r\n\r\n")
        out.write(gzip.compress(rec, 1))
    big = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>" + b"word " * (20 << 20)
    rec = (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: https://big.example.com/\r\nContent-Length: " +
           str(len(big)).encode() + b"\r\n\r\n" + big + b"\r\n\r\n")
    out.write(gzip.compress(rec, 1))
    path.write_bytes(out.getvalue())
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000, help="documents in the anchor shard (4x for the large one)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-hostile-"))
    try:
        cases = [
            ("anchor: ordinary JSONL.gz shard", jsonl_gz(tmp / "small.jsonl.gz", args.docs)),
            (f"the same, 4x the documents", jsonl_gz(tmp / "large.jsonl.gz", 4 * args.docs)),
            ("a 100 MB document (plain JSONL)", big_document(tmp / "big.jsonl", 100)),
            ("a 2 GB line in a JSONL.gz bomb", gzip_bomb(tmp / "bomb.jsonl.gz", 2)),
            ("WARC: gzip/br/zstd bodies of 256 MiB, a 100 MB response", warc_bombs(tmp / "bombs.warc.gz")),
        ]
        rows = []
        for label, path in cases:
            rss, secs, out = scan_in_child(path, tmp / "work")
            rows.append((label, path.stat().st_size / 1e6, rss, secs, out))
        anchor = rows[0][2]
        print(f"{'case':58} {'file MB':>8} {'peak RSS MB':>12} {'x anchor':>9} {'s':>6}  result (status rows docs quarantined reason)")
        for label, mb, rss, secs, out in rows:
            print(f"{label:58} {mb:8.1f} {rss:12.0f} {rss / anchor:9.2f} {secs:6.1f}  {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
