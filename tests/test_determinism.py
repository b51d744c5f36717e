"""The sample is deterministic, and so is what the ledger says about it: two `provenance sample` + `scan` +
`robots import` + `dedup` runs in separate processes, with different PYTHONHASHSEED and in different folders,
give the same PII findings, verdicts and near-duplicate clusters document by document.

(The folder matters: shard ids are hashes of absolute paths. Until dedup ordered shards by URI, a cluster's
representative, and so the per-domain duplicate counts and the `near-duplicate` reasons, followed the hash
order of the paths, and changed when the corpus was moved.)"""

from __future__ import annotations

import hashlib
import os

import pytest

from conftest import run_cli, sql

pytestmark = pytest.mark.prefect


def _md5(p) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def _walk(folder, seed: str, api_url: str) -> dict:
    folder.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=seed)
    for args in (["sample", "--out", "sample", "--docs", "500", "--formats", "jsonl.gz"],
                 ["scan", "sample/*.json.gz", "--ledger", "l.duckdb", "--top", "0", "--quiet"],
                 ["robots", "import", "sample/robots.jsonl.gz", "--ledger", "l.duckdb"],
                 ["dedup", "--ledger", "l.duckdb"]):
        p = run_cli(args, cwd=folder, api_url=api_url, env=env)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    led = folder / "l.duckdb"
    pii = run_cli(["pii", "--ledger", "l.duckdb"], cwd=folder, env=env)
    verdicts = run_cli(["verdicts", "--ledger", "l.duckdb", "--limit", "30"], cwd=folder, env=env)
    assert pii.returncode == 0 and verdicts.returncode == 0, (pii.stderr, verdicts.stderr)
    return {
        "files": {p.name: _md5(p) for p in sorted((folder / "sample").iterdir()) if p.is_file()},
        "pii": sql(led, "SELECT d.url, f.type, f.start, f.\"end\" FROM documents d, unnest(d.pii) AS t(f) "
                        "ORDER BY ALL"),
        "pii_by_type": sql(led, "SELECT * FROM pii_by_type ORDER BY ALL"),
        "verdicts": sql(led, "SELECT d.url, v.verdict, v.reasons FROM document_verdicts v JOIN documents d "
                             "USING (shard_id, position) ORDER BY ALL"),
        "clusters": sql(led, "SELECT d.url, r.url, g.cluster_size, g.representative FROM document_duplicates g "
                             "JOIN documents d USING (shard_id, position) "
                             "JOIN document_duplicates rg ON rg.cluster_id = g.cluster_id AND rg.representative "
                             "JOIN documents r ON r.shard_id = rg.shard_id AND r.position = rg.position ORDER BY ALL"),
        "duplicates_by_domain": sql(led, "SELECT * FROM duplicates_by_domain ORDER BY ALL"),
        "pii_text": pii.stdout,
        "verdicts_text": "\n".join(ln for ln in verdicts.stdout.splitlines() if " in " not in ln.split("->")[-1]),
    }


@pytest.fixture(scope="module")
def walks(tmp_path_factory, prefect_api):
    root = tmp_path_factory.mktemp("determinism")
    return _walk(root / "a", "1", prefect_api), _walk(root / "another-folder-further-down", "2", prefect_api), root


def test_two_samples_and_scans_in_separate_processes_agree(walks):
    a, b, root = walks
    assert sql(root / "a" / "l.duckdb", "SELECT count(*), sum(documents), sum(quarantined) FROM shards") == [(4, 500, 0)]
    assert a["pii"], "the sample should carry PII"
    assert a["clusters"], "the sample should have near-duplicate clusters"
    for key in a:
        assert a[key] == b[key], key


def test_a_cluster_representative_is_its_most_connected_member_then_first_by_shard_uri_and_position(walks):
    """Between two documents the representative is the first by shard URI and position (the folder does not
    change it); the same in both folders (test above) whatever the hash seed."""
    _, _, root = walks
    for folder in ("a", "another-folder-further-down"):
        rows = sql(root / folder / "l.duckdb", """
            SELECT g.cluster_id, s.uri, g.position, g.representative FROM document_duplicates g
            JOIN shards s USING (shard_id) WHERE g.cluster_size = 2 ORDER BY g.cluster_id, s.uri, g.position""")
        assert len(rows) >= 20
        first = {}
        for cid, uri, pos, rep in rows:
            first.setdefault(cid, (uri, pos))
            assert rep == (first[cid] == (uri, pos)), (folder, cid, uri, pos, rep)
