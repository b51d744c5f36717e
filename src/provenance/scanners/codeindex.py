"""Matches of code from reference indexes (``provenance index build``) inside each document: whole files or
snippets pasted into pages, with containment, the reference's license and offsets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa

from ..codeindex import MATCH_TYPE, check_meta, load_index
from . import ScanContext


class CodeIndexScanner:
    name = "code_matches"
    fields = [pa.field("code_matches", MATCH_TYPE)]

    def __init__(self, index_dirs: list[str]):
        self.dirs = [str(Path(d).resolve()) for d in index_dirs]
        self._indexes = None

    def __getstate__(self):  # ship paths, not loaded indexes, to workers
        return {"dirs": self.dirs, "_indexes": None}

    def config_key(self) -> str:
        h = hashlib.sha256()
        for d in self.dirs:
            raw = (Path(d) / "meta.json").read_bytes()
            try:
                meta = json.loads(raw)
            except ValueError:
                meta = None
            check_meta(d, meta)  # an index of another format version: one line telling to rebuild, before any work
            h.update(d.encode() + b"\0" + raw)
        return h.hexdigest()[:16]

    def _load(self):
        if self._indexes is None:
            self._indexes = [(Path(d).name, load_index(d)) for d in self.dirs]
        return self._indexes

    def scan(self, batch: pa.RecordBatch, context: ScanContext) -> dict[str, pa.Array]:
        text = batch.column("text")
        found = [idx.match_batch(text) for _, idx in self._load()]
        if len(found) == 1:
            return {"code_matches": found[0]}
        rows = [[] for _ in range(batch.num_rows)]
        for (name, _), arr in zip(self._indexes, found):
            lengths = arr.value_lengths().to_numpy(zero_copy_only=False)
            for i in lengths.nonzero()[0]:
                rows[int(i)] += [dict(m, ref=f"{name}:{m['ref']}") for m in arr[int(i)].as_py()]
        return {"code_matches": pa.array(rows, MATCH_TYPE)}
