"""MinHash signatures for a whole Arrow batch, bit-compatible with datasketch, computed in numba.

``signatures(texts)`` turns a string column into an ``(n, num_perm)`` uint64 matrix in one compiled pass
over the Arrow offsets/data buffers (no Python call per document or per shingle). Row ``i`` equals the
``hashvalues`` of a ``datasketch.MinHash(num_perm, seed, scheme=scheme)`` fed the same shingles through a
hash function returning :func:`shingle_hashes` (``tests/test_minhash.py`` proves it bit for bit), so a row
can be wrapped in ``datasketch.LeanMinHash(seed=seed, hashvalues=row, scheme=...)`` and used with
``MinHashLSH``.

Normalisation and shingling (byte level, on the UTF-8 bytes)
-----------------------------------------------------------
Separators, in both modes: every ASCII byte that is not a token character (see below), plus these
UTF-8 sequences: U+00A0 no-break space (``C2 A0``), the General Punctuation block U+2000..U+206F
(``E2 80 xx`` / ``E2 81 xx``: en/em spaces, dashes, curly quotes, ellipsis, zero-width spaces) and
U+3000 ideographic space (``E3 80 80``). Every other byte >= 0x80 is a *word character*: non-ASCII
letters (``café``, ``Straße``, CJK) stay inside their word, byte for byte, and are not case-folded.
Invalid UTF-8 is not an error; its bytes are word characters.

- ``mode="words"`` (prose): tokens are maximal runs of ``[A-Za-z0-9]`` and bytes >= 0x80 (minus the
  separators above); ASCII ``A-Z`` is lower-cased (``lowercase=False`` keeps case). ``don't`` is
  ``don``, ``t``; ``e-mail`` is ``e``, ``mail``.
- ``mode="code"``: whitespace/control bytes (<= 0x20, 0x7F) separate; identifiers are
  ``[A-Za-z_\\x80-\\xff][A-Za-z0-9_\\x80-\\xff]*``, numbers ``[0-9][A-Za-z0-9_.]*`` (``0x1F``, ``3.14``,
  ``1_000``), and every other printable ASCII byte is a one-byte operator/punctuation token (``==`` is
  two tokens ``=`` ``=``). Identifiers are kept as-is by default (``lowercase=True`` folds ASCII case).

A shingle is ``ngram`` consecutive tokens; its normalised bytes are the tokens joined by one space
(``b"the quick brown fox jumps"``). A text with at least one but fewer than ``ngram`` tokens gives one
shingle of all its tokens (so short texts still get a signature, and equal short texts match). A text
with no token -- null, empty, whitespace or punctuation only (words mode) -- gives no shingle: its row
is all ``2**32 - 1``, exactly the ``hashvalues`` of an empty datasketch MinHash (two such rows
``estimate`` to 1.0, as in datasketch; filter them out before LSH, e.g. ``(sig == MAX_HASH).all(1)``).

Shingle hash (:func:`shingle_hash32`, pure-Python reference): a 64-bit polynomial hash of the
shingle's normalised bytes, ``H = sum((byte_i + 1) * B**(L-1-i)) mod 2**64`` with ``B =
0x5851F42D4C957F2D``, reduced to 32 bits as the upper half of murmur3's ``fmix64(H)``. Being polynomial,
every shingle's ``H`` comes in O(1) from prefix values kept at token boundaries, so hashing costs one
multiply-add per byte of text whatever ``ngram`` is. Shingles are hashed with repetition; MinHash
ignores duplicates anyway.

Permutations (``scheme``), exactly as ``datasketch.MinHash._init_permutations`` draws them from
``np.random.RandomState(seed)``:

- ``"affine32"`` (default, as in datasketch >= 2.0): ``a = 2*randint(0, 2**31, n) + 1``, ``b =
  randint(0, 2**32, n)`` (uint32); ``h`` pre-mixed with the murmur3 32-bit finalizer, value
  ``(a*fmix32(h) + b) mod 2**32``. Unbiased, and ~3x faster here than legacy (32-bit lanes).
  datasketch 2.x stores these ``hashvalues`` as uint32; we return the same numbers as uint64.
- ``"legacy"`` (datasketch < 2.0, or ``scheme="legacy"`` in 2.x): for each permutation in turn
  ``a = randint(1, 2**61-1)``, ``b = randint(0, 2**61-1)`` (uint64); value ``((a*h + b) mod 2**64)
  mod (2**61-1)) & (2**32-1)``. Note the ``mod 2**64``: datasketch multiplies in numpy uint64, which
  wraps, so it does *not* compute ``(a*h+b) mod p`` over the integers; we reproduce the wrapped value.
  AVX2 has no 64-bit multiply/min, so this scheme runs ~3x slower than affine32.

Both give values < 2**32 in a uint64 matrix. Signatures from different schemes, seeds or shingling
settings are not comparable.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import pyarrow as pa

from provenance.kernels import string_buffers

__all__ = [
    "MAX_HASH",
    "signatures",
    "shingle_hashes",
    "shingles",
    "shingle_hash32",
    "permutations",
    "lsh_params",
    "band_hashes",
    "candidate_pairs",
    "jaccard",
    "estimate",
]

MERSENNE_PRIME = (1 << 61) - 1
MAX_HASH = (1 << 32) - 1
_MODES = {"words": 0, "code": 1}
_SCHEMES = ("legacy", "affine32")

_POLY_BASE = 0x5851F42D4C957F2D
_M64 = (1 << 64) - 1


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def shingle_hash32(data: bytes) -> int:
    """The 32-bit shingle hash, pure-Python reference: ``H = sum((byte_i + 1) * B**(L-1-i)) mod 2**64``
    over the shingle's normalised bytes (a polynomial hash, base ``B = 0x5851F42D4C957F2D``), then the
    upper 32 bits of murmur3's ``fmix64(H)``. The polynomial form lets the kernel hash every shingle in
    O(1) from per-token prefix values (one multiply-add per input byte in total, whatever ``ngram``)."""
    h = 0
    for x in data:
        h = (h * _POLY_BASE + x + 1) & _M64
    return _fmix64_int(h) >> 32


# --------------------------------------------------------------------------------------------------
# tokeniser: one pass over the bytes; the normalised stream is the tokens joined by one space, and
# for each token we keep its [start, end) in that stream and the polynomial prefix hash before/after it
# --------------------------------------------------------------------------------------------------

# byte classes: 0 separator, 1 token char, 2 maybe a UTF-8 separator lead (C2/E2/E3), 3 digit,
# 4 '.', 5 one-byte operator/punctuation (code mode)
def _class_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    words = np.zeros(256, np.uint8)
    code = np.zeros(256, np.uint8)
    for x in range(256):
        ch = chr(x)
        if x >= 0x80:
            words[x] = code[x] = 2 if x in (0xC2, 0xE2, 0xE3) else 1
        elif ch.isascii() and ch.isalnum():
            words[x] = 1
            code[x] = 3 if ch.isdigit() else 1
        elif ch == "_":
            code[x] = 1
        elif ch == ".":
            code[x] = 4
        elif 32 < x < 127:
            code[x] = 5
    keep = np.arange(256, dtype=np.uint8)
    low = keep.copy()
    low[65:91] += 32
    return words, code, keep, low


_CLS_WORDS, _CLS_CODE, _TR_KEEP, _TR_LOWER = _class_tables()


@numba.njit(cache=True, nogil=True, inline="always")
def _sep_len(data, j, end):
    """Length of a non-ASCII separator sequence starting at data[j] (0 if none)."""
    x = data[j]
    if x == 0xC2:
        if j + 1 < end and data[j + 1] == 0xA0:
            return 2
    elif x == 0xE2:
        if j + 2 < end and (data[j + 1] == 0x80 or data[j + 1] == 0x81):
            return 3
    elif x == 0xE3:
        if j + 2 < end and data[j + 1] == 0x80 and data[j + 2] == 0x80:
            return 3
    return 0


@numba.njit(cache=True, nogil=True)
def _tokenize(data, start, end, code, cls, tr, norm, ts, te, ps, pe):
    """Tokens of data[start:end] -> count. norm: normalised stream; ts/te token [start, end) in it;
    ps/pe polynomial prefix before/after the token. ts/te/ps/pe need >= end-start+1 slots, norm
    2*(end-start)+2 (code mode puts a space between adjacent tokens such as ``a(``)."""
    B = np.uint64(0x5851F42D4C957F2D)
    one = np.uint64(1)
    P = np.uint64(0)
    t = 0
    w = 0
    kind = 0  # 0 outside a token, 1 word/identifier, 2 number (code mode)
    j = start
    while j < end:
        x = data[j]
        c = cls[x]
        if c == 2:
            s = _sep_len(data, j, end)
            if s > 0:
                if kind != 0:
                    te[t] = w
                    pe[t] = P
                    t += 1
                    kind = 0
                j += s
                continue
            c = 1
        if c == 1 or c == 3 or (c == 4 and kind == 2):
            if kind == 0:
                if t > 0:
                    norm[w] = 32
                    w += 1
                    P = P * B + np.uint64(33)
                ts[t] = w
                ps[t] = P
                kind = 2 if (code and c == 3) else 1
            y = tr[x]
            norm[w] = y
            w += 1
            P = P * B + (np.uint64(y) + one)
        else:
            if kind != 0:
                te[t] = w
                pe[t] = P
                t += 1
                kind = 0
            if code and (c == 4 or c == 5):
                if t > 0:
                    norm[w] = 32
                    w += 1
                    P = P * B + np.uint64(33)
                ts[t] = w
                ps[t] = P
                norm[w] = x
                w += 1
                P = P * B + (np.uint64(x) + one)
                te[t] = w
                pe[t] = P
                t += 1
        j += 1
    if kind != 0:
        te[t] = w
        pe[t] = P
        t += 1
    return t


@numba.njit(cache=True, nogil=True, inline="always")
def _fmix64_hi32(h):
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return np.uint32(h >> np.uint64(32))


@numba.njit(cache=True, nogil=True)
def _shingle_hashes_into(ts, te, ps, pe, ntok, ngram, powb, out):
    """shingle_hash32 of each shingle (tokens s..s+k-1) into out; returns the shingle count."""
    if ntok == 0:
        return 0
    k = ngram if ntok >= ngram else ntok
    ns = ntok - k + 1
    for s in range(ns):
        e = s + k - 1
        h = pe[e] - ps[s] * powb[te[e] - ts[s]]
        out[s] = _fmix64_hi32(h)
    return ns


@numba.njit(cache=True, nogil=True)
def _powers(n):
    B = np.uint64(0x5851F42D4C957F2D)
    p = np.empty(n + 1, np.uint64)
    p[0] = 1
    for i in range(1, n + 1):
        p[i] = p[i - 1] * B
    return p


@numba.njit(cache=True, nogil=True)
def _fmix32(h):
    # numba widens uint32 arithmetic to 64 bits: mask back to 32 after every multiply
    h = np.uint64(h)
    M = np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & M
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & M
    h ^= h >> np.uint64(16)
    return np.uint32(h)


@numba.njit(cache=True, nogil=True)
def _minhash_legacy(hv32, ns, alo, ahi, b, row):
    """row[p] = min_s ((a[p]*h[s] + b[p]) mod 2^64 mod (2^61-1)) & (2^32-1): datasketch's legacy value,
    uint64 wrap-around included. a*h mod 2^64 = alo*h + (ahi*h << 32) with h, alo, ahi < 2^32 (two
    32x32->64 multiplies, which AVX2 has); y mod (2^61-1) for y = (x & p) + (x >> 61) <= p + 7 is
    y + ((y + 1) >> 61), read modulo 2^32."""
    P = np.uint64(0x1FFFFFFFFFFFFFFF)
    M = np.uint64(0xFFFFFFFF)
    s61 = np.uint64(61)
    s32 = np.uint64(32)
    one = np.uint64(1)
    for p in range(len(b)):
        al = alo[p]
        ah = ahi[p]
        bp = b[p]
        m = np.uint32(0xFFFFFFFF)
        for s in range(ns):
            h = np.uint64(hv32[s])
            x = al * h + ((ah * h) << s32) + bp
            y = (x & P) + (x >> s61)
            v = np.uint32((y + ((y + one) >> s61)) & M)
            m = min(m, v)
        row[p] = np.uint64(m)


@numba.njit(cache=True, nogil=True)
def _minhash_affine32(hv32, ns, a, b, row):
    for s in range(ns):
        hv32[s] = _fmix32(hv32[s])
    for p in range(len(a)):
        ap = a[p]
        bp = b[p]
        m = np.uint32(0xFFFFFFFF)
        for s in range(ns):
            v = np.uint32(ap * hv32[s] + bp)  # wraps mod 2**32 (numba computes it in 64 bits)
            m = min(m, v)
        row[p] = np.uint64(m)


@numba.njit(cache=True, nogil=True)
def _signatures_kernel(offs, data, valid, code, cls, tr, ngram, scheme, alo, ahi, b64, a32, b32, out):
    n = len(offs) - 1
    maxlen = 0
    for i in range(n):
        L = offs[i + 1] - offs[i]
        if L > maxlen:
            maxlen = L
    norm = np.empty(2 * maxlen + 2, np.uint8)  # code mode inserts a space between adjacent tokens
    ts = np.empty(maxlen + 1, np.int64)
    te = np.empty(maxlen + 1, np.int64)
    ps = np.empty(maxlen + 1, np.uint64)
    pe = np.empty(maxlen + 1, np.uint64)
    hv32 = np.empty(maxlen + 1, np.uint32)
    powb = _powers(2 * maxlen + 2)
    M = np.uint64(0xFFFFFFFF)
    for i in range(n):
        if not valid[i]:
            out[i, :] = M
            continue
        ntok = _tokenize(data, offs[i], offs[i + 1], code, cls, tr, norm, ts, te, ps, pe)
        ns = _shingle_hashes_into(ts, te, ps, pe, ntok, ngram, powb, hv32)
        if ns == 0:
            out[i, :] = M
        elif scheme == 0:
            _minhash_legacy(hv32, ns, alo, ahi, b64, out[i])
        else:
            _minhash_affine32(hv32, ns, a32, b32, out[i])


@numba.njit(cache=True, nogil=True)
def _one_text(data, code, cls, tr, ngram):
    L = len(data)
    norm = np.empty(2 * L + 2, np.uint8)
    ts = np.empty(L + 1, np.int64)
    te = np.empty(L + 1, np.int64)
    ps = np.empty(L + 1, np.uint64)
    pe = np.empty(L + 1, np.uint64)
    ntok = _tokenize(data, 0, L, code, cls, tr, norm, ts, te, ps, pe)
    hv = np.empty(max(ntok, 1), np.uint32)
    ns = _shingle_hashes_into(ts, te, ps, pe, ntok, ngram, _powers(2 * L + 2), hv)
    return norm[: (te[ntok - 1] if ntok > 0 else 0)], ts[:ntok], te[:ntok], hv[:ns]


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------

def _check(mode: str, ngram: int, lowercase: bool | None, scheme: str = "legacy") -> tuple[bool, np.ndarray, np.ndarray]:
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    if ngram < 1:
        raise ValueError("ngram must be >= 1")
    lower = (mode == "words") if lowercase is None else bool(lowercase)
    code = mode == "code"
    return code, (_CLS_CODE if code else _CLS_WORDS), (_TR_LOWER if lower else _TR_KEEP)


@lru_cache(maxsize=32)
def permutations(num_perm: int = 128, seed: int = 1, scheme: str = "affine32") -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` exactly as ``datasketch.MinHash(num_perm, seed, scheme=scheme).permutations`` (uint64 for
    legacy, uint32 for affine32). Read-only arrays (cached)."""
    if num_perm < 1:
        raise ValueError("num_perm must be positive")
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        p = np.uint64(MERSENNE_PRIME)
        ab = np.array([(gen.randint(1, p, dtype=np.uint64), gen.randint(0, p, dtype=np.uint64))
                       for _ in range(num_perm)], dtype=np.uint64).T
        a, b = np.ascontiguousarray(ab[0]), np.ascontiguousarray(ab[1])
    elif scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    else:
        raise ValueError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    a.flags.writeable = False
    b.flags.writeable = False
    return a, b


def signatures(texts: pa.Array | pa.ChunkedArray, *, num_perm: int = 128, seed: int = 1, ngram: int = 5,
               mode: str = "words", lowercase: bool | None = None, scheme: str = "affine32") -> np.ndarray:
    """MinHash signatures of every text: ``(len(texts), num_perm)`` uint64, values < 2**32.

    ``texts``: Arrow string/large_string (or binary) array or chunked array; a list of str is converted.
    Null, empty and token-less texts give an all-``MAX_HASH`` row (= an empty datasketch MinHash).
    ``lowercase`` defaults to True for ``mode="words"``, False for ``"code"``. See the module docstring
    for normalisation, shingling and ``scheme``.
    """
    code, cls, tr = _check(mode, ngram, lowercase, scheme)
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = pa.array(texts, pa.string())
    a, b = permutations(num_perm, seed, scheme)
    e64, e32 = np.zeros(0, np.uint64), np.zeros(0, np.uint32)
    if scheme == "legacy":
        alo, ahi, b64, a32, b32 = a & np.uint64(0xFFFFFFFF), a >> np.uint64(32), b, e32, e32
    else:
        alo, ahi, b64, a32, b32 = e64, e64, e64, a, b
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    out = np.empty((len(texts), num_perm), np.uint64)
    row = 0
    for ch in chunks:
        n = len(ch)
        if n == 0:
            continue
        offs, data = string_buffers(ch)
        if ch.null_count:
            valid = ch.is_valid().to_numpy(zero_copy_only=False)
        else:
            valid = np.ones(n, np.bool_)
        _signatures_kernel(offs, data, valid, code, cls, tr, ngram, 0 if scheme == "legacy" else 1,
                           alo, ahi, b64, a32, b32, out[row:row + n])
        row += n
    return out


def _tokens(text: str | bytes, ngram: int, mode: str, lowercase: bool | None):
    code, cls, tr = _check(mode, ngram, lowercase)
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return _one_text(np.frombuffer(raw, np.uint8) if raw else np.zeros(0, np.uint8), code, cls, tr, ngram)


def shingle_hashes(text: str | bytes, *, ngram: int = 5, mode: str = "words",
                   lowercase: bool | None = None) -> np.ndarray:
    """:func:`shingle_hash32` (uint32) of each shingle of one text, in order, repeats kept; what the
    batch kernel feeds the permutations."""
    return _tokens(text, ngram, mode, lowercase)[3]


def shingles(text: str | bytes, *, ngram: int = 5, mode: str = "words",
             lowercase: bool | None = None) -> list[bytes]:
    """The normalised shingles of one text (bytes, tokens joined by one space), in order, repeats kept.
    ``shingle_hash32(shingles(t)[i]) == shingle_hashes(t)[i]``. For tests and evaluation, not the hot path."""
    norm, ts, te, _ = _tokens(text, ngram, mode, lowercase)
    nb = norm.tobytes()
    toks = [nb[s:e] for s, e in zip(ts.tolist(), te.tolist())]
    if not toks:
        return []
    k = min(ngram, len(toks))
    return [b" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1)]


def jaccard(a_text: str | bytes, b_text: str | bytes, ngram: int = 5, mode: str = "words",
            lowercase: bool | None = None) -> float:
    """Exact Jaccard similarity of the two texts' shingle sets (the shingles themselves, not hashes).
    Two texts without shingles give 1.0 (like two empty MinHashes); one empty gives 0.0."""
    sa = set(shingles(a_text, ngram=ngram, mode=mode, lowercase=lowercase))
    sb = set(shingles(b_text, ngram=ngram, mode=mode, lowercase=lowercase))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float | np.ndarray:
    """MinHash Jaccard estimate: the share of equal positions (as ``datasketch.MinHash.jaccard``).
    1-D inputs give a float; 2-D ``(n, num_perm)`` inputs (broadcastable) give one estimate per row."""
    sig_a = np.asarray(sig_a)
    sig_b = np.asarray(sig_b)
    if sig_a.shape[-1] != sig_b.shape[-1]:
        raise ValueError("signatures have different num_perm")
    eq = np.count_nonzero(sig_a == sig_b, axis=-1) / sig_a.shape[-1]
    return float(eq) if np.ndim(eq) == 0 else eq


# --------------------------------------------------------------------------------------------------
# LSH
# --------------------------------------------------------------------------------------------------

_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)


def _integrate(f, lo: float, hi: float) -> float:
    """64-point Gauss-Legendre: exact for the S-curve's polynomials up to degree 127 (b*r <= num_perm), and
    the same (b, r) as datasketch's scipy ``quad`` on 1,140 threshold/num_perm/weight combinations checked
    (tests/test_minhash.py); importing scipy.integrate alone cost ~0.5-1.2 s per command."""
    xs = (hi - lo) / 2 * _GL_X + (hi + lo) / 2
    return float((hi - lo) / 2 * np.sum(_GL_W * f(xs)))


@lru_cache(maxsize=256)
def lsh_params(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
               false_negative_weight: float = 0.5) -> tuple[int, int]:
    """``(b, r)`` minimising the weighted false positive / false negative areas of the LSH S-curve,
    the same search as ``datasketch.lsh._optimal_param`` (its integrals by Gauss-Legendre, see _integrate)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be in [0, 1]")
    if num_perm < 2:
        raise ValueError("num_perm must be >= 2")
    best = float("inf")
    opt = (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, int(num_perm / b) + 1):
            fb, fr = float(b), float(r)
            fp = _integrate(lambda s: 1 - (1 - s ** fr) ** fb, 0.0, threshold)
            fn = _integrate(lambda s: 1 - (1 - (1 - s ** fr) ** fb), threshold, 1.0)
            err = fp * false_positive_weight + fn * false_negative_weight
            if err < best:
                best = err
                opt = (b, r)
    return opt


_K1 = np.uint64(0xFF51AFD7ED558CCD)
_K2 = np.uint64(0xC4CEB9FE1A85EC53)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * _K1
    h = h ^ (h >> np.uint64(33))
    h = h * _K2
    return h ^ (h >> np.uint64(33))


def band_hashes(sigs: np.ndarray, b: int, r: int) -> np.ndarray:
    """One 64-bit hash per band: ``(n, b)`` uint64 from the first ``b*r`` columns of ``sigs``.

    Band ``k`` covers columns ``k*r .. k*r+r-1``; its hash starts from ``fmix64(k+1)`` and folds in each
    value with ``h = fmix64((h ^ v) * golden + j)`` (each step a bijection of ``h``), so equal values in
    different bands give different hashes and two rows share band ``k``'s hash iff (up to 2**-64
    collisions) their ``r`` values there are equal. Two all-``MAX_HASH`` (empty) rows share every band.
    """
    sigs = np.asarray(sigs)
    if sigs.ndim != 2:
        raise ValueError("sigs must be 2-D (n, num_perm)")
    if b < 1 or r < 1 or b * r > sigs.shape[1]:
        raise ValueError(f"b*r = {b * r} must be between 1 and num_perm = {sigs.shape[1]}")
    n = sigs.shape[0]
    v = sigs[:, : b * r].astype(np.uint64, copy=False).reshape(n, b, r)
    h = np.broadcast_to(_fmix64(np.arange(1, b + 1, dtype=np.uint64)), (n, b)).copy()
    for j in range(r):
        h = _fmix64((h ^ v[:, :, j]) * _GOLD + np.uint64(j))
    return h


def candidate_pairs(bands: np.ndarray) -> np.ndarray:
    """Pairs of rows sharing at least one band hash: ``(k, 2)`` int64, ``i < j``, each pair once.

    In memory, for evaluation and small batches; quadratic in the size of a bucket (all-empty rows share
    every band: drop them first). Corpus-scale grouping belongs in DuckDB over Parquet."""
    bands = np.asarray(bands)
    n, nb = bands.shape
    out = []
    for k in range(nb):
        col = bands[:, k]
        order = np.argsort(col, kind="stable")
        sc = col[order]
        brk = np.flatnonzero(sc[1:] != sc[:-1]) + 1
        starts = np.concatenate(([0], brk))
        ends = np.concatenate((brk, [n]))
        for s, e in zip(starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist()):
            g = np.sort(order[s:e])
            i, j = np.triu_indices(len(g), 1)
            out.append(np.stack([g[i], g[j]], axis=1))
    if not out:
        return np.zeros((0, 2), np.int64)
    return np.unique(np.concatenate(out).astype(np.int64), axis=0)
