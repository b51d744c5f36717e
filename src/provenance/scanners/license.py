"""License notices in each document (Creative Commons, SPDX tags, license headers) and its primary license.

The RE2 prefilter in :func:`provenance.licenses.scan_batch` keeps Python off rows with no license anchor;
only candidate rows reach the precise matchers.
"""

from __future__ import annotations

import pyarrow as pa

from ..licenses import LICENSE_TYPE, scan_batch_primary
from . import ScanContext


class LicenseScanner:
    name = "licenses"
    fields = [pa.field("licenses", LICENSE_TYPE), pa.field("license", pa.string())]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        # the primary license is decided on the findings' places on the page (rel=license, metadata,
        # footer, inline; credits and code blocks never), see provenance.licenses.primary_license
        found, primary = scan_batch_primary(batch)
        return {"licenses": found, "license": pa.array(primary, pa.string())}
