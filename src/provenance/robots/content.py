"""Content-Encoding of robots.txt bodies: decoded with a bounded output, or refused.

A server may answer in a content coding the fetcher did not ask for (we send ``Accept-Encoding: gzip,
deflate``; servers do send ``br``, ``zstd`` or stranger things regardless), and a WARC capture keeps the
coding the server used. The raw octets of an encoded body are never parsed as robots.txt: read as text,
a compressed file matches no directive and would evaluate as "allow everything". So a body is either
decoded (``gzip``/``x-gzip``, ``deflate`` (zlib or raw), ``br``, ``zstd``, ``identity``; up to four stacked
codings) or, for any other coding or damaged coded data, refused with :class:`UndecodableBody`, which
callers turn into "unreachable" (live fetches, RFC 9309 §2.3.1.4) or "unknown" (archived captures).

Decoding streams: :func:`decoding_reader` wraps a file-like source of coded octets (the socket, or
``io.BytesIO`` of a capture) and reads only as much input as the output asked for needs, so a caller that
stops after 500 KiB + 1 of output (the RFC 9309 §2.5 parse limit, :func:`decode`) never inflates a
compression bomb, and never reads more than ``max_input`` coded octets.
"""

from __future__ import annotations

import io
import zlib

__all__ = ["UndecodableBody", "DECODABLE", "codings_of", "decoding_reader", "decode"]

DECODABLE = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "identity"})
MAX_CODINGS = 4
_CHUNK = 64 * 1024


class UndecodableBody(Exception):
    """The body's content coding is unknown, or its coded data is damaged."""


