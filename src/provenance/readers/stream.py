"""Decompressing byte streams that salvage: every decodable byte is kept, damage is skipped, memory is bounded.

The rules are in docs/bad-input.md ("Compressed streams"). In short:

- gzip: members are decoded in order. Input goes to zlib in pieces of ``PIECE`` bytes with a cap of
  ``MAX_OUT`` decoded bytes per call, and the decoder's state is copied before each call; when a call fails,
  the piece is replayed one byte at a time from the copy, so the output that precedes the damage is kept to
  the byte (zlib raises without returning what the failing call decoded).
- zstd: frames are decoded in order, one block per call (the frame and block headers are read here to cut
  the input at block boundaries), so a call never makes more than one block of output and a failing call
  loses only the damaged block, which zstd would not have produced anyway.
- Damage (a decoder error, or bytes that are not a member where one should start) is recorded as a
  ``Damage`` event and reading resumes at the next offset where a member (frame) begins whose first 1,024
  bytes decode with a fresh decoder. A file that ends inside a member is a ``truncated`` event.
- The output is the plain concatenation of what every member gave. ``read`` never returns bytes from both
  sides of an event or of a member start, so a caller can tell where, in the output, each one happened.

zlib and zstd release the GIL while they work.
"""

from __future__ import annotations

import struct
import zlib as _zlib
from contextlib import contextmanager
from dataclasses import dataclass

from ..sources import Shard, open_binary

try:  # zlib-ng: the same API and the same deflate semantics, decoding twice as fast (bench/bench_readers.py)
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - a declared dependency; plain zlib works the same, slower
    zlib = _zlib

RAW_CHUNK = 1 << 18  # bytes read from the file at a time
PIECE = 1 << 16  # compressed bytes given to zlib per call
MAX_OUT = 1 << 20  # decoded bytes per zlib call at most
PROBE = 1024  # a resynchronisation candidate must decode this many compressed bytes without error
HISTORY = 1 << 20  # how far back from the error the search for the next member may start

GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_BLOCK_MAX = 1 << 17


@dataclass
class Damage:
    """Something the salvaged stream had to skip or could not check.

    ``out_offset``: where, in the decoded output, it happened (output before it is kept);
    ``reason``: ``corrupt`` or ``truncated``; ``member``: compressed offset of the damaged member (frame);
    ``error_at``: compressed offset where the damage was detected; ``resumed_at``: compressed offset where
    reading went on (None: nothing intact followed); ``skipped``: compressed bytes not decoded."""

    out_offset: int
    reason: str
    member: int
    error_at: int
    resumed_at: int | None
    skipped: int
    detail: str


class _Window:
    """The raw (compressed) bytes from ``base`` on, read from the file on demand; callers drop what they no
    longer need with ``trim`` so memory stays bounded."""

    def __init__(self, raw):
        self.raw = raw
        self.buf = bytearray()
        self.base = 0
        self.eof = False

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def ensure(self, upto: int) -> None:
        while self.end < upto and not self.eof:
            chunk = self.raw.read(max(RAW_CHUNK, min(upto - self.end, 1 << 24)))
            if not chunk:
                self.eof = True
                break
            self.buf += chunk

    def get(self, a: int, b: int) -> bytes:
        self.ensure(b)
        a = max(a, self.base)
        return bytes(self.buf[a - self.base : max(a, min(b, self.end)) - self.base])

    def byte(self, a: int) -> int | None:
        self.ensure(a + 1)
        return self.buf[a - self.base] if self.base <= a < self.end else None

    def at_end(self, a: int) -> bool:
        self.ensure(a + 1)
        return a >= self.end

    def trim(self, keep_from: int) -> None:
        if keep_from > self.base:
            cut = min(keep_from, self.end) - self.base
            del self.buf[:cut]
            self.base += cut

    def find(self, pattern: bytes, start: int) -> int:
        """First offset >= start where ``pattern`` begins, reading (and dropping what lies before the search
        point) as needed; -1 at the end of the file."""
        pos = max(start, self.base)
        while True:
            self.ensure(pos + len(pattern) + RAW_CHUNK)
            i = self.buf.find(pattern, pos - self.base)
            if i >= 0:
                return self.base + i
            if self.eof:
                return -1
            pos = max(pos, self.end - len(pattern) + 1)
            self.trim(pos)


def _probe_gzip(data: bytes) -> bool:
    try:
        zlib.decompressobj(31).decompress(data)
        return True
    except zlib.error:
        return False


def _probe_zstd(data: bytes) -> bool:
    import zstandard

    try:
        zstandard.ZstdDecompressor().decompressobj().decompress(data)
        return True
    except zstandard.ZstdError:
        return False


