"""Transcripts in the documentation, run for real.

    python -m tests.transcripts --check [-v] [FILE ...]     # run, compare, print a unified diff; exit 1 on a difference
    python -m tests.transcripts --update [-v] [FILE ...]    # run and rewrite the blocks with the real output

FILE defaults to README.md and every docs/*.md that holds a transcript.

The convention (see "Transcripts" in the README):

* A transcript is a fenced block whose info string is ``console``. Every other block (```` ``` ````,
  ```` ```bash ````, ```` ```text ````, ...) is free text and never run.
* In a transcript, a line that starts with ``$ `` is a command; it continues on the next lines while it
  is incomplete for the shell (an open quote, a trailing backslash, a here-document up to its delimiter).
  The lines up to the next command are its output: stdout and stderr merged as a terminal shows them
  (both unbuffered). Blank lines after an output are layout, kept by ``--update``.
* The commands of one file run in document order, in one fresh folder per file (``<tmp>/README``,
  ``<tmp>/datatrove``, ...), each by ``bash -c`` (so ``$?`` is the previous command's status; ``cd`` and
  ``export`` do not carry over). ``provenance`` and ``python3`` are the ones of the interpreter running
  this module (its ``bin`` folder comes first on ``PATH``); ``PREFECT_HOME`` is a fresh folder,
  ``PREFECT_SERVER_ANALYTICS_ENABLED=false``; ``PROVENANCE_*``, ``PREFECT_*``, ``COLUMNS`` and ``LINES``
  from the caller's environment are dropped. ``<tmp>/shared`` links to the checkout's ``../shared`` when it
  exists, so ``../shared/data/...`` means what it means in the checkout.
* A command that exits non-zero is an error unless the next command of the block is ``echo $?``
  (the reader then sees that it fails, and with what status).
* ``<!-- transcript-file: NAME -->`` on a line of its own right before a fenced block (of any kind) writes that block's text to
  NAME in the working folder when the walk reaches it (a script the transcripts then run).
* ``<!-- transcript-needs: PATH -->`` on a line of its own, anywhere in a file: the file's transcripts need
  PATH (relative to the checkout); without it the file is skipped, and said so.

Comparison masks, on both sides, what differs from run to run and nothing else: run ids, durations
(``5.7 s``, ``0.07s``, ``12 ms``), rates (``3,519 docs/s``, ``291,636 rows/s``, ``66 MB/s``), date-times
after the sample's last crawl year (the clock of the run that printed them: the sample's own dates end in
``provenance.sample.YEAR_MAX``), the temporary folder's path, and the name suffixes derived from it (the
16-hex-digit shard id in ``c4-sample...-<id>.parquet``: a hash of the shard's absolute path). A line in
which something was masked is also compared with its runs of spaces collapsed (a masked value's width
moves the columns after it). Per-shard progress lines (``[i/n] shard: ...``) finish in any order: within a
run of such lines, the running counter ``[i/`` and the running ``total N docs`` are masked and the lines are
sorted. The lines a shard still being read prints every 10 s (``  shard: N rows read, R rows/s, ...``)
appear or not depending on the machine's speed: they are left out of the comparison. ``--update`` writes
the real, unmasked output.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TMP_PREFIX = "provenance-transcripts-"
COMMAND_TIMEOUT = 1200

# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_FILE_MARK = re.compile(r"^<!--\s*transcript-file:\s*(?P<name>\S+)\s*-->\s*$")
_NEEDS_MARK = re.compile(r"^<!--\s*transcript-needs:\s*(?P<path>\S+)\s*-->\s*$", re.M)


@dataclass
class Command:
    text: str                  # the command as run (without "$ "; continuation lines joined by "\n")
    lines: list[str]           # the command's lines as written in the file
    output: list[str]          # the output lines as written in the file (trailing blank lines removed)
    trailing_blanks: int       # blank lines after the output (layout)
    line_no: int               # 1-based line of the "$ " line in the file


@dataclass
class Block:
    kind: str                  # "transcript" | "file"
    start: int                 # index of the opening fence line
    end: int                   # index of the closing fence line
    commands: list[Command] = field(default_factory=list)
    preamble: list[str] = field(default_factory=list)   # lines before the first command (kept as they are)
    file_name: str | None = None
    body: list[str] = field(default_factory=list)


def _incomplete(text: str) -> bool:
    """Is this shell input unfinished: an open quote, a trailing backslash, or a here-document whose
    delimiter line has not come yet?"""
    quote = None
    pending: list[str] = []     # here-document delimiters still to see
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if pending and quote is None:
            # the body of the first pending here-document runs up to its delimiter
            delim, strip_tabs = pending[0]
            if (line.lstrip("\t") if strip_tabs else line) == delim:
                pending.pop(0)
            continue
        j = 0
        at_word_start = True
        while j < len(line):
            c = line[j]
            if quote == "'":
                if c == "'":
                    quote = None
                j += 1
                continue
            if c == "\\":
                if j == len(line) - 1:
                    if quote is None or quote == '"':
                        break  # a continuation: the newline is escaped
                j += 2
                at_word_start = False
                continue
            if quote == '"':
                if c == '"':
                    quote = None
                j += 1
                continue
            if c in "'\"":
                quote = c
            elif c == "#" and at_word_start:
                break  # a comment: the rest of the line
            elif line.startswith("<<", j) and not line.startswith("<<<", j):
                m = re.match(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2", line[j:])
                if m:
                    pending.append((m.group(3), m.group(1) == "-"))
                    j += m.end()
                    at_word_start = False
                    continue
            at_word_start = c in " \t;|&()"
            j += 1
        if quote is None and not pending and line.endswith("\\") and i == len(lines):
            return True
    return quote is not None or bool(pending)


def parse(text: str) -> tuple[list[str], list[Block], list[str]]:
    """The file's lines, its transcript and file blocks, and the paths it needs."""
    lines = text.split("\n")
    blocks: list[Block] = []
    needs = [m.group("path") for m in _NEEDS_MARK.finditer(text)]
    i = 0
    file_mark: str | None = None
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            fm = _FILE_MARK.match(lines[i])
            if fm:
                file_mark = fm.group("name")
            elif lines[i].strip():
                file_mark = None  # the marker names the block right after it (blank lines between allowed)
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info")
        j = i + 1
        while j < len(lines) and not (lines[j].startswith(fence[0] * len(fence)) and not lines[j].strip(fence[0]).strip()):
            j += 1
        if j >= len(lines):
            raise ValueError(f"line {i + 1}: a fenced block that never closes")
        body = lines[i + 1:j]
        if file_mark is not None:
            blocks.append(Block("file", i, j, file_name=file_mark, body=body))
        elif info == "console":
            blocks.append(_parse_transcript(i, j, body))
        file_mark = None
        i = j + 1
    return lines, blocks, needs


