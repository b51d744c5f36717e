"""The fixed cost of every flow command, next to the cost of starting Python with provenance imported.

Each command runs as a user runs it: a fresh process, on a one-document corpus and a tiny ledger, best of
``--repeat`` runs. Three ways are measured where they apply:

- in-process (the default: no Prefect API configured),
- tracked by a temporary Prefect server (``--track`` with no PREFECT_API_URL: Prefect's ephemeral mode),
- tracked by a standing local server (``prefect server start``, PREFECT_API_URL pointing at it).

    python bench/bench_cli.py                 # in-process and ephemeral
    python bench/bench_cli.py --standing      # also start a local Prefect server and measure against it

The anchor is ``python -c "import provenance"`` in the same run: the figures are ratios to it, and seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path, env: dict, repeat: int, before=None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before:
            before()
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
        best = min(best, dt)
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--standing", action="store_true", help="also measure against a standing local Prefect server")
    ap.add_argument("--no-ephemeral", action="store_true", help="skip the temporary-server runs (~10 s each)")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PROVENANCE_TRACK")}
    env.update(PREFECT_HOME=str(work / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_LOGGING_LEVEL="WARNING")
    prov = str(BIN / "provenance")
    subprocess.run([prov, "sample", "--out", "s", "--docs", "1", "--shards", "1", "--formats", "jsonl.gz"], cwd=work,
                   env=env, check=True, capture_output=True)
    code = work / "code"
    code.mkdir()
    (code / "a.py").write_text("def f(x):\n    return [i * i for i in range(x) if i % 3]\n" * 20)
    subprocess.run([prov, "scan", "s/c4-sample.00000-of-00001.json.gz", "--ledger", "base.duckdb", "--quiet", "--top", "0"],
                   cwd=work, env=env, check=True, capture_output=True)

    def fresh_ledger():
        for p in work.glob("one.duckdb*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    commands = {
        "scan (1 document, new ledger)": ([prov, "scan", "s/c4-sample.00000-of-00001.json.gz", "--ledger", "one.duckdb",
                                           "--quiet", "--top", "0"], fresh_ledger),
        "dedup": ([prov, "dedup", "--ledger", "base.duckdb"], None),
        "datasheet": ([prov, "datasheet", "--ledger", "base.duckdb", "--out", "ds"], None),
        "index build (1 file)": ([prov, "index", "build", "tiny", "code", "--out", "idx"], None),
    }
    anchor = timed([sys.executable, "-c", "import provenance"], work, env, a.repeat + 2)
    anchor_cli = timed([prov, "--help"], work, env, a.repeat + 2)
    rows = [("python -c 'import provenance' (anchor)", anchor, None, None), ("provenance --help", anchor_cli, None, None)]
    server = None
    senv = None
    if a.standing:
        port = free_port()
        senv = dict(env, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
        server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
    try:
        for name, (cmd, before) in commands.items():
            local = timed(cmd, work, env, a.repeat, before)
            eph = None if a.no_ephemeral else timed(cmd + ["--track"], work, env, max(1, a.repeat - 1), before)
            std = timed(cmd, work, senv, a.repeat, before) if senv else None
            rows.append((name, local, eph, std))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)

    # time to the first line a scan prints (progress starts at once): a 4-shard sample, new ledger each time
    subprocess.run([prov, "sample", "--out", "s4", "--docs", "2000", "--shards", "4", "--formats", "jsonl.gz"], cwd=work,
                   env=env, check=True, capture_output=True)
    first = []
    for i in range(a.repeat):
        t = time.perf_counter()
        p = subprocess.Popen([prov, "scan", "s4", "--ledger", f"first{i}.duckdb", "--top", "0"], cwd=work, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        p.stderr.readline()
        first.append(time.perf_counter() - t)
        p.communicate()
    print(f"scan: first line after {min(first):.2f} s (best of {a.repeat})")
    print(f"fixed cost per command, best of {a.repeat} (seconds; x = ratio to the anchor, {anchor:.2f} s)")
    print(f"{'command':40} {'in-process':>16} {'temporary server':>18} {'standing server':>17}")
    for name, local, eph, std in rows:
        def cell(v):
            return "-" if v is None else f"{v:5.2f} s ({v / anchor:4.1f}x)"
        print(f"{name:40} {cell(local):>16} {cell(eph):>18} {cell(std):>17}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
