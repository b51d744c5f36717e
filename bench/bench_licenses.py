"""Quality and speed of license-notice detection (provenance.licenses).

    python bench/bench_licenses.py            # all measures (~1 minute)
    python bench/bench_licenses.py --mb 10    # smaller throughput corpus
    python bench/bench_licenses.py --repos-only --per-repo 20 --repos-file bench/repos.txt \
        --scancode /tmp/scvenv/bin/scancode -n 2 --examples     # against ScanCode (~10 minutes)

1. ScanCode LicenseDB rules (kinds is_license_notice, is_license_tag: positives; is_false_positive:
   negatives): precision and recall per SPDX id and overall, recall restricted to the ids we support.
2. 608 real source/license files: agreement of primary_license with file_spdx_identifier where the
   file has one, else with the repository's declared license.
3. Throughput of scan_batch on the C4 sample replicated to ~50 MB, one core.
4. With --repo / --repos-file: per-file recall and precision on source files sampled from git repositories
   (fetched mirrors; bench/repos.txt lists 15 with their licenses and the files whose header states another
   license). Truth is the file's SPDX tag, else its own line in the list, else the repository's license; a
   file counts as found when every truth id is detected. With --scancode, ScanCode (installed apart, never a
   dependency: ``python3 -m venv /tmp/scvenv && /tmp/scvenv/bin/pip install scancode-toolkit 'pluggy<1.6'``)
   runs on the same files, after a one-file warm-up run that is reported and not timed (the first run ever
   builds its license index, ~70 s; every run loads it, ~10-20 s, which stays in the timing). Times are
   wall and CPU seconds: ours one core, ScanCode with -n processes; the speed ratio is given for both.
   ScanCode's marker keys (unknown-license-reference, warranty-disclaimer, ...) are not scored; as in 1., the
   generic public-domain id is right where the truth has the Unlicense or CC0 (ScanCode's public-domain
   category). Our time is the best of 3 runs; ScanCode runs once.
5. With --compare-with OLD_LICENSES_PY: CPU time of this detector against another licenses.py on the same
   inputs, interleaved in this run.

Everything is measured in this run; nothing asserts a time.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RULES = SHARED / "licenses_code" / "scancode_licensedb_rules.jsonl.gz"
LICENSES = SHARED / "licenses_code" / "scancode_licensedb_licenses.jsonl.gz"
FILES = SHARED / "licenses_code" / "licensed_source_files.jsonl.gz"
C4 = SHARED / "web_text" / "c4" / "c4-sample.00000-of-00001.json.gz"

from provenance.licenses import SUPPORTED_IDS, detect, primary_license, scan_batch  # noqa: E402

KINDS_POS = {"is_license_notice", "is_license_tag"}
KIND_NEG = "is_false_positive"

# deprecated SPDX ids (as written in tags) -> current ids
_DEPRECATED = {
    "GPL-2.0": "GPL-2.0-only", "GPL-2.0+": "GPL-2.0-or-later", "GPL-3.0": "GPL-3.0-only", "GPL-3.0+": "GPL-3.0-or-later",
    "LGPL-2.1": "LGPL-2.1-only", "LGPL-2.1+": "LGPL-2.1-or-later", "LGPL-3.0": "LGPL-3.0-only",
    "LGPL-3.0+": "LGPL-3.0-or-later", "AGPL-3.0": "AGPL-3.0-only", "AGPL-3.0+": "AGPL-3.0-or-later",
    "GPL-2.0-with-classpath-exception": "GPL-2.0-only",
}
_EXPR_SPLIT = re.compile(r"\s+(?:AND|OR)\s+|[()]", re.I)


def expression_ids(expr: str) -> set[str]:
    """License ids in an SPDX expression (exceptions after WITH dropped, deprecated ids updated)."""
    out = set()
    for part in _EXPR_SPLIT.split(expr or ""):
        part = re.split(r"\s+WITH\s+", part.strip(), flags=re.I)[0].strip()
        if part:
            out.add(_DEPRECATED.get(part, part))
    return out


def finding_ids(findings) -> set[str]:
    ids = set()
    for f in findings:
        if f["kind"] == "spdx-tag":
            ids |= expression_ids(f["spdx"])
        else:
            ids.add(f["spdx"])
    return ids


PUBLIC_DOMAIN = "LicenseRef-scancode-public-domain"
PD_CATEGORY = frozenset({"Unlicense", "CC0-1.0"})  # SPDX ids of ScanCode's "Public Domain" keys we detect


def scancode_to_spdx(path: Path = LICENSES) -> dict[str, str]:
    m = {}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("spdx_license_key"):
                m[r["key"]] = r["spdx_license_key"]
    return m


def scancode_public_domain_keys(path: Path = LICENSES) -> set[str]:
    """ScanCode splits public-domain statements into many keys (cc-pd, public-domain-disclaimer, ...); the
    detector reports one generic id for a dedication, right when the rule's key is in that category."""
    out = set()
    with gzip.open(path, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            if r.get("category") == "Public Domain":
                out.add(r["key"])
    return out


_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def evaluate_rules(rules: Path = RULES, licenses: Path = LICENSES) -> dict:
    """Per-id and overall precision/recall on the ScanCode rules (see module docstring)."""
    key2spdx = scancode_to_spdx(licenses)
    pd_keys = scancode_public_domain_keys(licenses)
    tp = collections.Counter()
    fp = collections.Counter()
    fn = collections.Counter()
    n_rec = collections.Counter()
    n_outside = collections.Counter()
    fp_examples = collections.defaultdict(list)
    fn_examples = collections.defaultdict(list)
    with gzip.open(rules, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            kind = r["kind"]
            if kind not in KINDS_POS and kind != KIND_NEG:
                continue
            n_rec[kind] += 1
            expected = set()
            if kind in KINDS_POS:
                keys = [k for k in _KEY_RE.findall(r["license_expression"] or "") if k.lower() not in ("and", "or", "with")]
                expected = {key2spdx[k] for k in keys if k in key2spdx}
                if any(k in pd_keys for k in keys):
                    expected.add(PUBLIC_DOMAIN)
            got = finding_ids(detect(r["text"]))
            outside = {sid for sid in got if sid not in SUPPORTED_IDS}
            n_outside.update(outside)
            got -= outside
            # ScanCode often labels a ported CC license with the unported key (CC-BY-3.0-US as cc-by-3.0)
            got = {(_unported(sid) if sid not in expected and _unported(sid) in expected else sid) for sid in got}
            for sid in got:
                if sid in expected:
                    tp[sid] += 1
                else:
                    fp[sid] += 1
                    if len(fp_examples[sid]) < 5:
                        fp_examples[sid].append((r["identifier"], r["license_expression"], r["text"][:160]))
            for sid in (expected & SUPPORTED_IDS) - got:
                fn[sid] += 1
                if len(fn_examples[sid]) < 5:
                    fn_examples[sid].append((r["identifier"], r["text"][:160]))
    ids = sorted(set(tp) | set(fp) | set(fn))
    per_id = {}
    for sid in ids:
        t, f, n = tp[sid], fp[sid], fn[sid]
        per_id[sid] = {
            "tp": t, "fp": f, "fn": n,
            "precision": t / (t + f) if t + f else None,
            "recall": t / (t + n) if t + n else None,
        }
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    return {
        "per_id": per_id,
        "overall": {"tp": T, "fp": F, "fn": N, "precision": T / (T + F) if T + F else None,
                    "recall": T / (T + N) if T + N else None},
        "records": dict(n_rec),
        "outside_supported": dict(n_outside),
        "fp_examples": dict(fp_examples),
        "fn_examples": dict(fn_examples),
    }


_PORT_RE = re.compile(r"^(CC-[A-Z-]+-\d\.\d)-[A-Z]+$")


def _unported(sid: str) -> str:
    m = _PORT_RE.match(sid)
    return m.group(1) if m else sid


def _family(sid: str | None) -> str | None:
    return re.sub(r"-(only|or-later)$", "", sid) if sid else None


def evaluate_files(path: Path = FILES) -> dict:
    """Agreement of primary_license with file_spdx_identifier (when present) else repo_declared_license."""
    recs = [json.loads(line) for line in gzip.open(path, "rt")]
    batch = pa.RecordBatch.from_pylist([{"text": r["content"]} for r in recs])
    found = scan_batch(batch).to_pylist()
    res = collections.defaultdict(collections.Counter)
    disagreements = []
    for r, fs in zip(recs, found):
        prim = primary_license(fs)
        if r.get("file_spdx_identifier"):
            ref, basis = r["file_spdx_identifier"], "file_spdx_identifier"
        else:
            ref, basis = r["repo_declared_license"], "repo_declared_license"
        c = res[(basis, r["repo"])]
        c["n"] += 1
        if prim is None:
            c["none"] += 1
        elif prim == ref:
            c["exact"] += 1
        elif _family(prim) == _family(ref):
            c["family"] += 1
        else:
            c["other"] += 1
            if len(disagreements) < 15:
                disagreements.append((r["repo"], r["path"], ref, prim))
    return {"by_basis_repo": {f"{b} {repo}": dict(c) for (b, repo), c in sorted(res.items())},
            "records": recs, "found": found, "disagreements": disagreements}


def load_c4_texts(path: Path = C4) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


def _load_other(path: Path):
    """Another licenses.py (e.g. ``git show HEAD~1:src/provenance/licenses.py > /tmp/old.py``) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("licenses_other", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def compare_speed(other: Path, specs: list, per_repo: int, target_mb: float, rounds: int = 3) -> dict:
    """CPU time of this detector and another licenses.py on the same inputs in this process, interleaved
    (best of ``rounds``): ``scan_batch`` on the C4 sample replicated to ~target_mb, and ``detect`` on the
    repository files."""
    old = _load_other(other)
    out = {}
    if C4.exists():
        texts = load_c4_texts()
        reps = max(1, int(round(target_mb * 1e6 / sum(len(t.encode()) for t in texts))))
        arr = pa.array(texts * reps, pa.string())
        batches = [pa.RecordBatch.from_arrays([arr.slice(i, 8192)], names=["text"]) for i in range(0, len(arr), 8192)]
        out["c4 scan_batch"] = _interleave({"this": lambda: [scan_batch(b) for b in batches],
                                            "other": lambda: [old.scan_batch(b) for b in batches]}, rounds)
    files = [t for e in specs for _, t in repo_files(e["git_dir"], per_repo, e["paths"] or None)]
    if files:
        out[f"{len(files)} repository files detect"] = _interleave({"this": lambda: [detect(t) for t in files],
                                                                   "other": lambda: [old.detect(t) for t in files]}, rounds)
    return out


def _interleave(fns: dict, rounds: int) -> dict:
    best = {k: None for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.process_time()
            fn()
            dt = time.process_time() - t
            best[k] = dt if best[k] is None else min(best[k], dt)
    return best


def throughput(target_mb: float) -> dict:
    texts = load_c4_texts()
    base = sum(len(t.encode()) for t in texts)
    reps = max(1, int(round(target_mb * 1e6 / base)))
    arr = pa.array(texts * reps, pa.string())
    batches = [pa.RecordBatch.from_arrays([arr.slice(i, 8192)], names=["text"]) for i in range(0, len(arr), 8192)]
    nbytes = base * reps
    # prefilter alone and the full scan
    import pyarrow.compute as pc

    from provenance.licenses import PREFILTER

    t = time.perf_counter()
    cand = 0
    for b in batches:
        cand += pc.sum(pc.match_substring_regex(b.column(0), PREFILTER, ignore_case=True)).as_py() or 0
    t_pre = time.perf_counter() - t
    best = None
    n_find = 0
    for _ in range(2):
        t = time.perf_counter()
        n_find = 0
        for b in batches:
            out = scan_batch(b)
            n_find += pc.sum(pc.list_value_length(out)).as_py() or 0
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return {"docs": len(arr), "mb": nbytes / 1e6, "candidates": cand, "findings": n_find,
            "prefilter_mb_s": nbytes / 1e6 / t_pre, "scan_mb_s": nbytes / 1e6 / best, "scan_s": best}


_SRC_EXT = (".c", ".h", ".cc", ".cpp", ".hpp", ".ipp", ".py", ".java", ".go", ".rs", ".js", ".ts", ".tcl", ".rb")
MIRROR = Path(os.environ.get("PROVENANCE_MIRROR", "/work/.mirror"))


def _path_ok(path: str, include: list[str], exclude: list[str]) -> bool:
    """A path is kept when it matches one include (a folder prefix or an fnmatch glob; none = all) and no
    exclude."""
    import fnmatch

    def hit(pat: str) -> bool:
        return fnmatch.fnmatchcase(path, pat) if any(c in pat for c in "*?[") else path.startswith(pat.rstrip("/") + "/")

    return (not include or any(hit(p) for p in include)) and not any(hit(p) for p in exclude)


def repo_files(git_dir: str, per_repo: int, under: str | None = None) -> list[tuple[str, str]]:
    """(path, text) of up to ``per_repo`` source files at HEAD of a bare/mirror git directory, spread evenly
    over the sorted listing (deterministic). ``under``: comma-separated folder prefixes or globs to keep,
    ``!``-prefixed ones to drop (vendored code under another license). Nothing is written anywhere."""
    import subprocess

    pats = [p.strip() for p in (under or "").split(",") if p.strip()]
    include = [p for p in pats if not p.startswith("!")]
    exclude = [p[1:] for p in pats if p.startswith("!")]
    ls = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "-r", "HEAD"],
                        capture_output=True, text=True, check=True).stdout.splitlines()
    blobs = [(ln.split("\t", 1)[1], ln.split()[2]) for ln in ls if ln.split()[1] == "blob"]
    blobs = sorted((p, h) for p, h in blobs if p.endswith(_SRC_EXT) and _path_ok(p, include, exclude))
    step = max(1, len(blobs) // per_repo)
    pick = blobs[::step][:per_repo]
    out = []
    for path, h in pick:
        data = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "blob", h], capture_output=True, check=True).stdout
        if len(data) < 2_000_000:
            out.append((path, data.decode("utf-8", "replace")))
    return out


def _git_dir(name: str) -> str | None:
    """A git directory given as a path, or as ``owner/name`` under the mirror folder (``fetch`` layout)."""
    p = Path(name)
    if p.exists():
        return str(p)
    for cand in (MIRROR / name.replace("/", "+") / "repo" / ".git", MIRROR / name.replace("/", "+") / "repo"):
        if (cand / "HEAD").exists():
            return str(cand)
    return None


def parse_repo_spec(spec: str) -> dict:
    """``GITDIR=SPDX-EXPR[@PATHS]`` (the ``--repo`` form) -> a repository entry."""
    git_dir, rest = spec.split("=", 1)
    expr, _, paths = rest.partition("@")
    return {"git_dir": git_dir, "expr": expr.strip(), "paths": paths, "files": []}


def read_repo_list(path: Path) -> list[dict]:
    """Repository entries from a file, one ``REPO[@PATHS]  SPDX-EXPRESSION`` a line: REPO a git directory or
    ``owner/name`` under the mirror folder, PATHS as in :func:`repo_files`, the expression the rest of the
    line. A following line ``= GLOB  SPDX-EXPRESSION`` gives the files matching GLOB their own truth (a file
    whose header states another license, e.g. code kept under its original BSD notice). ``#`` starts a
    comment. Repositories absent from this machine are skipped and said so."""
    entries: list[dict] = []
    last = None
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("="):
            glob, _, expr = line[1:].strip().partition(" ")
            if last is not None:
                last["files"].append((glob, expr.strip()))
            continue
        repo, _, expr = line.partition(" ")
        repo, _, paths = repo.partition("@")
        gd = _git_dir(repo)
        if gd is None:
            print(f"  (skipped: {repo} is not on this machine)")
            last = None
            continue
        last = {"git_dir": gd, "expr": expr.strip(), "paths": paths, "files": []}
        entries.append(last)
    return entries


def _tag_ids(text: str) -> set[str] | None:
    """Ids of the file's SPDX tag; None without a tag or when its value is not an SPDX expression
    ("BSD 3-Clause"), which names no id either tool could report."""
    from provenance.licenses import valid_spdx_expression

    m = re.search(r"SPDX-License-Identifier:\s*([^\r\n*]+)", text)
    if not m:
        return None
    expr = m.group(1).strip().rstrip("*/ -")
    return expression_ids(expr) if valid_spdx_expression(expr) else None


def _write_tree(root: Path, files: list[tuple[str, str]]) -> None:
    for i, (path, text) in enumerate(files):
        f = root / f"{i:05d}" / Path(path).name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


# ScanCode keys that say "some license-like text is here" rather than naming a license (its counterpart of our
# LicenseRef-invalid): not scored as detections.
SCANCODE_MARKERS = ("LicenseRef-scancode-unknown", "LicenseRef-scancode-free-unknown", "LicenseRef-scancode-warranty-disclaimer",
                    "LicenseRef-scancode-generic-")


def run_scancode(scancode: str, files: list[tuple[str, str]], processes: int = 1) -> tuple[list[set[str]], dict]:
    """ScanCode license detection (one command) over the files, written to a temporary folder; ids per file
    and timings. A one-file run first is the warm-up (it builds the license index when none is cached) and is
    not in the timing; its time is reported as ``startup`` (process start and index load, which every run
    pays). ``cpu`` is the user+system time of the scancode processes (all ``processes`` of them)."""
    import resource
    import subprocess
    import tempfile

    def once(root: Path, out: Path) -> tuple[float, float]:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([scancode, "-l", "-n", str(processes), "--quiet", "--json", str(out), str(root)], check=True,
                       capture_output=True)
        dt = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

    with tempfile.TemporaryDirectory() as td:
        warm = Path(td) / "warm"
        _write_tree(warm, files[:1])
        t_warm, _ = once(warm, Path(td) / "warm.json")
        root = Path(td) / "files"
        _write_tree(root, files)
        out = Path(td) / "sc.json"
        dt, cpu = once(root, out)
        res = json.loads(out.read_text())
    by_idx: dict[int, set[str]] = {}
    for fr in res["files"]:
        if fr.get("type") != "file":
            continue
        idx = int(Path(fr["path"]).parts[-2])
        ids = set()
        for d in fr.get("license_detections") or []:
            ids |= expression_ids(d.get("license_expression_spdx") or "")
        by_idx[idx] = {i for i in ids if not i.startswith(SCANCODE_MARKERS)}
    return [by_idx.get(i, set()) for i in range(len(files))], {"seconds": dt, "cpu": cpu, "startup": t_warm,
                                                                "processes": processes}


def evaluate_repos(specs: list[str], per_repo: int, scancode: str | None, processes: int = 1) -> dict:
    """Per-file recall/precision on real repositories: truth is the file's SPDX tag when it has one, else the
    repository license given (``GITDIR=EXPR[@PATHS]``). A file counts as found when every truth id is
    detected; precision is over detected ids. ScanCode (when given) runs on the same files. Our time is
    ``detect`` over the files after one warm-up call, one core."""
    import fnmatch

    files, truth, repo_of = [], [], []
    for spec in specs:
        e = parse_repo_spec(spec) if isinstance(spec, str) else spec
        git_dir, under = e["git_dir"], e["paths"]
        name = Path(git_dir).parent.name if Path(git_dir).name in ("repo", ".git") else Path(git_dir).name
        if name == "repo":
            name = Path(git_dir).parent.parent.name
        if under:
            name += "@" + under
        for path, text in repo_files(git_dir, per_repo, under or None):
            own = [x for g, x in e["files"] if fnmatch.fnmatchcase(path, g)]
            files.append((path, text))
            truth.append(_tag_ids(text) or expression_ids(own[0] if own else e["expr"]))
            repo_of.append(name)
    detect(files[0][1] if files else "")
    t_ours = cpu_ours = None
    for _ in range(3):  # best of 3 (a shared machine's load falls on one run more than another)
        r0 = resource_usage()
        t = time.perf_counter()
        ours = [finding_ids(detect(text)) - {"LicenseRef-invalid"} for _, text in files]
        dt, dc = time.perf_counter() - t, resource_usage() - r0
        t_ours, cpu_ours = (dt, dc) if t_ours is None else (min(t_ours, dt), min(cpu_ours, dc))
    tools = {"provenance": (ours, {"seconds": t_ours, "cpu": cpu_ours, "startup": 0.0, "processes": 1})}
    if scancode:
        tools["scancode"] = run_scancode(scancode, files, processes)
    out = {"files": len(files), "mb": sum(len(t.encode()) for _, t in files) / 1e6, "tools": {},
           "paths": [f"{r}:{p}" for r, (p, _) in zip(repo_of, files)], "truth": truth}
    for name, (found, timing) in tools.items():
        per = collections.defaultdict(collections.Counter)
        tp_ids = fp_ids = 0
        for rp, tr, got in zip(repo_of, truth, found):
            if tr & PD_CATEGORY:  # as in section 1: the generic public-domain id goes with the Unlicense / CC0
                tr = tr | {PUBLIC_DOMAIN} if PUBLIC_DOMAIN in got else tr
            c = per[rp]
            c["n"] += 1
            c["found"] += tr <= got
            c["fp_ids"] += len(got - tr)
            tp_ids += len(got & tr)
            fp_ids += len(got - tr)
        n_found = sum(c["found"] for c in per.values())
        out["tools"][name] = {"recall": n_found / len(files), "precision": tp_ids / (tp_ids + fp_ids) if tp_ids + fp_ids else None,
                              "per_repo": {k: dict(v) for k, v in per.items()}, "found": found, **timing}
    return out


def resource_usage() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def print_repos(ev: dict, examples: bool) -> None:
    print(f"  files {ev['files']}, {ev['mb']:.2f} MB")
    tools = ev["tools"]
    for name, r in tools.items():
        print(f"  {name:10s} recall {r['recall']:.3f}  precision {r['precision'] or 0:.3f}  wall {r['seconds']:.2f} s "
              f"(cpu {r['cpu']:.2f} s, {r['processes']} process{'es' if r['processes'] > 1 else ''})  "
              f"{ev['mb'] / r['seconds']:.3f} MB/s")
    names = list(tools)
    repos = list(tools[names[0]]["per_repo"])
    print(f"  {'repository':44s} {'files':>5s} " + " ".join(f"{n + ' found':>16s} {'fp ids':>6s}" for n in names))
    for rp in repos:
        cs = [tools[n]["per_repo"][rp] for n in names]
        print(f"  {rp:44s} {cs[0]['n']:5d} " + " ".join(f"{c['found']:16d} {c['fp_ids']:6d}" for c in cs))
    if "scancode" in tools:
        a, b = tools["provenance"], tools["scancode"]
        print(f"  ScanCode warm-up (first one-file run, not timed above): {b['startup']:.1f} s; every scancode run pays "
              f"process start and index load, included above")
        print(f"  speed ratio provenance / scancode: wall {b['seconds'] / a['seconds']:.0f}x, "
              f"cpu {b['cpu'] / max(a['cpu'], 1e-9):.0f}x, wall without one startup "
              f"{max(b['seconds'] - b['startup'], 0) / a['seconds']:.0f}x")
        both = only_a = only_b = neither = 0
        for tr, ga, gb in zip(ev["truth"], a["found"], b["found"]):
            fa, fb = tr <= ga, tr <= gb
            both += fa and fb
            only_a += fa and not fb
            only_b += fb and not fa
            neither += not fa and not fb
        print(f"  files found by both {both}, only provenance {only_a}, only scancode {only_b}, neither {neither}")
        if examples:
            for p, tr, ga, gb in zip(ev["paths"], ev["truth"], a["found"], b["found"]):
                if (tr <= gb and not tr <= ga) or (ga - tr) or (gb - tr):
                    print(f"   {p}: truth {sorted(tr)} provenance {sorted(ga)} scancode {sorted(gb)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--repo", action="append", default=[], metavar="GITDIR=SPDX-EXPR[@SUBDIR]",
                    help="a git directory (e.g. a fetched mirror) and its license, for the per-file repository measure")
    ap.add_argument("--per-repo", type=int, default=60, help="source files sampled per repository")
    ap.add_argument("--repos-file", type=Path, help="repositories for the per-file measure, one a line "
                    "(REPO[@PATHS] SPDX-EXPRESSION; REPO a git dir or owner/name under $PROVENANCE_MIRROR); see bench/repos.txt")
    ap.add_argument("--scancode", help="path of a scancode executable: the anchor of the repository measure")
    ap.add_argument("-n", "--processes", type=int, default=1, help="scancode processes (-n)")
    ap.add_argument("--repos-only", action="store_true", help="only the repository measure")
    ap.add_argument("--examples", action="store_true", help="print false positive/negative examples")
    ap.add_argument("--compare-with", type=Path, metavar="LICENSES_PY",
                    help="another licenses.py: CPU time of both on the same C4 batches and repository files, this run")
    ap.add_argument("--save", type=Path, help="write the repository measure per file (path, truth, ids per tool) as JSON")
    args = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    specs: list = [parse_repo_spec(r) for r in args.repo]
    if args.repos_file:
        specs += read_repo_list(args.repos_file)
    if specs:
        print(f"== real repositories: {args.per_repo} source files each, truth = SPDX tag else repository license")
        ev = evaluate_repos(specs, args.per_repo, args.scancode, args.processes)
        print_repos(ev, args.examples)
        if args.save:
            rows = [{"path": p, "truth": sorted(t), **{n: sorted(r["found"][i]) for n, r in ev["tools"].items()}}
                    for i, (p, t) in enumerate(zip(ev["paths"], ev["truth"]))]
            args.save.write_text(json.dumps(rows, indent=0))
        if args.repos_only and not args.compare_with:
            return
    if args.compare_with:
        print(f"== speed against {args.compare_with.name} (CPU seconds, best of 3, interleaved in this process)")
        for k, v in compare_speed(args.compare_with, specs, args.per_repo, args.mb).items():
            print(f"  {k:36s} this {v['this']:.3f} s  other {v['other']:.3f} s  ratio other/this {v['other'] / v['this']:.2f}")
        if args.repos_only:
            return

    if not RULES.exists():
        print(f"missing {RULES}; nothing to measure")
        return
    print("== ScanCode LicenseDB rules (notice + tag positives, false_positive negatives)")
    t = time.perf_counter()
    ev = evaluate_rules()
    print(f"records: {ev['records']}  ({time.perf_counter() - t:.1f} s)")
    print(f"{'spdx':24s} {'tp':>5s} {'fp':>4s} {'fn':>5s} {'prec':>6s} {'recall':>6s}")
    fmt = lambda x: "   -  " if x is None else f"{x:6.3f}"  # noqa: E731
    for sid, v in ev["per_id"].items():
        print(f"{sid:24s} {v['tp']:5d} {v['fp']:4d} {v['fn']:5d} {fmt(v['precision'])} {fmt(v['recall'])}")
    o = ev["overall"]
    print(f"detections of ids outside the supported set (tags as written; not scored): {sum(ev['outside_supported'].values())}")
    print(f"{'OVERALL':24s} {o['tp']:5d} {o['fp']:4d} {o['fn']:5d} {fmt(o['precision'])} {fmt(o['recall'])}")
    if args.examples:
        print("-- false positives")
        for sid, ex in ev["fp_examples"].items():
            for e in ex:
                print(f"  {sid}: {e}")
        print("-- false negatives")
        for sid, ex in ev["fn_examples"].items():
            for e in ex[:3]:
                print(f"  {sid}: {e}")

    if FILES.exists():
        print("\n== 608 real files: primary_license vs file_spdx_identifier (else repo_declared_license)")
        fe = evaluate_files()
        tot = collections.Counter()
        for k, c in fe["by_basis_repo"].items():
            print(f"  {k:55s} {c}")
            tot.update(c)
        print(f"  total: {dict(tot)}  exact agreement {tot['exact'] / tot['n']:.3f}, "
              f"exact+same family (only/or-later differ) {(tot['exact'] + tot['family']) / tot['n']:.3f}, "
              f"no license found {tot['none'] / tot['n']:.3f}")
        for d in fe["disagreements"]:
            print("   disagree:", d)

    if C4.exists():
        print(f"\n== throughput: scan_batch on C4 sample replicated to ~{args.mb:.0f} MB, one core")
        tp = throughput(args.mb)
        print(f"  docs {tp['docs']}, {tp['mb']:.1f} MB, candidate rows {tp['candidates']}, findings {tp['findings']}")
        print(f"  prefilter alone {tp['prefilter_mb_s']:.0f} MB/s; scan_batch {tp['scan_mb_s']:.1f} MB/s ({tp['scan_s']:.2f} s)")


if __name__ == "__main__":
    main()
