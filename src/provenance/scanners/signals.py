"""Page-level consent signals (X-Robots-Tag / meta robots noai, TDMRep, AIPREF Content-Usage), from the
HTTP headers and HTML a WARC reader keeps in the batch. Rows without headers or HTML cost nothing."""

from __future__ import annotations

import pyarrow as pa

from ..signals import SIGNAL_TYPE, scan_batch
from . import ScanContext


class PageSignalsScanner:
    name = "page_signals"
    fields = [pa.field("page_signals", SIGNAL_TYPE)]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        return {"page_signals": scan_batch(batch)}
