"""The salvaging readers against the plain library reads of the same files (one thread, same run).

    python bench/bench_readers.py              # 20,000 generated documents (~70 MB of text)

- JSON Lines: our reader (salvaging gzip stream, orjson line by line, the contract's checks, core schema)
  against gzip + Arrow's JSON reader with an explicit schema (the reader before issue 13; it segfaults on a
  `null` line and checks less, but it is the fast columnar anchor).
- gzip decoding: zlib-ng (what the salvaging stream uses) against the standard library's zlib.
- Parquet: our reader (row group by row group, with the checks) against a raw pyarrow batch read.
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import tempfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from common import best_of  # noqa: E402  (bench/ is the script's folder)


def ours(path: Path) -> int:
    from provenance.readers import read_shard
    from provenance.sources import discover

    return sum(ch.batch.num_rows for ch in read_shard(discover([str(path)])[0]) if ch.batch is not None)


def arrow_jsonl(path: Path) -> int:
    schema = pa.schema([("url", pa.string()), ("text", pa.string()), ("timestamp", pa.string())])
    data = gzip.decompress(path.read_bytes())
    n = 0
    step = 8 << 20
    i = 0
    while i < len(data):
        j = data.rfind(b"\n", i, i + step) + 1 or len(data)
        block = data[i:j]
        t = pj.read_json(io.BytesIO(block), read_options=pj.ReadOptions(block_size=len(block) + 1, use_threads=False),
                         parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
        n += t.num_rows
        i = j
    return n


def inflate(mod, data: bytes) -> int:
    d = mod.decompressobj(31)
    n = 0
    for i in range(0, len(data), 1 << 16):
        n += len(d.decompress(data[i : i + (1 << 16)]))
    return n


def raw_parquet(path: Path) -> int:
    return sum(b.num_rows for b in pq.ParquetFile(path).iter_batches(batch_size=8192, columns=["url", "text", "timestamp"],
                                                                      use_threads=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20000)
    args = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from provenance.sample import generate

    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-readers-"))
    try:
        generate(tmp, docs=args.docs, shards=1, seed=11)
        jl = next(tmp.glob("*.json.gz"))
        pqf = next(tmp.glob("*.parquet"))
        mb = len(gzip.decompress(jl.read_bytes())) / 1e6
        n = ours(jl)
        t_ours, t_arrow = best_of(ours, jl), best_of(arrow_jsonl, jl)
        print(f"JSON Lines .gz, {n:,} documents, {mb:,.1f} MB of JSON")
        print(f"  gzip + Arrow JSON reader (anchor) {n / t_arrow:>10,.0f} docs/s")
        print(f"  our reader                        {n / t_ours:>10,.0f} docs/s   {t_arrow / t_ours:.2f}x the anchor")
        data = jl.read_bytes()
        from zlib_ng import zlib_ng

        t_z, t_ng = best_of(inflate, zlib, data), best_of(inflate, zlib_ng, data)
        print(f"gzip decoding, {len(data) / 1e6:,.1f} MB compressed")
        print(f"  zlib (anchor)                     {mb / t_z:>10,.0f} MB/s decoded")
        print(f"  zlib-ng                           {mb / t_ng:>10,.0f} MB/s   {t_z / t_ng:.2f}x the anchor")
        t_raw, t_pq = best_of(raw_parquet, pqf), best_of(ours, pqf)
        print(f"Parquet, {n:,} documents")
        print(f"  raw pyarrow batches (anchor)      {n / t_raw:>10,.0f} docs/s")
        print(f"  our reader                        {n / t_pq:>10,.0f} docs/s   {t_raw / t_pq:.2f}x the anchor")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
