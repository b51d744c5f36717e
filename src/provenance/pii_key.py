"""The key that PII findings are hashed with: kept outside the ledger, so a shared ledger reveals nothing.

Threat model. A finding's hash is ``HMAC-SHA256(key, normalised value)``. Without the key, a hash cannot be
tested against a guess, so a ledger can be shared (with auditors, in a data card's appendix) without giving
away which e-mail addresses, phone numbers or SSNs the corpus holds, however few possible values a type
has (every US SSN can be enumerated in minutes against a salt stored beside the hashes). With the key,
anyone can confirm a guessed value: keep it like a password. Ledgers scanned with the same key give the same
hash for the same value, so distinct counts and joins across them work; ledgers with different keys share
nothing. Raw values are stored only with ``--keep-pii-values``.

The key file holds 32 random bytes as hex, mode 0600, created (exclusively, no symlink followed) on the
first scan. Its path: ``--pii-key PATH``, else ``$PROVENANCE_PII_KEY``, else ``<ledger>.pii-key`` beside the
ledger (share the ``.duckdb`` file, not this one). The ledger records the key's fingerprint (an HMAC of a
fixed label, which says nothing about the key), and a scan with another key is refused: the ledger's hashes
would no longer link.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from .errors import ProvenanceError

ENV = "PROVENANCE_PII_KEY"
META_SCHEME = "pii_hash_scheme"
META_FINGERPRINT = "pii_key_fingerprint"
SCHEME = "hmac-sha256"


def key_path(ledger: str | os.PathLike, given: str | os.PathLike | None = None) -> Path:
    """Where the key is: the path given, else $PROVENANCE_PII_KEY, else beside the ledger."""
    if given:
        return Path(given)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return Path(str(ledger) + ".pii-key")


def fingerprint(key: bytes) -> str:
    return hmac.new(key, b"provenance: pii key fingerprint", hashlib.sha256).hexdigest()[:16]


def load_key(path: str | os.PathLike, create: bool) -> tuple[bytes, bool]:
    """(key, created). Creates the file (0600) when missing and ``create``; refuses a key file that others
    can read or that is not 32 bytes of hex."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise ProvenanceError(f"no PII key at {p}: give --pii-key (or ${ENV}) the key this ledger was scanned with")
        key = secrets.token_bytes(32)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(p, flags, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
        return key, True
    if p.is_symlink() or not p.is_file():
        raise ProvenanceError(f"PII key {p} is not a regular file")
    mode = p.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ProvenanceError(f"PII key {p} can be read by others (mode {stat.filemode(mode)}): chmod 600 {p}")
    text = p.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ProvenanceError(f"PII key {p} is not 32 bytes of hex")
    return key, False


def key_for_scan(led, given: str | os.PathLike | None = None) -> tuple[bytes, str, list[str]]:
    """The (key, scheme) a scan of ``led`` hashes with, and lines to tell the user.

    A ledger that already holds legacy hashes (a salt stored inside it) keeps that scheme, so its hashes
    still link, with a warning; any other ledger uses the key file, created on first use, whose fingerprint
    must match the one recorded."""
    notes: list[str] = []
    scheme = led.meta(META_SCHEME)
    if scheme is None and led.meta("pii_salt") is not None:
        scheme = "legacy"
        if not led.read_only:
            led.set_meta(META_SCHEME, scheme)
    if scheme == "legacy":
        notes.append(f"PII hashes in ledger {led.path} use the old scheme (a salt stored in the ledger): whoever holds "
                     f"the ledger can confirm guessed values. Scan into a new ledger to hash with a key kept outside it.")
        return led.pii_salt(), "legacy", notes
    path = key_path(led.path, given)
    key, created = load_key(path, create=not led.read_only)
    fp = fingerprint(key)
    recorded = led.meta(META_FINGERPRINT)
    if recorded is not None and recorded != fp:
        raise ProvenanceError(f"PII key {path} (fingerprint {fp}) is not the key ledger {led.path} was scanned with "
                              f"(fingerprint {recorded}): its hashes would no longer link; give --pii-key the right key")
    if created:
        notes.append(f"created PII key {path} (keep it private: it can confirm guessed values; share the ledger, "
                     f"not the key)")
    if not led.read_only:
        led.set_meta(META_SCHEME, SCHEME)
        led.set_meta(META_FINGERPRINT, fp)
    return key, SCHEME, notes
