"""A command line that never lies: every mistake is one line on stderr and exit 2, never a traceback.

Every subcommand is found from ``build_parser()`` (a new one is covered without touching this file) and run
for real, in a subprocess (``python -m provenance``), with
  (a) a missing ledger,
  (b) an unknown option, ``-1`` for every option that takes a checked value, a bad choice,
  (c) a missing file (and a glob that matches nothing) for every argument that names an input, a missing
      folder for every file a command writes (scan's ledger among them),
  (d) a rules layer that ``provenance rules check`` refuses, for every command that takes ``--rules``;
plus a stdout closed early (exit 141, nothing on stderr), exit 3 for runs that finished incomplete, and the
one line of an unexpected error. The subprocesses run in a thread pool (the module takes ~30 s).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provenance.cli import build_parser
from provenance.errors import EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_OK, EXIT_PIPE, EXIT_USAGE

MISSING_LEDGER = "missing.duckdb"
INPUT = "in.json.gz"  # a small valid shard: what a positional argument gets unless the case is about it
BAD_RULES = "badrules"  # a layer `provenance rules check` refuses (agents.yaml line 2)
# options a command needs that argparse cannot mark required (datasheet --out, unless --about-template)
NEEDED = {("out", "provenance datasheet")}
# a typed option that takes -1 on purpose would be listed here; none does
NEGATIVE_OK: set[tuple[str, str]] = set()


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sp in subs[0].choices.items():
        yield from _leaves(sp, path + (name,))


LEAVES = list(_leaves(build_parser()))


def _takes_value(a: argparse.Action) -> bool:
    return a.nargs != 0 and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))


def _fill(parser: argparse.ArgumentParser, given: dict[str, str]) -> list[str]:
    """Arguments for every positional and required option of a leaf: given[dest], else a real input for a
    positional and a new path for a required option (an output such as --out)."""
    out: list[str] = []
    for a in parser._actions:
        if a.option_strings:
            if a.dest in given:
                out += [a.option_strings[0], given[a.dest]]
            elif a.required or (a.dest, parser.prog) in NEEDED:
                out += [a.option_strings[0], "new-output"]
        elif a.dest in given:
            out.append(given[a.dest])
        elif a.nargs not in ("?", "*"):
            out.append(INPUT)
    return out


def _ledger_dests(parser) -> list[str]:
    return [a.dest for a in parser._actions if a.dest == "ledger" or a.dest.startswith("ledger_")]


def _cases() -> list[tuple[str, list[str], str]]:
    """(id, argv, what the one line must mention)."""
    cases = []
    for path, parser in LEAVES:
        name = " ".join(path)
        # (a) a missing ledger (scan creates one: a ledger in a folder that does not exist)
        ledgers = _ledger_dests(parser)
        if ledgers and path != ("scan",):  # scan makes one: a ledger in a missing folder is below
            cases.append((f"{name}: missing ledger", [*path, *_fill(parser, {d: MISSING_LEDGER for d in ledgers})],
                          MISSING_LEDGER))
        # (b) bad arguments
        cases.append((f"{name}: unknown option", [*path, *_fill(parser, {}), "--no-such-option"], "--no-such-option"))
        for a in parser._actions:
            if not a.option_strings or not _takes_value(a):
                continue
            opt = a.option_strings[0]
            checked = a.type is not None and not getattr(a.type, "names_input", None)
            if checked and not getattr(a.type, "names_output", False) and (name, opt) not in NEGATIVE_OK:
                cases.append((f"{name} {opt} -1", [*path, *_fill(parser, {a.dest: "-1"})], opt))
            if a.choices:
                cases.append((f"{name} {opt} bad choice", [*path, *_fill(parser, {a.dest: "nope"})], opt))
        # (c) inputs that are not there
        for a in parser._actions:
            kind = getattr(a.type, "names_input", None)
            if not kind:
                continue
            label = a.option_strings[0] if a.option_strings else a.dest
            cases.append((f"{name} {label} missing", [*path, *_fill(parser, {a.dest: f"nothere-{a.dest}"})], "nothere"))
            if kind == "spec":
                cases.append((f"{name} {label} glob matching nothing",
                              [*path, *_fill(parser, {a.dest: f"nothere-{a.dest}-*.json.gz"})], "nothere"))
        # ... and files to write in a folder that is not there
        for a in parser._actions:
            if getattr(a.type, "names_output", False):
                cases.append((f"{name} {a.option_strings[0]} in a missing folder",
                              [*path, *_fill(parser, {a.dest: "nodir/new-file"})], "nodir: no such folder"))
        # (d) rules layers checked as `rules check` checks them, by every command that takes --rules
        if any(a.dest == "rules" for a in parser._actions):
            cases.append((f"{name} --rules refused by rules check", [*path, *_fill(parser, {"rules": BAD_RULES})],
                          "agents.yaml:2"))
    # the cases of the issue that are not about one argument
    cases += [
        ("datasheet --about not YAML", ["datasheet", "--about", "bad-about.yaml", "--out", "new-output",
                                        "--ledger", MISSING_LEDGER], "bad-about.yaml:2"),
        ("robots agents-import not JSON", ["robots", "agents-import", "bad-about.yaml", "--out", "x.yaml"],
         "bad-about.yaml"),
        ("rules import-categories not the CSV", ["rules", "import-categories", INPUT, "--out", "x.yaml"], INPUT),
        ("no command", [], "command"),
        ("unknown command", ["nope"], "nope"),
        ("robots without its command", ["robots"], "command"),
        ("--rules with --no-rules", ["verdicts", "--rules", BAD_RULES, "--no-rules"], "--no-rules"),
        ("--resolve without an address", ["robots", "fetch", "--resolve", "example.com=not-an-ip"], "--resolve"),
        ("--agents with an empty token", ["consent", "--agents", ","], "--agents"),
        ("--memory-limit below DuckDB's floor", ["dedup", "--memory-limit", "500"], "--memory-limit"),
        ("--memory-limit not a size", ["dedup", "--memory-limit", "lots"], "--memory-limit"),
        ("--threshold above 1", ["dedup", "--threshold", "1.5"], "--threshold"),
        ("--max-doc-bytes 0", ["scan", INPUT, "--max-doc-bytes", "0"], "--max-doc-bytes"),
    ]
    return cases


CASES = _cases()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "PROVENANCE_TRACK", "PROVENANCE_DEBUG", "PROVENANCE_LEDGER")}
    env.update(PREFECT_HOME=str(home / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PROVENANCE_PII_KEY="", TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="")
    env.pop("PROVENANCE_PII_KEY")
    return env


def _run(args: list[str], cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provenance", *args], cwd=cwd, env=env or _env(cwd),
                          capture_output=True, text=True, timeout=120, **kw)


def _one_line(res: subprocess.CompletedProcess, code: int = EXIT_USAGE) -> str:
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr
    lines = res.stderr.splitlines()
    assert res.returncode == code and len(lines) == 1 and lines[0].strip(), (res.args, res.returncode, res.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("cli-errors")
    with gzip.open(ws / INPUT, "wt", encoding="utf-8") as f:
        for i in range(3):
            f.write(json.dumps({"url": f"https://example.com/{i}", "text": f"document {i} about nothing"}) + "\n")
    (ws / BAD_RULES).mkdir()
    (ws / BAD_RULES / "agents.yaml").write_text('agents:\n  - token: "Bad Agent"\n', encoding="utf-8")
    (ws / "bad-about.yaml").write_text("motivation: [unclosed\nuses: x\n", encoding="utf-8")
    return ws


@pytest.fixture(scope="module")
def results(workspace) -> dict[str, subprocess.CompletedProcess]:
    env = _env(workspace)
    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 2))) as pool:
        futures = {cid: pool.submit(_run, argv, workspace, env) for cid, argv, _ in CASES}
        return {cid: f.result() for cid, f in futures.items()}


def test_every_subcommand_is_walked():
    names = {" ".join(p) for p, _ in LEAVES}
    assert {"scan", "query", "robots import", "takedown add", "index build", "datasheet", "diff", "redact"} <= names
    walked = {cid.split(":")[0] for cid, _, _ in CASES}
    assert all(any(w.startswith(n) for w in walked) for n in names)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_one_line_exit_2(case, results):
    cid, argv, mention = case
    line = _one_line(results[cid])
    assert mention in line, (argv, line)
    assert line.startswith("provenance"), line


def test_usage_errors_name_the_command_and_its_help(results):
    line = _one_line(results["takedown add --threshold -1"])
    assert line == ("provenance takedown add: error: argument --threshold: expected a number in (0, 1], got '-1' "
                    "(see provenance takedown add --help)")
    assert "provenance scan: error: unrecognized arguments: --no-such-option" in _one_line(results["scan: unknown option"])


def test_console_script_and_module_agree(workspace):
    exe = Path(sys.executable).with_name("provenance")
    if not exe.exists():
        pytest.skip("no provenance script beside this interpreter")
    args = ["composition", "--limit", "-1"]
    a = subprocess.run([str(exe), *args], cwd=workspace, env=_env(workspace), capture_output=True, text=True, timeout=60)
    b = _run(args, workspace)
    assert _one_line(a) == _one_line(b)
    ok = _run(["--version"], workspace)
    assert ok.returncode == EXIT_OK and ok.stdout.startswith("provenance ")


def test_unexpected_error_is_one_line_without_content(workspace):
    """A bug says its type and place, never its message (which may quote a record); PROVENANCE_DEBUG=1 shows
    the traceback."""
    code = ("import sys, provenance.cli as c\n"
            "def boom(args):\n    raise ValueError('secret record text')\n"
            "c.cmd_composition = boom\nsys.exit(c.main(['composition']))\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=workspace, env=_env(workspace), capture_output=True,
                         text=True, timeout=60)
    line = _one_line(res, EXIT_INTERNAL)
    assert line.startswith("provenance: internal error: ValueError at ") and "PROVENANCE_DEBUG=1" in line
    assert "secret" not in res.stderr
    env = {**_env(workspace), "PROVENANCE_DEBUG": "1"}
    res = subprocess.run([sys.executable, "-c", code], cwd=workspace, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != EXIT_OK and "Traceback" in res.stderr


# -- with a real ledger -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> Path:
    """`provenance sample` (50 documents, 1 shard) scanned into L.duckdb, its robots.txt imported."""
    ws = tmp_path_factory.mktemp("cli-ledger")
    env = _env(ws)
    for args in (["sample", "--docs", "50", "--shards", "1", "--out", "s"],
                 ["scan", "s/c4-sample.00000-of-00001.json.gz", "--ledger", "L.duckdb", "--top", "0", "--quiet"],
                 ["robots", "import", "s/robots.jsonl.gz", "--ledger", "L.duckdb"]):
        res = _run(args, ws, env)
        assert res.returncode == EXIT_OK, (args, res.stderr)
    return ws


@pytest.mark.parametrize("args", [
    ["consent"],
    ["consent", "--format", "csv"],
    ["query", "SELECT * FROM documents"],
    ["query", "SELECT * FROM documents", "--format", "csv"],
    ["excluded", "--verdict", "all", "--format", "csv"],
    ["composition", "--format", "json"],
], ids=lambda a: " ".join(a))
def test_closed_stdout_is_quiet(scanned, args):
    """`provenance consent | head -1`: the reader is gone before anything is written (deterministic: its end of
    the pipe is closed first); exit 141 and nothing on stderr, as a C tool killed by SIGPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        res = subprocess.run([sys.executable, "-m", "provenance", *args, "--ledger", "L.duckdb"], cwd=scanned,
                             env=_env(scanned), stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert (res.returncode, res.stderr) == (EXIT_PIPE, "")


def test_closed_stdout_through_head(scanned):
    res = subprocess.run(f"'{sys.executable}' -m provenance consent --ledger L.duckdb | head -1; exit ${{PIPESTATUS[0]}}",
                         shell=True, executable="/bin/bash", cwd=scanned, env=_env(scanned), capture_output=True,
                         text=True, timeout=120)
    assert res.stdout.startswith("agent") and len(res.stdout.splitlines()) == 1
    assert res.stderr == "" and res.returncode in (EXIT_OK, EXIT_PIPE)  # 0 when head read it all before leaving


def test_redact_exit_codes(scanned, tmp_path):
    good = scanned / "s" / "c4-sample.00000-of-00001.json.gz"
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(good.read_bytes()[:20000])  # ends inside the gzip stream: read only in part
    assert _run(["redact", str(good), "--out", str(tmp_path / "a"), "--quiet"], scanned).returncode == EXIT_OK
    res = _run(["redact", str(cut), "--out", str(tmp_path / "b"), "--quiet"], scanned)
    assert res.returncode == EXIT_INCOMPLETE and "read only in part" in res.stdout, res.stdout + res.stderr
    res = _run(["redact", str(tmp_path / "nothere.json.gz"), "--out", str(tmp_path / "c")], scanned)
    assert "nothere.json.gz" in _one_line(res) and not (tmp_path / "c").exists()


def test_export_skipped_shards_exit_3(scanned, tmp_path):
    shard = tmp_path / "x.json.gz"
    shutil.copy(scanned / "s" / "c4-sample.00000-of-00001.json.gz", shard)
    assert _run(["scan", str(shard), "--ledger", "X.duckdb", "--top", "0", "--quiet"], tmp_path).returncode == EXIT_OK
    assert _run(["export", "--out", "e1", "--ledger", "X.duckdb", "--quiet"], tmp_path).returncode == EXIT_OK
    with gzip.open(shard, "wt") as f:  # changed since the scan
        f.write('{"url": "https://example.com/", "text": "another text"}\n')
    res = _run(["export", "--out", "e2", "--ledger", "X.duckdb", "--quiet"], tmp_path)
    assert res.returncode == EXIT_USAGE and "--skip-changed" in res.stderr and "Traceback" not in res.stderr
    res = _run(["export", "--out", "e3", "--ledger", "X.duckdb", "--skip-changed", "--quiet"], tmp_path)
    assert res.returncode == EXIT_INCOMPLETE and "1 shard(s) skipped" in res.stdout, res.stdout + res.stderr


def test_no_results_yet_are_usage_errors(scanned, tmp_path):
    shutil.copy(scanned / "L.duckdb", tmp_path / "L.duckdb")
    assert "no policy named 'nope'" in _one_line(_run(["verdicts", "--policy", "nope", "--ledger", "L.duckdb"], tmp_path))
    res = _run(["ledger", "info", "--json", "--ledger", "L.duckdb"], tmp_path)
    assert json.loads(res.stdout)["settings"]["policy"] != "nope"  # refused before anything was recorded
    res = _run(["consent", "--agents", "NoSuchBot", "--evaluate", "--ledger", "L.duckdb"], tmp_path)
    assert res.returncode == EXIT_OK and "NoSuchBot not described in any agents.yaml" in res.stderr
