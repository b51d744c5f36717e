"""The transcripts in README.md and docs/*.md are what the commands print: each file's commands run top to
bottom in a fresh folder (tests/transcripts.py) and their output, masked for run ids, timings, rates, the
clock and the temporary folder, must equal what the file shows.

On a difference the test prints the unified diff; `python -m tests.transcripts --update FILE` rewrites the
file with the real output when the change is meant."""

from __future__ import annotations

import pytest

import transcripts

FILES = transcripts.default_files()


def test_there_are_transcripts_to_check():
    names = {f.relative_to(transcripts.REPO).as_posix() for f in FILES}
    assert "README.md" in names and "docs/datatrove.md" in names, names


@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", FILES, ids=[f.relative_to(transcripts.REPO).as_posix() for f in FILES])
def test_transcript_output_is_what_the_file_shows(path):
    res = transcripts.run_file(path)
    if res.skipped:
        pytest.skip(f"{path.name}: {res.skipped}")
    rel = path.relative_to(transcripts.REPO).as_posix()
    report = "\n".join(res.errors + res.diffs)
    assert res.ok, (f"{rel}: the transcripts differ from what the commands print ({res.seconds:.0f} s); if the change "
                    f"is meant: python -m tests.transcripts --update {rel}\n{report}")


# -- the machinery itself (fast) --------------------------------------------------------------------


def test_a_command_continues_while_the_shell_needs_more():
    inc = transcripts._incomplete
    assert inc('provenance query "select 1') and not inc('provenance query "select 1\n  from t"')
    assert inc("python3 - <<'PY'   # a comment") and not inc("python3 - <<'PY'\nprint(1)\nPY")
    assert inc("ls \\") and not inc("echo it\\'s")
    assert not inc("echo '#' # it's a comment") and not inc("echo a # it's")


def test_parse_finds_console_blocks_files_and_layout():
    text = "\n".join([
        "<!-- transcript-needs: README.md -->",
        "```bash", "$ not run", "```",
        "<!-- transcript-file: x.py -->", "", "```python", "print(1)", "```",
        "```console", "$ echo a", "a", "", "$ python3 - <<'PY'", "print(2)", "PY", "2", "```",
    ])
    lines, blocks, needs = transcripts.parse(text)
    assert needs == ["README.md"]
    assert [b.kind for b in blocks] == ["file", "transcript"]
    assert blocks[0].file_name == "x.py" and blocks[0].body == ["print(1)"]
    c1, c2 = blocks[1].commands
    assert (c1.text, c1.output, c1.trailing_blanks) == ("echo a", ["a"], 1)
    assert (c2.text, c2.output) == ("python3 - <<'PY'\nprint(2)\nPY", ["2"])


def test_masks_cover_what_changes_between_runs_and_nothing_else():
    m = transcripts.mask_line
    assert m("run 20261205T151835Z-024c88a7: 4 shard(s) in 5.7 s (3,519 docs/s)") == \
        "run <RUN-ID>: 4 shard(s) in <DURATION> s (<RATE> docs/s)"
    assert m("in 0.07s; 66 MB/s; 291,636 rows/s") == "in <DURATION>s; <RATE> MB/s; <RATE> rows/s"
    assert m("REQ-1  text  2026-11-22 15:32:15.090615+00:00  0.8") == "REQ-1 text <TIME> 0.8"
    assert m("http://x.org/a  2021-10-26  allowed") == "http://x.org/a  2021-10-26  allowed"  # a crawl date stays
    assert m("-> /tmp/provenance-transcripts-ab12_x/README/myrules; hash 01b6110b0bb64c99") == \
        "-> <TMP>/README/myrules; hash 01b6110b0bb64c99"
    assert m("wrote c4-sample.00000-of-00004-7771e728d853f27b.parquet: 4,100 rows") == \
        "wrote c4-sample.00000-of-00004-<SHARD-ID>.parquet: 4,100 rows"
    assert m("20,000 documents x 15 agents, 4 shard(s), 1,412 candidate pairs") == \
        "20,000 documents x 15 agents, 4 shard(s), 1,412 candidate pairs"


def test_progress_lines_compare_in_any_order_and_still_reading_lines_not_at_all():
    a = ["scanning 2 shard(s)", "[1/2] b.json.gz: 5 docs | total 5 docs, 10 docs/s",
         "  a.json.gz: 100 rows read, 9 rows/s, 0.0 MB/s of text, 10 s",
         "[2/2] a.json.gz: 7 docs | total 12 docs, 11 docs/s", "run done"]
    b = ["scanning 2 shard(s)", "[1/2] a.json.gz: 7 docs | total 7 docs, 3 docs/s",
         "[2/2] b.json.gz: 5 docs | total 12 docs, 4 docs/s", "run done"]
    assert transcripts.normalise(a) == transcripts.normalise(b)
    c = list(b)
    c[1] = "[1/2] a.json.gz: 8 docs | total 8 docs, 3 docs/s"
    assert transcripts.normalise(c) != transcripts.normalise(b)


def test_update_rewrites_outputs_and_keeps_commands_and_layout(tmp_path):
    f = tmp_path / "t.md"
    f.write_text("intro\n\n```console\n$ echo one   # a comment\nold\n\n$ printf 'x\\n\\ny\\n'\n```\n\ntail\n",
                 encoding="utf-8")
    res = transcripts.run_file(f)
    assert not res.errors and len(res.diffs) == 1
    assert transcripts.update_file(res)
    assert f.read_text(encoding="utf-8") == \
        "intro\n\n```console\n$ echo one   # a comment\none\n\n$ printf 'x\\n\\ny\\n'\nx\n\ny\n```\n\ntail\n"
    assert transcripts.run_file(f).ok


def test_a_failing_command_is_an_error_unless_the_transcript_shows_its_status(tmp_path):
    f = tmp_path / "t.md"
    f.write_text("```console\n$ false\n$ ls no-such-file 2>/dev/null\n$ echo $?\n2\n```\n", encoding="utf-8")
    res = transcripts.run_file(f)
    assert len(res.errors) == 1 and "`false` exited 1" in res.errors[0]
    assert not res.diffs