def _parse_transcript(start: int, end: int, body: list[str]) -> Block:
    block = Block("transcript", start, end)
    k = 0
    while k < len(body) and not body[k].startswith("$ "):
        block.preamble.append(body[k])
        k += 1
    while k < len(body):
        first = k
        cmd_lines = [body[k]]
        text = body[k][2:]
        k += 1
        while _incomplete(text) and k < len(body):
            cmd_lines.append(body[k])
            text += "\n" + body[k]
            k += 1
        out: list[str] = []
        while k < len(body) and not body[k].startswith("$ "):
            out.append(body[k])
            k += 1
        blanks = 0
        while out and not out[-1].strip():
            out.pop()
            blanks += 1
        block.commands.append(Command(text, cmd_lines, out, blanks, start + 2 + first))
    return block


# --------------------------------------------------------------------------------------------------
# Masking and normalising
# --------------------------------------------------------------------------------------------------

def _year_max() -> int:
    try:
        from provenance.sample import YEAR_MAX
        return int(YEAR_MAX)
    except Exception:  # noqa: BLE001 - the module is the source of truth; 2024 is what it said when written
        return 2024


_YEAR_MAX = _year_max()
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_TMP = re.compile(r"(?:/[^\s'\"`:,;()\[\]]*)?/" + re.escape(TMP_PREFIX) + r"[A-Za-z0-9_]+")
_RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{8}\b")
_DATETIME = re.compile(r"\b(?P<y>\d{4})-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?\b")
_NUMBER = r"(?<![\w.,])\d[\d,]*(?:\.\d+)?"
_RATE = re.compile(_NUMBER + r"(?P<sp>\s?)(?P<mult>[kKMG]?\s?)(?P<unit>[A-Za-z]+)/s\b")
_DURATION = re.compile(_NUMBER + r"(?P<sp>\s?)(?P<unit>s|ms|µs|sec|secs|seconds?|min|minutes?)(?![\w/(])")
_SHARD_SUFFIX = re.compile(r"(?P<name>[\w.-]+?)-[0-9a-f]{16}(?P<ext>(?:\.redacted)?\.parquet)\b")
_PROGRESS = re.compile(r"^\s*\[\d+/\d+\] ")
_PROGRESS_INDEX = re.compile(r"^(\s*)\[\d+(/\d+\] )")
_RUNNING_TOTAL = re.compile(r"\btotal [\d,]+\b")
#: what a shard still being read prints every PROVENANCE_PROGRESS_SECONDS (10 s): whether such a line appears
#: at all, and how many, is a matter of time (checked after masking: "  NAME: N rows read, <RATE> rows/s, ...")
_STILL_READING = re.compile(r"^\s+\S.*: [\d,]+ rows read, <RATE> rows/s\b")