def codings_of(header: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` header value, in the order they were applied."""
    return [c.strip().lower() for c in (header or "").split(",") if c.strip()]


def _label(coding: str) -> str:
    """A coding name fit for a message (it is the server's text: quoted only when it is a plain token)."""
    ok = coding and len(coding) <= 40 and all(c.isascii() and (c.isalnum() or c in "-_.") for c in coding)
    return f"Content-Encoding {coding!r}" if ok else "a Content-Encoding that is not a coding name"


class _Capped:
    """The coded input, refusing to deliver more than ``max_input`` octets in all."""

    def __init__(self, src, max_input: int):
        self.src, self.cap, self.left = src, max_input, max_input

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise UndecodableBody(f"coded body: more than {self.cap:,} octets of input yield too little output")
        data = self.src.read(self.left if n is None or n < 0 else min(n, self.left))
        self.left -= len(data)
        return data


class _Zlib:
    """gzip (several members allowed, trailing NUL padding ignored) or deflate (zlib-wrapped or raw)."""

    def __init__(self, src, coding: str):
        self.src, self.gzip = src, coding != "deflate"
        self.d = None
        self.pending = b""
        self.members = 0
        self.done = False

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n is None or n < 0 else n
        out = bytearray()
        while len(out) < n and not self.done:
            if self.d is None:                                   # the start of a (next) member
                data = self.pending or self.src.read(_CHUNK)
                self.pending = b""
                if not data:                                     # the end (or an empty body: nothing out)
                    self.done = True
                    break
                if self.members and not data.strip(b"\x00"):   # NUL padding after the last member
                    continue
                if self.gzip:
                    wbits = 47
                else:
                    zlib_header = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
                    wbits = 15 if zlib_header else -15
                self.d = zlib.decompressobj(wbits)
            else:
                data = self.d.unconsumed_tail or self.src.read(_CHUNK)
            try:
                chunk = self.d.decompress(data, n - len(out))
            except zlib.error:
                raise UndecodableBody(f"damaged {'gzip' if self.gzip else 'deflate'} data") from None
            if not data and not chunk and not self.d.eof:       # no input left, no output, no end of stream
                raise UndecodableBody(f"{'gzip' if self.gzip else 'deflate'} data ends early")
            out += chunk
            if self.d.eof:
                self.members += 1
                rest = self.d.unused_data
                self.d = None
                if self.gzip:
                    self.pending = rest
                else:
                    self.done = True                             # one deflate stream; anything after it is ignored
        return bytes(out)


class _Brotli:
    def __init__(self, src):
        try:
            import brotli
        except ImportError:  # pragma: no cover - brotli is a dependency
            raise UndecodableBody("br coding: the brotli package is not installed") from None
        self.src, self.error = src, brotli.error
        self.d = brotli.Decompressor()
        self.seen_input = False

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n is None or n < 0 else n
        out = bytearray()
        while len(out) < n and not self.d.is_finished():
            data = b""                                           # b"": drain what earlier calls kept back
            if self.d.can_accept_more_data():
                data = self.src.read(_CHUNK)
                if not data and not self.seen_input:
                    break                                        # an empty body
                self.seen_input = self.seen_input or bool(data)
            try:
                chunk = self.d.process(data, output_buffer_limit=n - len(out))
            except self.error:
                raise UndecodableBody("damaged br data") from None
            if not data and not chunk and not self.d.is_finished():
                raise UndecodableBody("br data ends early")     # no input left, no output, no end of stream
            out += chunk
        return bytes(out)


class _Tee:
    def __init__(self, src):
        self.src, self.seen = src, bytearray()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.seen += data
        return data


class _Zstd:
    def __init__(self, src):
        try:
            import zstandard
        except ImportError:  # pragma: no cover - zstandard is a dependency
            raise UndecodableBody("zstd coding: the zstandard package is not installed") from None
        self.zstandard = zstandard
        self.tee = _Tee(src)                    # the coded input, to check at the end that no frame broke off
        self.r = zstandard.ZstdDecompressor().stream_reader(self.tee, read_size=_CHUNK, read_across_frames=True)

    def read(self, n: int = -1) -> bytes:
        n = _CHUNK if n is None or n < 0 else n
        try:
            out = self.r.read(n)
        except self.zstandard.ZstdError:
            raise UndecodableBody("damaged zstd data") from None
        if not out and n and not self._complete():
            raise UndecodableBody("zstd data ends early")
        return out

    def _complete(self) -> bool:
        """Whether the input ends at the end of a frame. stream_reader() reports a cut-off frame as a plain
        end of data; the whole output has been read by now (at most the caller's limit), so decoding the
        input once more, frame by frame, costs no more than that."""
        data = bytes(self.tee.seen)
        while data.strip(b"\x00"):
            o = self.zstandard.ZstdDecompressor().decompressobj()
            try:
                o.decompress(data)
            except self.zstandard.ZstdError:
                return False
            if not o.eof:
                return False
            data = o.unused_data
        return True


def decoding_reader(src, content_encoding: str | None, max_input: int | None = None):
    """A file-like object whose ``read(n)`` returns decoded octets of the coded stream ``src``.

    Raises :class:`UndecodableBody` at once for an unknown coding (nothing is read then), and from
    ``read`` for damaged data or when more than ``max_input`` coded octets would be needed."""
    codings = codings_of(content_encoding)
    if len(codings) > MAX_CODINGS:
        raise UndecodableBody(f"Content-Encoding with more than {MAX_CODINGS} codings")
    unknown = [c for c in codings if c not in DECODABLE]
    if unknown:
        raise UndecodableBody(f"{_label(unknown[0])} cannot be decoded")
    stream = _Capped(src, max_input) if max_input is not None else src
    for c in reversed(codings):                                 # the last coding applied is undone first
        if c in ("gzip", "x-gzip", "deflate"):
            stream = _Zlib(stream, c)
        elif c == "br":
            stream = _Brotli(stream)
        elif c == "zstd":
            stream = _Zstd(stream)
    return stream


def decode(body: bytes, content_encoding: str | None, limit: int) -> tuple[bytes, bool]:
    """(at most ``limit`` decoded octets, whether the decoded body was longer). Raises
    :class:`UndecodableBody` for an unknown coding or damaged data."""
    r = decoding_reader(io.BytesIO(body), content_encoding)
    buf = bytearray()
    while len(buf) <= limit:
        chunk = r.read(min(_CHUNK, limit + 1 - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf[:limit]), len(buf) > limit
