"""The readers' fuzz suite (tests/fuzz/, docs/bad-input.md): known hostile inputs, then random mutations of
real and generated seeds for PROVENANCE_FUZZ_BUDGET seconds (default 150), checked against independent
oracles. Any crash, hang, memory blow-up, lost record, accounting error or content leak fails the test; the
summary is printed (pytest -s) and is the assertion message. Seeds from ../shared/data are used when the
folder is present; the generated and warcio-built seeds always run."""

from __future__ import annotations

import os

from fuzz.harness import Config, failed, format_summary, run


def test_fuzz_readers(tmp_path):
    cfg = Config(budget=float(os.environ.get("PROVENANCE_FUZZ_BUDGET", "150")),
                 seed=int(os.environ.get("PROVENANCE_FUZZ_SEED", "20240518")),
                 out=str(tmp_path / "fuzz-out"))
    summary = run(cfg)
    text = format_summary(summary)
    print(text)
    assert not failed(summary), text
