"""Compiled kernels over Arrow buffers (numba), for work that Arrow's compute functions do slowly.

Each kernel takes the offsets and data buffers of a string array, so no Python object is created per
document. ``bench/bench_scan.py`` measures them against the Arrow alternatives.
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa


def string_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets[int64, n+1], data[uint8]) of a string/large_string array, zero-copy where possible."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        otype = np.int64
    else:
        otype = np.int32
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=otype)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return offs.astype(np.int64, copy=False), data


@numba.njit(cache=True, nogil=True)
def _count_words(offs, data):
    n = len(offs) - 1
    out = np.zeros(n, np.int64)
    for i in range(n):
        c = 0
        prev_space = True
        for j in range(offs[i], offs[i + 1]):
            x = data[j]
            space = x == 32 or (x >= 9 and x <= 13)
            if prev_space and not space:
                c += 1
            prev_space = space
        out[i] = c
    return out


def count_words(arr: pa.Array) -> pa.Array:
    """Words per document: runs of characters between ASCII whitespace (space, \\t, \\n, \\v, \\f, \\r).

    Equal to ``len(s.split())`` for text whose whitespace is ASCII; Unicode spaces (no-break space,
    ideographic space) do not separate words, and scripts written without spaces count one word per run.
    Nulls count 0.
    """
    offs, data = string_buffers(arr)
    counts = _count_words(offs, data)
    return pa.array(counts, pa.int64())
