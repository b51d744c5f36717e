"""MinHash signatures per document (``provenance.minhash``), for near-duplicate clustering and takedowns.

The signature goes to the shard's Parquet sink only (a fixed-size list of uint32); the ledger records
where that sink is (``shards.annotations_path``) and never holds the signatures of the whole corpus.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import ScanContext

NUM_PERM = 128
SEED = 1
NGRAM = 5


def signature_type(num_perm: int = NUM_PERM) -> pa.DataType:
    return pa.list_(pa.uint32(), num_perm)


def to_arrow(sigs: np.ndarray) -> pa.FixedSizeListArray:
    n, k = sigs.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(sigs.astype(np.uint32, copy=False).ravel()), k)


class MinHashScanner:
    name = "minhash"

    def __init__(self, num_perm: int = NUM_PERM, seed: int = SEED, ngram: int = NGRAM):
        self.num_perm, self.seed, self.ngram = num_perm, seed, ngram
        self.fields = [pa.field("minhash", signature_type(num_perm))]

    def config_key(self) -> str:
        return f"words:{self.ngram}:{self.num_perm}:{self.seed}"

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        from ..minhash import signatures

        sigs = signatures(batch.column("text"), num_perm=self.num_perm, seed=self.seed, ngram=self.ngram, mode="words")
        return {"minhash": to_arrow(sigs)}
