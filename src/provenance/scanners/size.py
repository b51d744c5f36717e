"""Size columns: UTF-8 bytes and words per document.

``words`` (runs of non-whitespace, see ``provenance.kernels.count_words``) is what the composition views
call tokens, as the C4 paper's domain table does; it is not a model tokenizer's count.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..kernels import count_words
from . import ScanContext


class SizeScanner:
    name = "size"
    fields = [pa.field("bytes", pa.int64()), pa.field("words", pa.int64())]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        text = batch.column("text")
        return {
            "bytes": pc.fill_null(pc.binary_length(text), 0).cast(pa.int64()),
            "words": count_words(text),
        }
