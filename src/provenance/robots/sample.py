"""robots.txt snapshots for the embedded sample corpus, so consent can be tried end to end offline.

For every host of the sample's URLs, two captures (2019-01-01 and 2024-06-01) in the JSON Lines format
``provenance robots import`` reads. Deterministic: a host's story depends only on its name and the seed.
The mix follows what audits of real crawls report (Consent in Crisis): most hosts allow everything, a
growing minority block AI crawlers — many only since 2023 — some block paths, a few are missing (404) or
failing (503).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from ..domains import host_from_url
from ..safeio import atomic_output

ALLOW_ALL = "User-agent: *\nDisallow:\n"
PRIVATE = "User-agent: *\nDisallow: /private/\nDisallow: /search\nAllow: /search/about\n"
BLOCK_AI = ("User-agent: GPTBot\nUser-agent: ClaudeBot\nUser-agent: CCBot\nUser-agent: Google-Extended\n"
            "User-agent: anthropic-ai\nUser-agent: Bytespider\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n")
BLOCK_GPTBOT = "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
BLOCK_ALL = "User-agent: *\nDisallow: /\n"
CONTENT_SIGNAL = "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n"

# (share, 2019 capture, 2024 capture); a capture is (status, body)
STORIES = [
    (0.52, (200, ALLOW_ALL), (200, ALLOW_ALL)),
    (0.12, (200, ALLOW_ALL), (200, BLOCK_AI)),  # started blocking AI crawlers
    (0.06, (200, ALLOW_ALL), (200, BLOCK_GPTBOT)),
    (0.06, (200, BLOCK_AI), (200, BLOCK_AI)),
    (0.08, (200, PRIVATE), (200, PRIVATE)),
    (0.03, (200, BLOCK_ALL), (200, ALLOW_ALL)),  # opened up
    (0.04, (200, ALLOW_ALL), (200, CONTENT_SIGNAL)),
    (0.06, (404, ""), (404, "")),
    (0.03, (503, ""), (200, ALLOW_ALL)),
]
DATES = ("2019-01-01T00:00:00Z", "2024-06-01T00:00:00Z")


def _story(host: str, seed: int):
    x = int.from_bytes(hashlib.sha256(f"{seed}:{host}".encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for share, a, b in STORIES:
        acc += share
        if x < acc:
            return a, b
    return STORIES[0][1], STORIES[0][2]


def write_sample_robots(out_dir: str | Path, seed: int = 0) -> tuple[Path, int]:
    """Write ``robots.jsonl.gz`` for the hosts of the sample's JSON Lines files in ``out_dir``."""
    out_dir = Path(out_dir)
    hosts: set[str] = set()
    for f in sorted(out_dir.glob("c4-sample.*.json.gz")):
        for line in gzip.open(f):
            h = host_from_url(json.loads(line)["url"])
            if h:
                hosts.add(h)
    path = out_dir / "robots.jsonl.gz"
    with atomic_output(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        for host in sorted(hosts):
            for date, (status, body) in zip(DATES, _story(host, seed)):
                rec = {"host": host, "url": f"https://{host}/robots.txt", "captured_at": date, "status": status,
                       "robots_txt": body}
                gz.write((json.dumps(rec) + "\n").encode())
    return path, len(hosts)
