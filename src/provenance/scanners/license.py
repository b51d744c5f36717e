"""License notices in each document (Creative Commons, SPDX tags, license headers) and its primary license.

The RE2 prefilter in :func:`provenance.licenses.scan_batch` keeps Python off rows with no license anchor;
only candidate rows reach the precise matchers.
"""

from __future__ import annotations

import pyarrow as pa

from ..licenses import LICENSE_TYPE, primary_license, scan_batch
from . import ScanContext


class LicenseScanner:
    name = "licenses"
    fields = [pa.field("licenses", LICENSE_TYPE), pa.field("license", pa.string())]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        found = scan_batch(batch)
        # primary license only where something was found: the rest stay null without a Python call
        lengths = found.value_lengths().to_numpy(zero_copy_only=False)
        primary = [None] * len(found)
        for i in lengths.nonzero()[0]:
            primary[i] = primary_license(found[int(i)].as_py())
        return {"licenses": found, "license": pa.array(primary, pa.string())}
