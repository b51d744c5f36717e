"""Near-duplicate clusters, takedowns, PII look-alikes and code reference matches, end to end through real
scans (Prefect flows), real DuckDB ledgers and the CLI."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from conftest import run_cli
from provenance.ledger import Ledger

WORDS = ("garden river market window silver coffee morning station harbor pencil lantern meadow violin orbit "
         "canyon ticket velvet summit puzzle quartz thunder ribbon falcon marble anchor blossom compass dragon "
         "ember glacier hazel island jasmine kettle lemon maple nectar olive pepper quiet raven saddle tulip").split()


def _text(rng: random.Random, n: int = 220) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(n))


def _edit(rng: random.Random, text: str, frac: float) -> str:
    words = text.split()
    for _ in range(int(len(words) * frac)):
        words[rng.randrange(len(words))] = rng.choice(WORDS) + "x"
    return " ".join(words)


def _write(path: Path, docs: list[tuple[str, str]]) -> Path:
    with gzip.open(path, "wt") as f:
        for i, (url, text) in enumerate(docs):
            f.write(json.dumps({"id": f"{path.stem}-{i}", "url": url, "text": text, "timestamp": "2024-01-01T00:00:00Z"}) + "\n")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Six shards: 40 originals each, plus exact copies, one-word edits (J ~ 0.95) and heavy edits (J < 0.3)
    of originals from other shards, so clusters cross shards."""
    rng = random.Random(5)
    root = tmp_path_factory.mktemp("dedup")
    originals = [_text(rng) for _ in range(240)]
    truth_same, truth_apart = [], []
    shards = [[] for _ in range(6)]
    for i, t in enumerate(originals):
        shards[i % 6].append((f"https://site{i % 17}.example/doc/{i}", t))
    for k in range(60):
        src = rng.randrange(240)
        dst = (src % 6 + 1 + rng.randrange(5)) % 6
        kind = k % 3
        text = originals[src] if kind == 0 else _edit(rng, originals[src], 0.005 if kind == 1 else 0.6)
        shards[dst].append((f"https://copies{k % 5}.example/c/{k}", text))
        (truth_same if kind < 2 else truth_apart).append((f"https://site{src % 17}.example/doc/{src}", shards[dst][-1][0]))
    files = [_write(root / f"part-{s}.jsonl.gz", docs) for s, docs in enumerate(shards)]
    return root, files, truth_same, truth_apart


def _clusters(ledger) -> dict[str, int]:
    with Ledger(ledger, read_only=True) as led:
        return dict(led.con.execute("SELECT d.url, g.cluster_id FROM document_duplicates g JOIN documents d USING (shard_id, position)").fetchall())