class SalvageStream:
    """A file object over the salvaged decoded stream of a gzip or zstd file (docs/bad-input.md).

    ``events`` collects ``Damage`` in order; ``member_starts`` (out_offset, compressed offset) of every
    member, in order. Neither ever raises for bad data: damage is an event."""

    def __init__(self, raw, kind: str, track_members: bool = False, start: int = 0):
        if kind not in ("gzip", "zstd"):
            raise ValueError(f"unknown compression {kind!r}")
        self.kind = kind
        self.track_members = track_members
        self.win = _Window(raw)
        self.win.base = start  # ``raw`` is positioned at compressed offset ``start``: offsets stay absolute
        self.pos = start  # next compressed byte to decode
        self.out = bytearray()  # decoded, not yet returned
        self.out_total = 0  # decoded bytes produced so far (returned or buffered)
        self.returned = 0  # decoded bytes returned so far
        self.events: list[Damage] = []
        self.member_starts: list[tuple[int, int]] = []
        self._pending: list = []  # (out_offset, kind, payload) markers not yet passed by read()
        self.finished = False
        self.mstart = start
        self.d = None  # the current member's decoder (None: between members)
        # zstd frame walking
        self._zq = 0  # next block header offset in the current frame
        self._zlast = False
        self._zcheck = 0

    # -- public -------------------------------------------------------------------------------------------
    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decoded bytes (b"" at the end). Stops short at the next event (and member start, when
        members are tracked), so that ``take_events`` / ``member_starts`` after a read describe the offset
        ``tell()``."""
        if n is None or n < 0:
            n = 1 << 62
        while True:
            self._pass_markers()
            while len(self.out) < n and not self.finished and not self._marker_within(len(self.out)):
                self._step()
            limit = n
            if self._pending:
                limit = min(limit, self._pending[0][0] - self.returned)
            if limit > 0 or not self._pending:
                data = bytes(self.out[:limit])
                del self.out[:limit]
                self.returned += len(data)
                self._pass_markers()
                return data

    def take_events(self) -> list[Damage]:
        ev, self.events = self.events, []
        return ev

    def tell(self) -> int:
        return self.returned

    def close(self):
        self.win.raw.close()

    # -- markers --------------------------------------------------------------------------------------
    def _marker_within(self, have: int) -> bool:
        return bool(self._pending) and self._pending[0][0] <= self.returned + have

    def _pass_markers(self) -> None:
        while self._pending and self._pending[0][0] <= self.returned:
            _, kind, payload = self._pending.pop(0)
            if kind == "damage":
                self.events.append(payload)
            else:
                self.member_starts.append(payload)

    def _emit(self, data: bytes) -> None:
        if data:
            self.out += data
            self.out_total += len(data)

    def _mark(self, kind: str, payload) -> None:
        self._pending.append((self.out_total, kind, payload))

    # -- the decoding loop -------------------------------------------------------------------------------
    def _step(self) -> None:
        if self.d is None:
            self._start_member()
        elif self.kind == "gzip":
            self._gzip_step()
        else:
            self._zstd_step()

    def _start_member(self) -> None:
        w = self.win
        w.trim(self.pos - 4)
        if w.at_end(self.pos):
            self.finished = True
            return
        if self.kind == "gzip" and self.out_total and w.byte(self.pos) == 0 and self._only_zeros_from(self.pos):
            self.finished = True  # zero padding after the last gzip member (zstd knows no such padding)
            return
        self.mstart = self.pos
        if self.kind == "gzip":
            self.d = zlib.decompressobj(31)
        else:
            if not self._zstd_frame_header():
                return
        if self.track_members:
            self._mark("member", (self.out_total, self.mstart))

    def _only_zeros_from(self, p: int) -> bool:
        w = self.win
        while True:
            w.ensure(p + RAW_CHUNK)
            seg = w.buf[p - w.base :]
            if seg.strip(b"\x00"):
                return False
            if w.eof:
                return True
            p = w.end
            w.trim(p)

    def _gzip_step(self) -> None:
        w = self.win
        w.trim(max(self.mstart, self.pos - HISTORY - PIECE))
        piece = w.get(self.pos, self.pos + PIECE)
        if not piece:
            self._truncated()
            return
        saved = self.d.copy()
        try:
            out = self.d.decompress(piece, MAX_OUT)
        except zlib.error as exc:
            # replay the piece from the state before it, one byte at a time: keep output to the byte
            d = saved
            err_at = self.pos
            for i in range(len(piece)):
                try:
                    self._emit(d.decompress(piece[i : i + 1]))
                except zlib.error:
                    err_at = self.pos + i
                    break
            self._damage(err_at, self._gzip_message(exc))
            return
        self._emit(out)
        if self.d.eof:
            used = len(piece) - len(self.d.unused_data)
            self.pos += used
            self.d = None
        else:
            self.pos += len(piece) - len(self.d.unconsumed_tail)

    def _gzip_message(self, exc: zlib.error) -> str:
        text = str(exc)
        if "incorrect data check" in text or "incorrect length check" in text:
            return ("gzip CRC/length check failed at the end of the member: its decoded data is kept, but some of "
                    "it is damaged")
        if "incorrect header check" in text or "unknown compression method" in text or "header" in text:
            return "not a gzip member (bad header)"
        return f"damaged gzip data ({text.split(':', 1)[-1].strip()})"

    # zstd ----------------------------------------------------------------------------------------------
    def _zstd_frame_header(self) -> bool:
        """Start a frame (or skip a skippable one) at ``self.pos``; False when nothing was started."""
        import zstandard

        w = self.win
        head = w.get(self.pos, self.pos + 18)
        if len(head) >= 8 and (head[0] & 0xF0) == 0x50 and head[1:4] == b"\x2a\x4d\x18":
            size = struct.unpack_from("<I", head, 4)[0]
            end = self.pos + 8 + size
            if w.at_end(end - 1):
                self.mstart = self.pos
                self._truncated()
                return False
            self.pos = end
            return False  # the loop starts the next member
        if head[:4] != ZSTD_MAGIC or len(head) < 6:
            self.mstart = self.pos
            if head[:4] == ZSTD_MAGIC or (len(head) < 4 and ZSTD_MAGIC.startswith(head)):
                self._truncated()
            else:
                self._damage(self.pos, "not a zstd frame (bad magic number)")
            return False
        fhd = head[4]
        fcs_flag, single, checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
        hlen = 5 + (0 if single else 1) + (0, 1, 2, 4)[did_flag] + ((1 if single else 0), 2, 4, 8)[fcs_flag]
        self.d = zstandard.ZstdDecompressor().decompressobj()
        self.mstart = self.pos
        self._zcheck = 4 if checksum else 0
        self._zlast = False
        header = w.get(self.pos, self.pos + hlen)
        try:
            self._emit(self.d.decompress(header))
        except zstandard.ZstdError as exc:
            self._damage(self.pos, f"damaged zstd frame header ({_zstd_text(exc)})")
            return False
        if len(header) < hlen:
            self._truncated()
            return False
        self._zq = self.pos + hlen
        self.pos = self._zq
        return True

    def _zstd_step(self) -> None:
        import zstandard

        w = self.win
        w.trim(max(self.mstart, self.pos - HISTORY - PIECE))
        if self._zlast:
            # the checksum, then the frame must be over
            tail = w.get(self.pos, self.pos + self._zcheck) if self._zcheck else b""
            try:
                self._emit(self.d.decompress(tail) if tail else b"")
            except zstandard.ZstdError as exc:
                self._damage(self.pos, "zstd checksum mismatch at the end of the frame: its decoded data is kept, "
                             "but some of it is damaged" if "checksum" in str(exc) else
                             f"damaged zstd frame ({_zstd_text(exc)})")
                return
            self.pos += len(tail)
            if len(tail) < self._zcheck:
                self._truncated()
                return
            if not self.d.eof:
                # our reading of the block headers and the decoder's disagree: let the decoder lead, in small
                # pieces (bounded output), until the frame ends
                self._zstd_drift()
                return
            self.pos -= len(self.d.unused_data)
            self.d = None
            return
        bh = w.get(self.pos, self.pos + 3)
        if len(bh) < 3:
            self._feed_zstd(bh)
            if self.d is not None:
                self._truncated()
            return
        v = bh[0] | (bh[1] << 8) | (bh[2] << 16)
        last, btype, bsize = v & 1, (v >> 1) & 3, v >> 3
        content = bsize if btype in (0, 2) else (1 if btype == 1 else 0)
        content = min(content, 2 * ZSTD_BLOCK_MAX)  # an oversize block is an error the decoder reports
        blk = w.get(self.pos, self.pos + 3 + content)
        block_at = self.pos
        if btype == 0 and len(blk) > 4:
            # a raw block streams out as its bytes arrive, and an error found at its end (a frame whose
            # content size or checksum does not match) loses only its last byte: feed that byte on its own
            if not self._feed_zstd(blk[:-1], block_at) or not self._feed_zstd(blk[-1:], block_at):
                return
        elif not self._feed_zstd(blk, block_at):
            return
        self.pos += len(blk)
        if len(blk) < 3 + content:
            self._truncated()
            return
        if last:
            self._zlast = True

    def _feed_zstd(self, data: bytes, at: int | None = None) -> bool:
        import zstandard

        try:
            self._emit(self.d.decompress(data))
            return True
        except zstandard.ZstdError as exc:
            self._damage(self.pos if at is None else at, f"damaged zstd block ({_zstd_text(exc)})")
            return False

    def _zstd_drift(self) -> None:
        import zstandard

        w = self.win
        while self.d is not None and not self.d.eof:
            piece = w.get(self.pos, self.pos + 64)
            if not piece:
                self._truncated()
                return
            try:
                self._emit(self.d.decompress(piece))
            except zstandard.ZstdError as exc:
                self._damage(self.pos, f"damaged zstd data ({_zstd_text(exc)})")
                return
            if self.d.eof:
                self.pos += len(piece) - len(self.d.unused_data)
                self.d = None
                return
            self.pos += len(piece)
            if len(self.out) >= MAX_OUT:
                return

    # damage -------------------------------------------------------------------------------------------
    def _next_member(self, err_at: int) -> int:
        """The next offset after the current member's start (at most HISTORY before ``err_at``) where an
        intact member begins; -1 when there is none."""
        start = max(self.mstart + 1, err_at - HISTORY)
        magic, probe = (GZIP_MAGIC, _probe_gzip) if self.kind == "gzip" else (ZSTD_MAGIC, _probe_zstd)
        w = self.win
        p = start
        while True:
            p = w.find(magic, p)
            if p < 0 or probe(w.get(p, p + PROBE)):
                return p
            p += 1

    def _truncated(self) -> None:
        """The file ends inside the current member. If an intact member starts after this one's start, the
        member was damaged (a header or a length that swallowed what follows), not cut: go on there."""
        end = self.win.end
        unit = "member" if self.kind == "gzip" else "frame"
        p = self._next_member(end)
        if p >= 0:
            self._mark("damage", Damage(self.out_total, "corrupt", self.mstart, end, p, 0,
                                        f"the {self.kind} {unit} at byte {self.mstart:,} runs to the end of the file "
                                        f"although an intact {unit} starts at byte {p:,}: it is damaged; reading "
                                        f"resumed there"))
            self.d = None
            self.pos = p
            return
        self._mark("damage", Damage(self.out_total, "truncated", self.mstart, end, None, 0,
                                    f"the file ends inside the {self.kind} {unit} that starts at byte {self.mstart:,}"))
        self.d = None
        self.finished = True

    def _damage(self, err_at: int, what: str) -> None:
        """A member failed: find where to go on, record the event."""
        self.d = None
        p = self._next_member(err_at)
        unit = "member" if self.kind == "gzip" else "frame"
        w = self.win
        if p < 0:
            end = w.end
            self._mark("damage", Damage(self.out_total, "corrupt", self.mstart, err_at, None, max(0, end - err_at),
                                        f"{what}: {self.kind} {unit} at byte {self.mstart:,}, detected at byte "
                                        f"{err_at:,}; no intact {unit} follows ({max(0, end - err_at):,} bytes not read)"))
            self.finished = True
            return
        self._mark("damage", Damage(self.out_total, "corrupt", self.mstart, err_at, p, max(0, p - err_at),
                                    f"{what}: {self.kind} {unit} at byte {self.mstart:,}, detected at byte {err_at:,}; "
                                    f"reading resumed at the next intact {unit}, byte {p:,} "
                                    f"({max(0, p - err_at):,} bytes skipped)"))
        self.pos = p


def _zstd_text(exc: Exception) -> str:
    text = str(exc)
    return text.split("error:", 1)[-1].strip() if "error:" in text else text


class _Plain:
    """The same interface over an uncompressed file."""

    def __init__(self, raw):
        self.raw = raw
        self.returned = 0
        self.events: list[Damage] = []
        self.member_starts: list[tuple[int, int]] = []

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.returned += len(data)
        return data

    def take_events(self) -> list[Damage]:
        return []

    def tell(self) -> int:
        return self.returned

    def close(self):
        self.raw.close()


def salvaging(raw, compression: str | None, track_members: bool = False):
    """Wrap a raw file object: a SalvageStream for gzip/zstd, a plain reader otherwise."""
    if compression in ("gzip", "zstd"):
        return SalvageStream(raw, compression, track_members)
    return _Plain(raw)


@contextmanager
def open_decompressed(shard: Shard):
    raw = open_binary(shard)
    try:
        yield salvaging(raw, shard.compression)
    finally:
        raw.close()
