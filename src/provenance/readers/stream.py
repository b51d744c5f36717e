"""Decompressing byte streams that give back every decodable byte before reporting corruption.

Python's gzip module (and Arrow's compressed streams) raise from the ``read`` call that meets a truncated
or corrupt stream, losing what that call had already decoded. Here the raw file is fed to zlib / zstd in
chunks, all output is returned, and only then is the error raised, so a truncated shard keeps every whole
line that precedes the damage. zlib and zstd release the GIL while they work.
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager

from ..sources import Shard, open_binary

RAW_CHUNK = 1 << 18
SALVAGE_PIECE = 256


class StreamCorrupt(OSError):
    """The compressed stream is damaged. ``truncated`` when it merely ends early."""

    def __init__(self, message: str, truncated: bool = False):
        super().__init__(message)
        self.truncated = truncated


class _Decompressing:
    def __init__(self, raw, kind: str):
        self.raw = raw
        self.kind = kind
        self.buf = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self._new()
        self.consumed = 0

    def _new(self):
        if self.kind == "gzip":
            self.d = zlib.decompressobj(wbits=47)  # gzip or zlib header, auto-detected
        else:
            import zstandard

            self.d = zstandard.ZstdDecompressor().decompressobj()
        self.member_started = False

    def _fill(self, want: int):
        while len(self.buf) < want and not self.eof and self.error is None:
            chunk = self.raw.read(RAW_CHUNK)
            if not chunk:
                self.eof = True
                if self.member_started and not self._finished():
                    self.error = StreamCorrupt(f"{self.kind} stream ends early (no end-of-stream marker)", truncated=True)
                break
            self.consumed += len(chunk)
            self._feed(chunk)

    def _finished(self) -> bool:
        return bool(getattr(self.d, "eof", False))

    def _salvage(self, saved, chunk: bytes) -> None:
        """Replay a chunk that failed, in small pieces from the state before it, keeping the output that
        precedes the damage (zlib raises without returning what it decoded in the failing call)."""
        self.d = saved
        for i in range(0, len(chunk), SALVAGE_PIECE):
            try:
                self.buf += self.d.decompress(chunk[i : i + SALVAGE_PIECE])
            except Exception:  # noqa: BLE001
                return
            if self._finished():
                return

    def _feed(self, chunk: bytes):
        while chunk:
            saved = self.d.copy() if hasattr(self.d, "copy") else None
            try:
                out = self.d.decompress(chunk)
            except Exception as exc:  # zlib.error / zstandard.ZstdError: corrupt data
                if saved is not None:
                    self._salvage(saved, chunk)
                check = "check" in str(exc)  # zlib: 'incorrect data check' / 'incorrect length check' (CRC)
                what = (f"{self.kind} CRC check failed at the end of a member: the data is damaged somewhere in it, "
                        f"so records decoded from that member may be damaged too") if check else f"corrupt {self.kind} data"
                self.error = StreamCorrupt(f"{what} (near compressed byte {self.consumed:,}: {exc})")
                return
            self.member_started = True
            self.buf += out
            if self._finished():
                # concatenated members / frames: continue with what follows
                rest = self.d.unused_data
                self._new()
                chunk = rest
                if rest:
                    self.member_started = True
            else:
                chunk = b""

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        self._fill(n)
        if not self.buf and self.error is not None:
            raise self.error
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        self.raw.close()


@contextmanager
def open_decompressed(shard: Shard):
    raw = open_binary(shard)
    try:
        if shard.compression in ("gzip", "zstd"):
            yield _Decompressing(raw, shard.compression)
        else:
            yield raw
    finally:
        raw.close()
