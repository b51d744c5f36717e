"""Domain attribution: host, registered domain (eTLD+1) and public suffix for every URL.

The authority part of each URL is cut out with one RE2 pass over the column, dictionary-encoded, and each
distinct authority is resolved once (``provenance.domains.attribute_hosts``, itself cached per process);
the results are spread back to the rows with ``take``. No network: the Public Suffix List snapshot that
tldextract bundles.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..domains import attribute_hosts
from . import ScanContext

_AUTHORITY = r"^\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//(?P<authority>[^/?#\\\s]*)"


class DomainScanner:
    name = "domain"
    fields = [
        pa.field("host", pa.string()),
        pa.field("registered_domain", pa.string()),
        pa.field("suffix", pa.string()),
    ]

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        url = batch.column("url")
        authority = pc.struct_field(pc.extract_regex(url, _AUTHORITY), [0])
        enc = authority.dictionary_encode()
        hosts, domains, suffixes = attribute_hosts(enc.dictionary.to_pylist())
        idx = enc.indices
        return {
            "host": pa.array(hosts, pa.string()).take(idx),
            "registered_domain": pa.array(domains, pa.string()).take(idx),
            "suffix": pa.array(suffixes, pa.string()).take(idx),
        }
