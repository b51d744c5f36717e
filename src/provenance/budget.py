"""The memory budget of a command: every corpus stage stays within it at any corpus size, spilling to disk.

The budget is the process's peak RSS target: 1 GB by default, ``$PROVENANCE_MEMORY_LIMIT`` or the global
``provenance --memory-limit SIZE`` to change it. DuckDB gets a share of it as its ``memory_limit`` (its buffer
manager spills sorts, joins, aggregates and temporary tables beyond that to its temp directory: ``<ledger>.tmp``
beside the ledger file, DuckDB's default for a file database); the rest is for Python, Arrow batches and the
scanners. Stages that hold data outside DuckDB read and write in batches (their memory follows the batch).
"""

from __future__ import annotations

import os
import re

from .errors import ConfigError

ENV = "PROVENANCE_MEMORY_LIMIT"
DEFAULT = "1GB"
#: DuckDB's share of the budget. The rest is for what DuckDB's limit does not count, measured in bench/scale.py
#: and docs/scale.md: a command's fixed cost (~170 MB of imports, ~340 MB once the numba kernels are compiled),
#: a reader's or writer's batch with the allocator's slack (~100-150 MB), DuckDB's own allocations outside its
#: buffer pool. At half the budget, dedup reached 901-967 MB at 2M documents
DUCKDB_SHARE = 0.4
#: a DuckDB share under this runs DuckDB on one thread
SMALL = 256 * 1024 ** 2
#: below this DuckDB cannot do its work (its own floor for a hash join or a sort of wide rows)
MINIMUM = 64 * 1024 ** 2

_UNITS = {"": 1, "B": 1, "KB": 1000, "KIB": 1024, "MB": 1000 ** 2, "MIB": 1024 ** 2, "GB": 1000 ** 3,
          "GIB": 1024 ** 3, "TB": 1000 ** 4, "TIB": 1024 ** 4}


def parse_size(text: str) -> int:
    """``"1GB"``, ``"512MiB"``, ``"750 MB"``, ``"2e9"`` -> bytes; a clear error otherwise."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else None
    if not m or unit not in _UNITS:
        raise ConfigError(f"memory limit {text!r}: expected a size such as 1GB, 512MB or 2GiB")
    n = int(float(m.group(1)) * _UNITS[unit])
    if n < MINIMUM:
        raise ConfigError(f"memory limit {text!r} is below {MINIMUM // 1024 ** 2} MB, too little for DuckDB to work in")
    return n


#: glibc's mmap threshold set by ``tune_allocators``: a block this big or bigger is mapped and unmapped on its
#: own (a reader's 8 MB blocks and Arrow's buffers go back to the system when freed), smaller ones come from the
#: heap (DuckDB's 256 KB buffers). glibc's default starts at 128 KB and rises with every large block freed, up to
#: 32 MB, after which freed blocks stay in the heap
MMAP_THRESHOLD = 4 * 1024 ** 2


def tune_allocators() -> None:
    """For a command's process (the CLI calls this first): Arrow allocates from the system allocator, not its
    bundled mimalloc, and glibc maps big blocks on their own (``MMAP_THRESHOLD``). Measured reading a 500k-
    document JSON Lines shard (bench: docs/scale.md): resident memory over the process's start 150 MB -> 50 MB;
    the scan of 40,000 documents peaked at 470 MB instead of 590-620 MB in the same time. Both freed memory
    that the allocators kept for reuse, beside DuckDB's share of the budget. ``ARROW_DEFAULT_MEMORY_POOL``, when
    set, wins."""
    import sys

    if "pyarrow" in sys.modules:
        if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
            import pyarrow as pa

            pa.set_memory_pool(pa.system_memory_pool())
    else:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version"):
            libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (glibc's malloc.h)
    except OSError:  # pragma: no cover - not glibc: nothing to tune
        pass


def budget_bytes() -> int:
    """The process's budget: ``$PROVENANCE_MEMORY_LIMIT`` or 1 GB."""
    return parse_size(os.environ.get(ENV) or DEFAULT)


def duckdb_limit(total: int | None = None) -> str:
    """DuckDB's ``memory_limit`` for a budget (bytes), as a DuckDB size string."""
    total = budget_bytes() if total is None else total
    return f"{max(MINIMUM, int(total * DUCKDB_SHARE)) // 1024 ** 2}MiB"


def apply(con, temp_directory: str | None = None) -> str:
    """Set DuckDB's memory limit (and, for a connection without a database file, its spill folder) on
    ``con``; returns the limit set."""
    limit = duckdb_limit()
    con.execute(f"SET memory_limit = '{limit}'")
    if budget_bytes() * DUCKDB_SHARE < SMALL:
        # each DuckDB thread pins its own buffers (a hash join's partitions, an aggregate's state): under a
        # small limit one thread spills where two run out of memory (DuckDB's own advice)
        con.execute("SET threads = 1")
    if temp_directory:
        con.execute("SET temp_directory = '" + temp_directory.replace("'", "''") + "'")
    return limit


def spill_to(con, folder: str) -> bool:
    """Make ``folder`` DuckDB's spill folder for the rest of the connection's work. DuckDB refuses to switch once
    its current folder holds spilled data (at 5M documents, export's own planning queries had spilled beside the
    ledger and the switch failed the export): then the current folder (beside the ledger) is kept and False
    returned."""
    import duckdb

    try:
        con.execute("SET temp_directory = '" + str(folder).replace("'", "''") + "'")
        return True
    except duckdb.NotImplementedException:
        return False


def restore(con) -> None:
    """Back to the budget after a stage that set its own limit (``RESET`` would give DuckDB 80% of RAM)."""
    con.execute(f"SET memory_limit = '{duckdb_limit()}'")
