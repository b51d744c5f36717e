"""License notices in each document (Creative Commons, SPDX tags, license headers) and its primary license,
with where on the page each was found and how far it speaks for the page.

The RE2 prefilter in :func:`provenance.licenses.scan_batch` keeps Python off rows with no license anchor;
only candidate rows reach the precise matchers.

Columns (ledger migration 0009):

* ``licenses``            every finding, ``LICENSE_TYPE``'s fields plus ``where`` (rel-license, meta, footer,
                          inline, credit, code) and ``confidence`` (``provenance.licenses.CONFIDENCE``; 0.5 or 0.8
                          for "All rights reserved")
* ``license``             the primary license (``provenance.licenses.primary_license``: the page's own declaration)
* ``license_where``       where the primary license was found: the place of its most confident finding with that
                          SPDX id, credits and code blocks aside (they never decide it); null without a primary
* ``license_confidence``  that finding's confidence
"""

from __future__ import annotations

import pyarrow as pa

from .. import licenses as lic
from . import ScanContext

#: what the ledger stores per finding: the detector's fields, then where and confidence
STORED_FINDING_TYPE = pa.struct(list(lic.FINDING_TYPE) + [pa.field("where", pa.string()),
                                                           pa.field("confidence", pa.float64())])
STORED_TYPE = pa.list_(STORED_FINDING_TYPE)
#: every value ``where`` can take (a closed vocabulary: reports may show it as it is)
WHERE_VALUES = tuple(lic.CONFIDENCE)


def primary_place(findings: list[dict], primary: str | None) -> tuple[str | None, float | None]:
    """Where the primary license was found and with what confidence: its most confident finding (earliest on
    ties) among those that may decide it. (None, None) without a primary license."""
    if primary is None:
        return None, None
    best = None
    for f in findings:
        if f.get("spdx") != primary or f.get("where") in lic.NOT_DECIDING:
            continue
        key = (-(f.get("confidence") or 0.0), f["start"] if f.get("start") is not None else 1 << 62)
        if best is None or key < best[0]:
            best = (key, f)
    if best is None:
        return None, None
    return best[1].get("where"), best[1].get("confidence")


class LicenseScanner:
    name = "licenses"
    fields = [pa.field("licenses", STORED_TYPE), pa.field("license", pa.string()),
              pa.field("license_where", pa.string()), pa.field("license_confidence", pa.float64())]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        # the primary license is decided on the findings' places on the page (rel=license, metadata,
        # footer, inline; credits and code blocks never), see provenance.licenses.primary_license
        rows, primary = lic.scan_batch_findings(batch)  # per row: findings with where/confidence; primary
        where: list[str | None] = [None] * len(rows)
        conf: list[float | None] = [None] * len(rows)
        for i, p in enumerate(primary):
            if p is not None:
                where[i], conf[i] = primary_place(rows[i], p)
        return {"licenses": pa.array(rows, type=STORED_TYPE), "license": pa.array(primary, pa.string()),
                "license_where": pa.array(where, pa.string()), "license_confidence": pa.array(conf, pa.float64())}
