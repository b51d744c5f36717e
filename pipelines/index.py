"""Build a copyrighted-code reference index (``provenance.codeindex``) as a Prefect flow."""

from __future__ import annotations

from prefect import flow

from provenance import runs


@flow(name="build-code-index", log_prints=False)
def build_code_index(name: str, sources: list[str], out_dir: str, license: str | None = None) -> dict:
    """Index the code of ``sources`` (folders of code, or JSON Lines of files) into ``out_dir``; scans use it
    with ``provenance scan ... --code-index out_dir``."""
    return runs.build_code_index(name, sources, out_dir, license)
