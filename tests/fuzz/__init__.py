"""Mutational fuzz suite for the readers (docs/bad-input.md): seeds, mutators, independent oracles, a
long-lived worker subprocess and the harness. Run ``python -m tests.fuzz --budget 150 --seed 0`` from the
repository root, or ``pytest tests/test_fuzz.py``."""
