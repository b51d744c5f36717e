"""Scanners: small pure units, each a name, the Arrow fields it adds and ``scan(batch, context)``.

A scanner works on a whole RecordBatch and returns its new columns; it does no I/O of its own. What it
needs from outside (rules, snapshots, indexes) comes through the ``ScanContext``, loaded once per task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa


@dataclass
class ScanContext:
    """Shared, read-only inputs for scanners (rules, snapshots, indexes), loaded once per task."""

    options: dict = field(default_factory=dict)


class Scanner(Protocol):
    name: str
    fields: list[pa.Field]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]: ...


def apply(scanners: list[Scanner], batch: pa.RecordBatch, context: ScanContext) -> pa.RecordBatch:
    """Run scanners in order; each sees the columns of the ones before it."""
    for s in scanners:
        cols = s.scan(batch, context)
        for f in s.fields:
            arr = cols[f.name]
            if arr.type != f.type:
                arr = arr.cast(f.type)
            batch = batch.append_column(f, arr)
    return batch


def default_scanners(pii_config=None, pii_salt: bytes = b"", keep_pii_values: bool = False,
                     code_indexes: list[str] | None = None, pii_scheme: str = "hmac-sha256") -> list[Scanner]:
    """Every scanner of a scan. PII findings are hashed with the key ``pii_salt`` (pii_key.py: kept outside
    the ledger) under ``pii_scheme``; code
    reference indexes (folders made by ``provenance index build``) add the code-match scanner."""
    from .domain import DomainScanner
    from .license import LicenseScanner
    from .minhash import MinHashScanner
    from .pii import PiiScanner
    from .signals import PageSignalsScanner
    from .size import SizeScanner

    out = [DomainScanner(), SizeScanner(), PageSignalsScanner(), LicenseScanner(),
           PiiScanner(pii_config, pii_salt, keep_pii_values, pii_scheme), MinHashScanner()]
    if code_indexes:
        from .codeindex import CodeIndexScanner

        out.append(CodeIndexScanner(code_indexes))
    return out


def output_fields(scanners: list[Scanner]) -> list[pa.Field]:
    return [f for s in scanners for f in s.fields]
