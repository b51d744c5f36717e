"""The ledger as an audit record (issue 14): settings persist and every change is said, only `scan` creates a
ledger, a file that is not a ledger is refused, `query` cannot write, PII hashes are keyed outside the ledger.
Every case goes through the CLI, as a user would."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import duckdb
import pytest

from conftest import run_cli, sql
from provenance.pii import normalise


def _corpus(path: Path, n: int = 40) -> Path:
    rows = [{"url": f"https://site{i % 4}.example.com/p/{i}", "text": f"page {i} words here, write to "
             f"person{i % 3}@acmemail.net or call +1 415 555 01{i % 10}{i % 7}",
             "timestamp": "2021-03-04T05:06:07Z"} for i in range(n)]
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    return path


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, prefect_api):
    root = tmp_path_factory.mktemp("audit")
    corpus = _corpus(root / "c.jsonl.gz")
    res = run_cli(["scan", str(corpus), "--ledger", str(root / "l.duckdb"), "--top", "0"], cwd=root, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    return root, corpus, root / "l.duckdb", res


# -- only `scan` creates a ledger; a file that is not one is refused ---------------------------------------

def test_scan_says_it_created_the_ledger(scanned):
    _, _, ledger, res = scanned
    assert f"created ledger {ledger}" in res.stderr.splitlines()
    assert ledger.exists()


@pytest.mark.parametrize("args", [
    ["verdicts"], ["dedup"], ["rules", "apply"], ["robots", "import", "x.jsonl.gz"], ["consent", "--evaluate"],
    ["takedown", "add", "t1", "--urls", "urls.txt"], ["query", "select 1"], ["ledger", "info"], ["pii"],
    ["datasheet", "--out", "ds"], ["robots", "refresh"],
])
def test_other_commands_on_a_missing_ledger_fail_in_one_line_and_create_nothing(tmp_path, prefect_api, args):
    (tmp_path / "urls.txt").write_text("https://a.example/\n")
    (tmp_path / "x.jsonl.gz").write_bytes(gzip.compress(b'{"host": "a.example", "body": "User-agent: *"}\n'))
    res = run_cli([*args, "--ledger", "typo.duckdb"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provenance: error: no ledger at typo.duckdb"), res.stderr
    assert not (tmp_path / "typo.duckdb").exists() and not list(tmp_path.glob("typo.duckdb*"))


def test_a_parquet_or_csv_file_or_a_foreign_database_is_refused(scanned, tmp_path, prefect_api):
    _, corpus, _, _ = scanned
    pq_file = tmp_path / "data.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS a) TO '{pq_file}' (FORMAT parquet)")
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    foreign = tmp_path / "other.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    con.close()
    for target, kind in ((pq_file, "is a Parquet file"), (csv, "is not a DuckDB database"),
                         (foreign, "is a DuckDB database but not a provenance ledger")):
        before = target.read_bytes()
        res = run_cli(["scan", str(corpus), "--ledger", str(target), "--top", "0"], cwd=tmp_path, api_url=prefect_api)
        assert res.returncode == 2 and kind in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert target.read_bytes() == before
        res = run_cli(["verdicts", "--ledger", str(target)], cwd=tmp_path)
        assert res.returncode == 2 and kind in res.stderr


def test_ledger_info(scanned):
    root, _, ledger, _ = scanned
    res = run_cli(["ledger", "info", "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    import provenance.ledger as ledger_pkg

    latest = max(int(p.name[:4]) for p in (Path(ledger_pkg.__file__).parent / "migrations").glob("0*.sql"))
    assert f"ledger {ledger}:" in out and f"schema version {latest} " in out and "written by DuckDB v" in out
    assert "documents store: table" in out and "rules: the shipped rules only (rules hash " in out
    assert "PII hashes: hmac-sha256, key fingerprint " in out and "runs: 1, first " in out
    info = json.loads(run_cli(["ledger", "info", "--ledger", str(ledger), "--json"], cwd=root).stdout)
    assert info["rows"]["documents"] == 40 and info["storage"]["storage_version"] > 0
    assert info["settings"]["policy"] == "commercial"


# -- query cannot write ------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [
    "COPY (SELECT * FROM documents) TO '{out}'",
    "SELECT 1; COPY (SELECT 1) TO '{out}'",
    "EXPORT DATABASE '{dir}'",
    "ATTACH '{out}' AS x",
    "INSTALL httpfs",
    "SELECT * FROM read_csv('{passwd}')",
    "CREATE TABLE evil AS SELECT 1",
    "SET enable_external_access = true",
])
def test_query_cannot_write_or_read_files(scanned, tmp_path, q):
    root, _, ledger, _ = scanned
    (tmp_path / "secret.csv").write_text("a\n1\n")
    sql_text = q.format(out=tmp_path / "out.csv", dir=tmp_path / "exp", passwd=tmp_path / "secret.csv")
    before = ledger.read_bytes()
    res = run_cli(["query", sql_text, "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 2, res.stdout
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "exp").exists()
    assert ledger.read_bytes() == before
    res = run_cli(["query", "select count(*) n from documents", "--ledger", str(ledger), "--format", "json"], cwd=root)
    assert res.returncode == 0 and json.loads(res.stdout) == [{"n": 40}]


# -- settings live in the ledger --------------------------------------------------------------------------

def _categories_layer(d: Path, extra: dict[str, str]) -> Path:
    d.mkdir()
    (d / "categories.yaml").write_text("categories: [Mine]\ndomains:\n" + "".join(f"  {k}: {v}\n" for k, v in extra.items()))
    return d


def test_rules_persist_and_every_change_is_said(scanned, tmp_path):
    root, _, ledger, _ = scanned
    mine = _categories_layer(tmp_path / "mine", {f"d{i}.example": "Mine" for i in range(50)} | {"site1.example.com": "Mine"})
    n_default = sql(ledger, "SELECT count(*) FROM rules_categories")[0][0]
    res = run_cli(["rules", "apply", "--rules", str(mine), "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 0, res.stderr
    assert f"settings: rules: the shipped rules only -> {mine}; rules hash " in res.stderr
    n_mine = sql(ledger, "SELECT count(*) FROM rules_categories")[0][0]
    assert n_mine == n_default + 51
    hash_mine = sql(ledger, "SELECT value FROM ledger_meta WHERE key = 'setting:rules_hash'")[0][0]
    # a later command without --rules keeps the layer, silently (nothing changed)
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=root)
    assert res.returncode == 0 and "settings:" not in res.stderr, res.stderr
    assert sql(ledger, "SELECT count(*) FROM rules_categories")[0][0] == n_mine
    assert sql(ledger, "SELECT rules_hash FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1")[0][0] == hash_mine
    # a file of the layer edited on disk: the next command says so, with both hashes
    (mine / "categories.yaml").write_text((mine / "categories.yaml").read_text() + "  d99.example: Mine\n")
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=root)
    new_hash = sql(ledger, "SELECT value FROM ledger_meta WHERE key = 'setting:rules_hash'")[0][0]
    assert f"settings: rules: the files of {mine} changed since this ledger last used them; rules hash {hash_mine} -> {new_hash}" \
        in res.stderr
    # the shipped rules only, on request
    res = run_cli(["rules", "apply", "--no-rules", "--ledger", str(ledger)], cwd=root)
    assert f"settings: rules: {mine} -> the shipped rules only" in res.stderr
    assert sql(ledger, "SELECT count(*) FROM rules_categories")[0][0] == n_default


def test_a_recorded_layer_that_disappeared_is_one_line(tmp_path, prefect_api):
    corpus = _corpus(tmp_path / "c.jsonl.gz", 5)
    layer = _categories_layer(tmp_path / "layer", {"x.example": "Mine"})
    ledger = tmp_path / "l.duckdb"
    assert run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--rules", str(layer)],
                   cwd=tmp_path, api_url=prefect_api).returncode == 0
    (layer / "categories.yaml").unlink()
    layer.rmdir()
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == (f"provenance: error: ledger {ledger} uses the rules layer {layer}, which is gone; pass "
                                  f"--rules with the layers to use now (they are recorded)")


def test_policy_persists(scanned):
    root, _, ledger, _ = scanned
    res = run_cli(["verdicts", "--policy", "research", "--ledger", str(ledger)], cwd=root)
    assert "settings: policy: commercial -> research" in res.stderr
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=root)
    assert "settings:" not in res.stderr and "research" in res.stdout, res.stdout + res.stderr
    assert sql(ledger, "SELECT policy FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1")[0][0] == "research"
    run_cli(["verdicts", "--policy", "commercial", "--ledger", str(ledger)], cwd=root)


def test_a_rescan_without_code_index_keeps_the_code_match(tmp_path, prefect_api):
    code = "\n".join(f"static int step_{i}(struct ring *r, size_t n) {{ r->pos = (r->pos + n * {i}) % r->cap; "
                     f"return r->pos ^ {i * 7919}; }}" for i in range(12))
    src = tmp_path / "code"
    src.mkdir()
    (src / "ring.c").write_text(code + "\n")
    idx = tmp_path / "idx"
    assert run_cli(["index", "build", "ringlib", str(src), "--license", "MIT", "--out", str(idx)],
                   cwd=tmp_path, api_url=prefect_api).returncode == 0
    corpus = tmp_path / "pages.jsonl"
    corpus.write_text(json.dumps({"url": "https://forum.example/q/1", "text": "how do I do this?\n" + code}) + "\n")
    ledger = tmp_path / "l.duckdb"
    scan = ["scan", str(corpus), "--ledger", str(ledger), "--top", "0"]
    assert run_cli(scan + ["--code-index", str(idx)], cwd=tmp_path, api_url=prefect_api).returncode == 0
    assert sql(ledger, "SELECT count(*) FROM code_matches")[0][0] == 1
    res = run_cli(scan + ["--force"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0 and "settings:" not in res.stderr, res.stderr
    assert sql(ledger, "SELECT count(*) FROM code_matches")[0][0] == 1
    res = run_cli(scan + ["--force", "--no-code-index"], cwd=tmp_path, api_url=prefect_api)
    assert "settings: code indexes: idx -> none" in res.stderr  # shown relative to the working folder
    assert sql(ledger, "SELECT count(*) FROM code_matches")[0][0] == 0


def test_an_imported_agent_list_never_turns_the_defaults_off(scanned, tmp_path):
    """The README's example: import the ai.robots.txt list as a layer. Known agents stay evaluated; new ones
    are added with evaluate: false; consent is evaluated for the same agents as before."""
    root, _, ledger, _ = scanned
    robots_json = tmp_path / "robots.json"
    robots_json.write_text(json.dumps({"GPTBot": {"operator": "OpenAI", "function": "Scrapes data to train models."},
                                       "CCBot": {"operator": "Common Crawl", "function": "Crawls"},
                                       "BrandNewBot": {"operator": "[Acme](https://acme.example)", "function": "AI training"}}))
    layer = tmp_path / "agents"
    layer.mkdir()
    res = run_cli(["robots", "agents-import", str(robots_json), "--out", str(layer / "agents.yaml")], cwd=root)
    assert res.returncode == 0 and "1 new ones with evaluate: false" in res.stdout and "2 already known" in res.stdout
    before = run_cli(["consent", "--evaluate", "--ledger", str(ledger)], cwd=root)
    after = run_cli(["consent", "--evaluate", "--ledger", str(ledger), "--rules", str(layer)], cwd=root)
    n = lambda out: int(out.split(" agents (")[0].rsplit(" x ", 1)[1])  # noqa: E731 - "... documents x 15 agents (..."
    assert n(before.stdout) == n(after.stdout) >= 10, after.stdout
    run_cli(["rules", "apply", "--no-rules", "--ledger", str(ledger)], cwd=root)


def test_zero_evaluated_agents_is_said_plainly(scanned, tmp_path):
    root, _, ledger, _ = scanned
    layer = tmp_path / "off"
    layer.mkdir()
    from provenance.ruleset import load_agents

    (layer / "agents.yaml").write_text("agents:\n" + "".join(f"  - {{token: {a.token}, evaluate: false}}\n" for a in load_agents()))
    res = run_cli(["consent", "--evaluate", "--ledger", str(ledger), "--rules", str(layer)], cwd=root)
    assert "note: consent is evaluated for 0 agents: no agent in the rules layers has `evaluate: true`" in res.stdout
    assert " x 0 agents " in res.stdout
    run_cli(["rules", "apply", "--no-rules", "--ledger", str(ledger)], cwd=root)


# -- PII hashes: keyed, with the key outside the ledger ---------------------------------------------------

def test_pii_key_is_outside_the_ledger_and_hashes_are_hmac(scanned):
    root, _, ledger, _ = scanned
    key_file = Path(str(ledger) + ".pii-key")
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = bytes.fromhex(key_file.read_text().strip())
    fp = hmac.new(key, b"provenance: pii key fingerprint", hashlib.sha256).hexdigest()[:16]
    assert dict(sql(ledger, "SELECT key, value FROM ledger_meta WHERE key LIKE 'pii%'")) == {
        "pii_hash_scheme": "hmac-sha256", "pii_key_fingerprint": fp}
    # the key appears nowhere in the ledger file
    assert key.hex().encode() not in ledger.read_bytes() and key not in ledger.read_bytes()
    # every stored hash is HMAC-SHA256(key, normalised value): without the key, guessing cannot confirm a value
    rows = sql(ledger, "SELECT type, hash FROM pii_findings WHERE type = 'EMAIL'")
    assert rows
    guesses = {hmac.new(key, normalise("EMAIL", f"person{i}@acmemail.net").encode(), hashlib.sha256).hexdigest()[:16]
               for i in range(3)}
    assert {h for _, h in rows} == guesses
    wrong = {hmac.new(b"\0" * 32, normalise("EMAIL", f"person{i}@acmemail.net").encode(), hashlib.sha256).hexdigest()[:16]
             for i in range(3)}
    assert not wrong & {h for _, h in rows}


def test_another_key_is_refused_and_a_shared_key_links_ledgers(scanned, tmp_path, prefect_api):
    root, corpus, ledger, _ = scanned
    other_key = tmp_path / "other.key"
    other_key.write_text(os.urandom(32).hex())
    other_key.chmod(0o600)
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--force", "--pii-key", str(other_key)],
                  cwd=root, api_url=prefect_api)
    assert res.returncode == 2 and "is not the key ledger" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    # a second ledger scanned with the first one's key: the same values have the same hashes (joins work)
    second = tmp_path / "second.duckdb"
    res = run_cli(["scan", str(corpus), "--ledger", str(second), "--top", "0", "--pii-key", str(ledger) + ".pii-key"],
                  cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    assert sorted(sql(ledger, "SELECT DISTINCT hash FROM pii_findings")) == sorted(sql(second, "SELECT DISTINCT hash FROM pii_findings"))
    # the environment variable names a key too; a key readable by others is refused
    other_key.chmod(0o644)
    env = dict(os.environ, PROVENANCE_PII_KEY=str(other_key), PREFECT_API_URL=prefect_api)
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("provenance")
    r = subprocess.run([str(exe), "scan", str(corpus), "--ledger", str(tmp_path / "third.duckdb"), "--top", "0"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "can be read by others" in r.stderr, r.stderr


def test_a_legacy_ledger_keeps_its_scheme_with_a_warning(tmp_path, prefect_api):
    corpus = _corpus(tmp_path / "c.jsonl.gz", 6)
    ledger = tmp_path / "old.duckdb"
    from provenance.ledger import Ledger

    with Ledger(ledger) as led:  # a ledger made before keyed hashes: its salt is stored in it
        led.pii_salt()
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    assert "note: PII hashes in ledger" in res.stderr and "use the old scheme" in res.stderr
    assert not Path(str(ledger) + ".pii-key").exists()
    info = run_cli(["ledger", "info", "--ledger", str(ledger)], cwd=tmp_path).stdout
    assert "PII hashes: legacy" in info


def test_verdicts_say_when_the_policy_agents_were_left_out_of_the_evaluation(tmp_path, prefect_api):
    """Snapshots imported but the policy's agents not evaluated: the note says so (it used to blame missing
    snapshots)."""
    corpus = _corpus(tmp_path / "c.jsonl.gz", 8)
    ledger = tmp_path / "l.duckdb"
    assert run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0"], cwd=tmp_path,
                   api_url=prefect_api).returncode == 0
    robots = tmp_path / "robots.jsonl"
    robots.write_text("".join(json.dumps({"host": f"site{i}.example.com", "body": "User-agent: *\nDisallow: /p/\n",
                                          "captured_at": "2020-01-01T00:00:00Z"}) + "\n" for i in range(4)))
    res = run_cli(["robots", "import", str(robots), "--ledger", str(ledger), "--agents", "ClaudeBot"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_cli(["verdicts", "--ledger", str(ledger)], cwd=tmp_path)
    assert "consent was not evaluated for GPTBot, CCBot although 4 robots.txt snapshot(s) are in the ledger" in res.stdout