def _datetime(m: re.Match) -> str:
    return "<TIME>" if int(m.group("y")) > _YEAR_MAX else m.group(0)


def mask_line(line: str) -> str:
    """One line as compared: what differs from run to run masked."""
    out = _TMP.sub("<TMP>", line)
    out = _RUN_ID.sub("<RUN-ID>", out)
    out = _DATETIME.sub(_datetime, out)
    out = _RATE.sub(lambda m: f"<RATE>{m.group('sp')}{m.group('mult')}{m.group('unit')}/s", out)
    out = _DURATION.sub(lambda m: f"<DURATION>{m.group('sp')}{m.group('unit')}", out)
    out = _SHARD_SUFFIX.sub(lambda m: f"{m.group('name')}-<SHARD-ID>{m.group('ext')}", out)
    if out != line:
        out = re.sub(r"(?<=\S) {2,}", " ", out).rstrip()  # a masked value's width moved the columns after it
    return out


def normalise(lines: list[str]) -> list[str]:
    """Masked lines, with each run of per-shard progress lines in a fixed order."""
    masked = [m for m in (mask_line(x.rstrip()) for x in lines) if not _STILL_READING.match(m)]
    out: list[str] = []
    k = 0
    while k < len(masked):
        if not _PROGRESS.match(masked[k]):
            out.append(masked[k])
            k += 1
            continue
        run = []
        while k < len(masked) and _PROGRESS.match(masked[k]):
            run.append(_RUNNING_TOTAL.sub("total <N>", _PROGRESS_INDEX.sub(r"\1[<i>\2", masked[k])))
            k += 1
        out += sorted(run)
    return out


def clean_output(raw: bytes) -> list[str]:
    """Bytes a command printed, as lines a terminal shows: UTF-8, no colour codes, a carriage return
    overwrites its line, trailing whitespace and trailing blank lines dropped."""
    text = _ANSI.sub("", raw.decode("utf-8", "replace")).replace("\r\n", "\n")
    lines = [ln.rsplit("\r", 1)[-1].rstrip() for ln in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------

def environment(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROVENANCE_", "PREFECT_")) and k not in ("COLUMNS", "LINES", "PYTHONHASHSEED",
                                                                           "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS")}
    home = tmp / "prefect-home"
    home.mkdir(exist_ok=True)
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        "LC_ALL": "C.UTF-8",
        "NO_COLOR": "1",
    })
    env.pop("VIRTUAL_ENV", None)
    return env


@dataclass
class Result:
    path: Path
    skipped: str | None = None
    diffs: list[str] = field(default_factory=list)        # unified diffs of the masked blocks
    errors: list[str] = field(default_factory=list)       # commands that failed unexpectedly
    #: per transcript block, in file order: (its commands as run, their outputs)
    actual: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    seconds: float = 0.0
    timings: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diffs and not self.errors


def _short(cmd: str, n: int = 90) -> str:
    first = cmd.split("\n", 1)[0]
    return first if len(first) <= n else first[: n - 1] + "…"


