"""A ledger whose DuckDB storage version this DuckDB cannot read is refused in one line that names the file,
the DuckDB release that wrote it and what to install (not DuckDB's multi-line IO error).

The files are real: a ledger made here, with the storage version number (and the writer's release) in its
DuckDB main header rewritten and the header's checksum recomputed, which is what a file from a newer (or
much older) DuckDB looks like to this one. Layout of the main header (DuckDB's storage/storage_info.hpp):
bytes 0-8 the checksum of bytes 8-4096, 8-12 ``DUCK``, 12-20 the version number (little-endian uint64), from
52 the library version string (32 bytes). The checksum is DuckDB's: 5381 XOR-ed with each 8-byte word times
0xbf58476d1ce4e5b9 (mod 2**64)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from provenance.errors import ProvenanceError
from provenance.ledger import Ledger, storage_info

_M = (1 << 64) - 1


def _checksum(block: bytes) -> int:
    r = 5381
    for i in range(0, len(block) - len(block) % 8, 8):
        r ^= (int.from_bytes(block[i:i + 8], "little") * 0xBF58476D1CE4E5B9) & _M
    return r


def _rewrite_header(src: Path, dst: Path, version: int, written_by: str | None) -> None:
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        head = bytearray(f.read(4096))
        assert head[8:12] == b"DUCK"
        assert _checksum(bytes(head[8:])) == int.from_bytes(head[:8], "little"), "header layout changed?"
        head[12:20] = version.to_bytes(8, "little")
        if written_by is not None:
            head[52:84] = written_by.encode().ljust(32, b"\0")
        head[:8] = _checksum(bytes(head[8:])).to_bytes(8, "little")
        f.seek(0)
        f.write(head)


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("storage") / "made-here.duckdb"
    Ledger(p).close()
    return p


def test_a_ledger_made_here_opens_and_says_who_wrote_it(ledger_file):
    info = storage_info(ledger_file)
    assert info["written_by"].lstrip("v") == duckdb.__version__
    Ledger(ledger_file, read_only=True).close()


def test_newer_storage_version_is_one_line_with_the_release_to_install(ledger_file, tmp_path):
    f = tmp_path / "from-the-future.duckdb"
    _rewrite_header(ledger_file, f, 4000, "v9.1.0")
    with pytest.raises(duckdb.IOException, match="storage version"):  # what DuckDB itself says
        duckdb.connect(str(f)).close()
    for read_only in (False, True):
        with pytest.raises(ProvenanceError) as e:
            Ledger(f, read_only=read_only)
        msg = str(e.value)
        assert "\n" not in msg
        assert str(f) in msg and "DuckDB 9.1.0" in msg and "storage version 4000" in msg
        assert f"DuckDB {duckdb.__version__} (installed here)" in msg
        assert "pip install 'duckdb>=9.1.0'" in msg


def test_newer_storage_version_without_a_release_name(ledger_file, tmp_path):
    f = tmp_path / "unknown-writer.duckdb"
    _rewrite_header(ledger_file, f, 4000, "")
    with pytest.raises(ProvenanceError) as e:
        Ledger(f)
    msg = str(e.value)
    assert "\n" not in msg and "a newer DuckDB (storage version 4000)" in msg and "pip install -U duckdb" in msg


def test_older_storage_version_says_how_to_get_the_data_out(ledger_file, tmp_path):
    f = tmp_path / "from-the-past.duckdb"
    _rewrite_header(ledger_file, f, 1, "v0.2.1")
    with pytest.raises(ProvenanceError) as e:
        Ledger(f)
    msg = str(e.value)
    assert "\n" not in msg and "DuckDB 0.2.1 (storage version 1)" in msg
    assert "pip install 'duckdb==0.2.1' in another environment" in msg and "scan into a new ledger" in msg


def test_the_cli_prints_it_in_one_line(ledger_file, tmp_path):
    f = tmp_path / "from-the-future.duckdb"
    _rewrite_header(ledger_file, f, 4000, "v9.1.0")
    exe = Path(sys.executable).with_name("provenance")
    p = subprocess.run([str(exe), "query", "select 1", "--ledger", str(f)], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    assert "pip install 'duckdb>=9.1.0'" in lines[0] and "Traceback" not in p.stderr
