"""Personal data and secrets per document: typed findings with offsets and a salted hash of the value
(``provenance.pii``); the raw value only when the user asks for it (``keep_values``)."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

from ..pii import FINDINGS_TYPE, PiiConfig, scan_batch
from . import ScanContext


class PiiScanner:
    name = "pii"
    fields = [pa.field("pii", FINDINGS_TYPE), pa.field("pii_count", pa.int32())]

    def __init__(self, config: PiiConfig | None = None, salt: bytes = b"", keep_values: bool = False,
                 scheme: str = "hmac-sha256"):
        self.config = config or PiiConfig()
        self.salt = salt  # the hashing key (pii_key.py), or a legacy ledger's salt
        self.scheme = scheme
        self.keep_values = keep_values

    def config_key(self) -> str:
        """What changes the findings: the detectors and options, the salt (by its digest), raw values kept.
        Unlike other rules, pii.yaml decides what is read from the text, so it is part of the shard's
        configuration: changing it rescans."""
        return "|".join([self.config.model_dump_json(), hashlib.sha256(self.salt).hexdigest()[:16], str(self.keep_values),
                         self.scheme])

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        _, findings = scan_batch(batch, self.config, self.salt, keep_values=self.keep_values, scheme=self.scheme)
        return {"pii": findings, "pii_count": pc.list_value_length(findings).cast(pa.int32())}