def run_file(path: Path, verbose: bool = False, keep: bool = False, log=print) -> Result:
    """Run every transcript of one Markdown file in a fresh folder; compare (masked) with what it shows."""
    path = Path(path).resolve()
    res = Result(path)
    text = path.read_text(encoding="utf-8")
    lines, blocks, needs = parse(text)
    missing = [p for p in needs if not (REPO / p).exists()]
    if missing:
        res.skipped = f"needs {', '.join(missing)} (not present)"
        return res
    if not any(b.kind == "transcript" for b in blocks):
        res.skipped = "no transcripts"
        return res
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    try:
        shared = REPO.parent / "shared"
        if shared.exists():
            (tmp / "shared").symlink_to(shared)
        work = tmp / path.stem
        work.mkdir()
        env = environment(tmp)
        rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for b in blocks:
            if b.kind == "file":
                (work / b.file_name).write_text("\n".join(b.body) + "\n", encoding="utf-8")
                continue
            outs: list[list[str]] = []
            status = 0
            for ci, c in enumerate(b.commands):
                t1 = time.monotonic()
                try:
                    proc = subprocess.run(["bash", "-c", f"(exit {status})\n{c.text}"], cwd=work, env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          timeout=COMMAND_TIMEOUT)
                    raw, status = proc.stdout, proc.returncode
                except subprocess.TimeoutExpired as exc:
                    raw, status = (exc.stdout or b"") + f"\n(timed out after {COMMAND_TIMEOUT} s)".encode(), 124
                dt = time.monotonic() - t1
                res.timings.append((dt, f"{rel}:{c.line_no}: {_short(c.text)}"))
                if verbose:
                    log(f"  {dt:6.1f} s  {rel}:{c.line_no}: {_short(c.text)}", file=sys.stderr)
                out = clean_output(raw)
                outs.append(out)
                nxt = b.commands[ci + 1].text.strip() if ci + 1 < len(b.commands) else ""
                if status != 0 and nxt != "echo $?":
                    res.errors.append(f"{rel}:{c.line_no}: `{_short(c.text)}` exited {status} (a command that fails "
                                      f"must be followed by `$ echo $?`):\n" + "\n".join("    " + x for x in out[-20:]))
            res.actual.append(([c.text for c in b.commands], outs))
            exp = _render(b, [c.output for c in b.commands], normalised=True)
            act = _render(b, outs, normalised=True)
            if exp != act:
                res.diffs.append("".join(difflib.unified_diff(
                    [x + "\n" for x in exp], [x + "\n" for x in act],
                    f"{rel}:{b.start + 1} (as written, masked)", f"{rel}:{b.start + 1} (as run, masked)", n=2)))
    finally:
        res.seconds = time.monotonic() - t0
        if keep:
            log(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return res


def _render(block: Block, outputs: list[list[str]], normalised: bool = False) -> list[str]:
    """The block's body with these outputs under its commands."""
    body = list(block.preamble)
    for c, out in zip(block.commands, outputs):
        body += c.lines
        body += normalise(out) if normalised else out
        if not normalised:
            body += [""] * (c.trailing_blanks if c is not block.commands[-1] else 0)
    return body


def update_file(res: Result) -> bool:
    """Rewrite the file's transcripts with the outputs of ``res`` (unmasked). True when the text changed."""
    text = res.path.read_text(encoding="utf-8")  # read again: prose may have been edited while it ran
    lines, blocks, _ = parse(text)
    transcripts = [b for b in blocks if b.kind == "transcript"]
    if [[c.text for c in b.commands] for b in transcripts] != [cmds for cmds, _ in res.actual]:
        raise RuntimeError(f"{res.path}: its commands changed while they ran; run --update again")
    for b, (_, outs) in reversed(list(zip(transcripts, res.actual))):
        lines[b.start + 1:b.end] = _render(b, outs)
    new = "\n".join(lines)
    if new != text:
        res.path.write_text(new, encoding="utf-8")
        return True
    return False


def default_files() -> list[Path]:
    files = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
    return [f for f in files if f.exists() and re.search(r"^```+\s*console\s*$", f.read_text(encoding="utf-8"), re.M)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.transcripts", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare (the default); exit 1 and print a diff on a difference")
    mode.add_argument("--update", action="store_true", help="rewrite the transcripts with the real output")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each command's time as it finishes")
    ap.add_argument("--keep", action="store_true", help="keep the working folders (their path is printed)")
    ap.add_argument("files", nargs="*", type=Path)
    a = ap.parse_args(argv)
    files = [f.resolve() for f in a.files] or default_files()
    bad = 0
    for f in files:
        res = run_file(f, verbose=a.verbose, keep=a.keep)
        name = f.relative_to(REPO) if f.is_relative_to(REPO) else f
        if res.skipped:
            print(f"{name}: skipped: {res.skipped}")
            continue
        for e in res.errors:
            print(e)
        if a.update:
            if res.errors:
                print(f"{name}: not updated: {len(res.errors)} command(s) failed")
                bad += 1
                continue
            changed = update_file(res)
            print(f"{name}: {'updated' if changed else 'unchanged'} ({len(res.timings)} commands, {res.seconds:.0f} s)")
        else:
            for d in res.diffs:
                print(d, end="" if d.endswith("\n") else "\n")
            ok = res.ok
            bad += not ok
            print(f"{name}: {'ok' if ok else f'{len(res.diffs)} block(s) differ, {len(res.errors)} command(s) failed'} "
                  f"({len(res.timings)} commands, {res.seconds:.0f} s; `python -m tests.transcripts --update {name}` "
                  f"rewrites it)" if not ok else f"{name}: ok ({len(res.timings)} commands, {res.seconds:.0f} s)")
        if a.verbose:
            for dt, what in sorted(res.timings, reverse=True)[:5]:
                print(f"  slowest: {dt:6.1f} s  {what}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
