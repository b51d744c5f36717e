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

# shard-level
MISSING = "missing"  # the shard does not exist / cannot be opened
TRUNCATED = "truncated"  # compressed stream ends early: the rest of the shard is lost
CORRUPT = "corrupt"  # compressed data is damaged (bad deflate data or CRC): the rest is lost, and records
#                      decoded from the damaged gzip member before the error was found may be damaged too
UNREADABLE = "unreadable"  # the container cannot be read at all (e.g. a bad Parquet footer)
FAILED = "failed"  # an unexpected error after retries

RECORD_REASONS = {BAD_JSON, BAD_UTF8, NO_URL, NO_TEXT, TOO_LARGE, NOT_TEXT, BAD_RECORD}
SHARD_REASONS = {MISSING, TRUNCATED, CORRUPT, UNREADABLE, FAILED}


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
