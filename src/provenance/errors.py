"""Reason codes for quarantined input, and the exceptions that carry them.

A reason code is a short stable token stored in ``quarantine.reason``; the detail is a human sentence.
"""

from __future__ import annotations

# record-level
BAD_JSON = "bad_json"  # a line that is not a JSON object
BAD_UTF8 = "bad_utf8"  # bytes that are not valid UTF-8
NO_URL = "no_url"  # a record without a usable URL
NO_TEXT = "no_text"  # a record without text
TOO_LARGE = "too_large"  # a document above --max-doc-bytes
NOT_TEXT = "not_text"  # a WARC response whose payload is not text/HTML
BAD_RECORD = "bad_record"  # anything else wrong with one record (e.g. unparseable WARC headers)
WRONG_TYPE = "wrong_type"  # the url or text field holds something else than a string (a number, a list)
SCANNER_ERROR = "scanner_error"  # a scanner raised on this record: stored as "scanner_error:<scanner name>"

# shard-level
MISSING = "missing"  # the shard does not exist / cannot be opened
TRUNCATED = "truncated"  # compressed stream ends early: the rest of the shard is lost
CORRUPT = "corrupt"  # compressed data is damaged (bad deflate data or CRC): the rest is lost, and records
#                      decoded from the damaged gzip member before the error was found may be damaged too
UNREADABLE = "unreadable"  # the container cannot be read at all (e.g. a bad Parquet footer)
FAILED = "failed"  # an unexpected error after retries

RECORD_REASONS = {BAD_JSON, BAD_UTF8, NO_URL, NO_TEXT, TOO_LARGE, NOT_TEXT, BAD_RECORD, WRONG_TYPE}
#: a stretch of a shard (compressed bytes between intact members, a Parquet row group, junk between records)
RANGE_REASONS = {TRUNCATED, CORRUPT, BAD_RECORD}
SHARD_REASONS = {MISSING, TRUNCATED, CORRUPT, UNREADABLE, FAILED}


def is_record_reason(reason: str) -> bool:
    return reason in RECORD_REASONS or reason.startswith(SCANNER_ERROR + ":")


class ProvenanceError(Exception):
    """Base class for errors with a clear, user-facing message."""


class ShardError(ProvenanceError):
    """A shard (or the rest of it) cannot be read; the run continues and quarantines it."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class ConfigError(ProvenanceError):
    """Bad user input to the CLI or API (unknown format, bad column mapping, ...)."""


# -- exit codes of the command line (docs/exit-codes.md; the same for every command) ---------------------
EXIT_OK = 0  # every shard / file / item done
EXIT_INTERNAL = 1  # a bug: an unexpected error (one line; PROVENANCE_DEBUG=1 shows the traceback)
EXIT_USAGE = 2  # usage or configuration error, found before any work: bad options, missing inputs or ledger
EXIT_INCOMPLETE = 3  # the run finished and was recorded, but some shards failed or are partial
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT (finished shards are kept; rerun to resume)
EXIT_PIPE = 141  # stdout closed early (`provenance ... | head`): nothing printed, as a C tool killed by SIGPIPE


# -- messages that never carry record bytes ---------------------------------------------------------------

_MAX_MESSAGE = 200


def where(exc: BaseException) -> str:
    """Where ``exc`` was raised: ``file.py:line`` of the innermost frame of our code, and of the library's
    frame below it when the error came from a library (``base.py:88 via error.pxi:92``); '' if unknown."""
    import os

    tb = exc.__traceback__
    ours = last = None
    while tb is not None:
        last = tb
        if f"{os.sep}provenance{os.sep}" in tb.tb_frame.f_code.co_filename:
            ours = tb
        tb = tb.tb_next
    if last is None:
        return ""

    def fmt(t) -> str:
        return f"{os.path.basename(t.tb_frame.f_code.co_filename)}:{t.tb_lineno}"

    if ours is None or ours is last:
        return fmt(last)
    return f"{fmt(ours)} via {fmt(last)}"


def safe_message(exc: BaseException) -> str:
    """A one-line description of ``exc`` that cannot quote the input it failed on.

    Our own errors (ProvenanceError) carry messages we wrote, which name shards and positions, never record
    bytes; OS errors keep their errno text and file name (a path the user gave). Everything else — JSON
    parsers, Arrow, DuckDB, zlib, text extraction — may quote the bytes it choked on, so only the error's
    type and where it was raised are kept."""
    if isinstance(exc, ProvenanceError):
        msg = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        msg = f"{type(exc).__name__}: {exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    else:
        loc = where(exc)
        msg = f"{type(exc).__name__}" + (f" at {loc}" if loc else "")
    msg = " ".join(msg.split())
    return msg if len(msg) <= _MAX_MESSAGE else msg[: _MAX_MESSAGE - 3] + "..."