def test_clusters_across_shards_and_out_of_core(corpus, tmp_path, prefect_api):
    root, files, same, apart = corpus
    ledger = tmp_path / "d.duckdb"
    res = run_cli(["scan", *map(str, files), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    res = run_cli(["dedup", "--ledger", str(ledger), "--json"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    cl = _clusters(ledger)
    found = sum(1 for a, b in same if a in cl and cl.get(a) == cl.get(b))
    assert found == len(same), (found, len(same))  # exact copies and one-word edits (J ~ 0.95) all clustered
    assert not any(a in cl and cl.get(a) == cl.get(b) for a, b in apart)  # 60% edits are not duplicates
    assert summary["duplicates"] == len(same) and summary["shards"] == 6
    with Ledger(ledger, read_only=True) as led:
        sizes = led.con.execute("SELECT count(*) FROM document_duplicates g WHERE cluster_size <> "
                                "(SELECT count(*) FROM document_duplicates h WHERE h.cluster_id = g.cluster_id)").fetchone()[0]
        reps = led.con.execute("SELECT count(*) FILTER (representative), count(DISTINCT cluster_id) FROM document_duplicates").fetchone()
        by_domain = dict(led.con.execute("SELECT registered_domain, duplicates FROM duplicates_by_domain").fetchall())
    assert sizes == 0 and reps[0] == reps[1]
    assert sum(by_domain.values()) == len(same)
    # the same clustering under a small DuckDB memory limit, batch by batch: same clusters
    from provenance.dedup import cluster

    before = _clusters(ledger)
    with Ledger(ledger) as led:
        s2 = cluster(led, memory_limit="32MB", batch_rows=50)
    assert _clusters(ledger) == before and s2["verified_pairs"] == summary["verified_pairs"]


def test_takedowns_now_and_in_future_scans(corpus, tmp_path, prefect_api):
    root, files, same, _ = corpus
    ledger = tmp_path / "t.duckdb"
    res = run_cli(["scan", *map(str, files[:3]), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with gzip.open(files[0], "rt") as f:
        victim = json.loads(f.readline())
    request = tmp_path / "request.txt"
    request.write_text(_edit(random.Random(1), victim["text"], 0.005))  # the requester's own copy, slightly different
    res = run_cli(["takedown", "add", "REQ-1", "--text", str(request), "--ledger", str(ledger), "--note", "erasure"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    urls = tmp_path / "urls.txt"
    urls.write_text("# copyright notice\nhttps://site2.example/doc/2\n")
    res = run_cli(["takedown", "add", "REQ-2", "--urls", str(urls), "--ledger", str(ledger)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr

    def covered():
        with Ledger(ledger, read_only=True) as led:
            return {(u, v, tuple(r)) for u, v, r in led.con.execute(
                "SELECT d.url, v.verdict, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position) "
                "WHERE list_contains(v.reasons, 'takedown:REQ-1') OR list_contains(v.reasons, 'takedown:REQ-2')").fetchall()}

    now = covered()
    assert (victim["url"], "exclude") in {(u, v) for u, v, _ in now}
    assert ("https://site2.example/doc/2", "exclude") in {(u, v) for u, v, _ in now}
    # copies of the victim in shards not scanned yet are excluded when they are scanned
    later = {b for a, b in same if a == victim["url"]}
    res = run_cli(["scan", *map(str, files), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    after = {u for u, v, r in covered() if v == "exclude" and "takedown:REQ-1" in r}
    assert later <= after and victim["url"] in after
    res = run_cli(["takedown", "list", "--ledger", str(ledger), "--format", "csv"], cwd=tmp_path)
    assert res.returncode == 0 and "REQ-1" in res.stdout and "REQ-2" in res.stdout


def test_pii_lookalikes_and_code_matches(tmp_path, prefect_api):
    rng = random.Random(9)
    base = _text(rng)
    code = "\n".join(
        ["static int advance_buffer(struct buffer *buf, size_t want, int flags) {",
         "    size_t have = buf->len - buf->pos;",
         "    if (have < want) {",
         "        if (flags & BUF_GROW) { buf->data = realloc(buf->data, buf->len * 2 + want); buf->len = buf->len * 2 + want; }",
         "        else return -1;",
         "    }",
         "    for (size_t i = 0; i < want; i++) { buf->data[buf->pos + i] ^= (unsigned char)(i * 31 + flags); }",
         "    buf->pos += want;",
         "    return (int)(buf->pos % 65521);",
         "}"])
    src = tmp_path / "code"
    src.mkdir()
    (src / "buffer.c").write_text("/* reference */\n#include <stdlib.h>\n" + code + "\n")
    res = run_cli(["index", "build", "mylib", str(src), "--license", "GPL-3.0-or-later", "--out", str(tmp_path / "idx")],
                  cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    pasted = code.replace("buf", "b").replace("want", "n")  # renamed identifiers
    docs = [("https://a.example/1", base + " contact jane.roe@mailbox.org today"),
            ("https://b.example/2", base + " contact us today"),  # a near-duplicate without the address
            ("https://forum.example/q/3", _text(rng, 120) + "\n<pre>\n" + pasted + "\n</pre>\n" + _text(rng, 120))]
    corpus = _write(tmp_path / "c.jsonl.gz", docs)
    ledger = tmp_path / "l.duckdb"
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--quiet", "--code-index", str(tmp_path / "idx")],
                  cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    res = run_cli(["dedup", "--ledger", str(ledger)], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger, read_only=True) as led:
        v = dict((u, (verdict, r)) for u, verdict, r in led.con.execute(
            "SELECT d.url, v.verdict, v.reasons FROM document_verdicts v JOIN documents d USING (shard_id, position)").fetchall())
        m = led.query("SELECT url, ref, license, containment, \"start\", \"end\" FROM code_matches").to_pylist()
    assert v["https://b.example/2"] == ("review", ["pii-lookalike"])
    assert "pii-lookalike" not in v["https://a.example/1"][1]
    assert [r["url"] for r in m] == ["https://forum.example/q/3"]
    assert m[0]["license"] == "GPL-3.0-or-later" and m[0]["containment"] >= 0.8 and m[0]["ref"].endswith("buffer.c")
    page = docs[2][1]
    assert m[0]["start"] <= page.index("static int") and m[0]["end"] >= page.index("65521")
    assert v["https://forum.example/q/3"] == ("review", ["code:GPL-3.0-or-later"])


def test_pairs_near_the_threshold_are_settled_on_exact_jaccard(tmp_path, prefect_api):
    """Variants around J = 0.8: the signature estimate cannot tell them apart, so their texts are re-read
    and the exact Jaccard decides: a linked pair is never below the threshold."""
    from provenance.dedup import cluster
    from provenance.minhash import jaccard

    rng = random.Random(3)
    docs, pairs = [], []
    for i in range(80):
        t = _text(rng, 300)
        v = _edit(rng, t, rng.choice([0.01, 0.015, 0.02, 0.025, 0.03]))
        docs += [(f"https://o.example/{i}", t), (f"https://v.example/{i}", v)]
        pairs.append((f"https://o.example/{i}", f"https://v.example/{i}", jaccard(t, v)))
    corpus = _write(tmp_path / "near.jsonl.gz", docs)
    ledger = tmp_path / "n.duckdb"
    res = run_cli(["scan", str(corpus), "--ledger", str(ledger), "--top", "0", "--quiet"], cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger) as led:
        s = cluster(led, threshold=0.8)
    assert s["exact_checked_pairs"] > 0
    cl = _clusters(ledger)
    linked = [(a, b, j) for a, b, j in pairs if a in cl and cl.get(a) == cl.get(b)]
    assert linked and all(j >= 0.8 for _, _, j in linked)
    above = [p for p in pairs if p[2] >= 0.8]
    assert len(linked) >= 0.9 * len(above)


def test_an_edit_chain_splits_and_every_member_reaches_its_representative(tmp_path, prefect_api):
    """Issue 16: an edit chain (each variant the previous one with more words replaced) used to merge end to
    end through its links; clusters now keep a member only if it reaches the threshold with the cluster's
    representative, and the rest cluster again among themselves."""
    from provenance.dedup import cluster
    from provenance.minhash import jaccard

    rng = random.Random(16)
    chain = [_text(rng, 400)]
    for _ in range(7):  # each link replaces 4 words more (J ~ 0.9 between neighbours, falling along the chain)
        words = chain[-1].split()
        for i in rng.sample(range(len(words)), 4):
            words[i] = f"edit{len(chain)}w{i}"
        chain.append(" ".join(words))
    other = _text(rng, 400)
    docs = [(f"https://chain.example/{i}", t) for i, t in enumerate(chain)] + [("https://other.example/0", other)]
    j = {(a, b): jaccard(chain[a], chain[b]) for a in range(8) for b in range(8)}
    assert all(j[(i, i + 1)] >= 0.85 for i in range(7)) and j[(0, 7)] < 0.6  # a chain that crosses the threshold
    ledger = tmp_path / "chain.duckdb"
    res = run_cli(["scan", str(_write(tmp_path / "chain.jsonl.gz", docs)), "--ledger", str(ledger), "--top", "0", "--quiet"],
                  cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger) as led:
        s = cluster(led, threshold=0.8)
        rows = led.con.execute("SELECT d.url, g.cluster_id, g.representative, g.similarity, g.similarity_by, g.cluster_size "
                               "FROM document_duplicates g JOIN documents d USING (shard_id, position)").fetchall()
        run = led.con.execute("SELECT split_off, split_rounds, duplicates FROM dedup_runs").fetchall()
    idx = {u: int(u.rsplit("/", 1)[1]) for u, *_ in rows}
    assert "https://other.example/0" not in idx
    by_cluster: dict[int, list] = {}
    for url, cid, rep, sim, by, size in rows:
        by_cluster.setdefault(cid, []).append((idx[url], rep, sim, by, size))
    assert len(by_cluster) >= 2  # the chain no longer merges end to end
    for members in by_cluster.values():
        reps = [m for m, rep, *_ in members if rep]
        assert len(reps) == 1 and all(size == len(members) for *_, size in members)
        r = reps[0]
        for m, rep, sim, by, _ in members:
            if rep:
                assert sim == 1.0 and by is None
            else:  # recorded and true similarity to the representative both reach the threshold
                assert sim >= 0.8 and by in ("minhash", "exact") and j[(r, m)] >= 0.8, (r, m, sim, j[(r, m)])
                if by == "exact":
                    assert sim == pytest.approx(j[(r, m)])
    # the first cluster's representative is the most connected member: inside the chain, not an end (the
    # first document by URI, chain.example/0, reaches fewer of the others than the chain's middle)
    first = max(by_cluster.values(), key=len)
    r0 = next(m for m, rep, *_ in first if rep)
    assert 0 < r0 < 7
    assert len(first) > 1 + sum(1 for m in range(1, 8) if j[(0, m)] >= 0.8)
    # whoever left the first cluster is counted, and neighbours with J >= 0.8 mostly stay together
    assert s["split_off"] == run[0][0] > 0 and s["split_rounds"] == run[0][1] >= 2 and s["duplicates"] == run[0][2]
    assert s["split_off"] == 8 - len([m for m, *_ in by_cluster[min(by_cluster)]])
    together = sum(1 for i in range(7) if any({i, i + 1} <= {m for m, *_ in ms} for ms in by_cluster.values()))
    assert together >= 5


def test_copies_of_one_page_stay_with_the_page_whatever_the_url_order(tmp_path, prefect_api):
    """Issue 16: a page and its edited copies (each an edit of the page, J ~ 0.88 to it, < 0.8 to each other): the page is the representative (the most connected member) even when a copy comes first by URI,
    so every copy that reaches the threshold with the page goes with it; a copy too far from the page and
    from the others stands alone."""
    from provenance.dedup import cluster
    from provenance.minhash import jaccard

    rng = random.Random(61)
    page = _text(rng, 400)
    copies = []
    for k in range(5):  # each copy replaces 5 other words of the page, spread out
        words = page.split()
        for i in range(k * 5, k * 5 + 5):
            words[i * 15 % 400] = f"copy{k}w{i}"
        copies.append(" ".join(words))
    far = _edit(random.Random(3), page, 0.3)
    j = {(a, b): jaccard(a, b) for a in [page, *copies, far] for b in [page, *copies, far]}
    assert all(j[(page, c)] >= 0.85 for c in copies) and j[(page, far)] < 0.6
    assert all(j[(copies[a], copies[b])] < 0.8 for a in range(5) for b in range(a))  # a copy as representative loses the others
    # the copies come first in URI order, the page last
    docs = [(f"https://a.example/{i}", c) for i, c in enumerate(copies)] + [("https://b.example/far", far),
                                                                          ("https://z.example/page", page)]
    ledger = tmp_path / "copies.duckdb"
    res = run_cli(["scan", str(_write(tmp_path / "copies.jsonl.gz", docs)), "--ledger", str(ledger), "--top", "0", "--quiet"],
                  cwd=tmp_path, api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    with Ledger(ledger) as led:
        s = cluster(led, threshold=0.8)
        rows = led.con.execute("SELECT d.url, g.cluster_id, g.representative, g.cluster_size "
                               "FROM document_duplicates g JOIN documents d USING (shard_id, position)").fetchall()
    assert s["clusters"] == 1 and s["duplicates"] == 5
    assert sorted((u, rep, size) for u, _, rep, size in rows) == sorted(
        [(f"https://a.example/{i}", False, 6) for i in range(5)] + [("https://z.example/page", True, 6)])
