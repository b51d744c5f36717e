"""robots.txt snapshots for the embedded sample corpus, so consent can be tried end to end offline.

For every host of the sample's URLs, two captures (2019-01-01 and 2024-06-01) in the JSON Lines format
``provenance robots import`` reads, and for the hosts that adopted the signals of 2025-2026 a third one
(2026-06-01). Deterministic: a host's story depends only on its name and the seed. The mix follows what
audits of real crawls report (Consent in Crisis): most hosts allow everything, a growing minority block AI
crawlers — many only since 2023 — some block paths, a few are missing (404) or failing (503). Since 2025 a
few publish an RSL license (robots.txt ``License:``, an XML license prohibiting AI training; the license
files are written beside, in the layout ``--rsl-dir`` reads: ``rsl/<host>/license.xml``) or AIPREF
``Content-Usage`` rules scoped by path (``train-ai=n`` for the site, ``train-ai=y`` under ``/blog/``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
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
# {host} is filled in per host
RSL = "User-agent: *\nAllow: /\n\nLicense: https://{host}/license.xml\n"
AIPREF = "User-agent: *\nAllow: /\nContent-Usage: / train-ai=n, search=y\nContent-Usage: /blog/ train-ai=y\n"
RSL_LICENSE = """<?xml version="1.0" encoding="UTF-8"?>
<rsl xmlns="https://rslstandard.org/rsl">
  <content url="/">
    <license>
      <permits type="usage">search, ai-input</permits>
      <prohibits type="usage">ai-train</prohibits>
      <payment type="attribution"/>
    </license>
  </content>
</rsl>
"""

# (share, 2019 capture, 2024 capture[, 2026 capture]); a capture is (status, body)
STORIES = [
    (0.46, (200, ALLOW_ALL), (200, ALLOW_ALL)),
    (0.12, (200, ALLOW_ALL), (200, BLOCK_AI)),  # started blocking AI crawlers
    (0.06, (200, ALLOW_ALL), (200, BLOCK_GPTBOT)),
    (0.06, (200, BLOCK_AI), (200, BLOCK_AI)),
    (0.08, (200, PRIVATE), (200, PRIVATE)),
    (0.03, (200, BLOCK_ALL), (200, ALLOW_ALL)),  # opened up
    (0.04, (200, ALLOW_ALL), (200, CONTENT_SIGNAL)),
    (0.06, (404, ""), (404, "")),
    (0.03, (503, ""), (200, ALLOW_ALL)),
    (0.03, (200, ALLOW_ALL), (200, ALLOW_ALL), (200, RSL)),  # an RSL license since 2025
    (0.03, (200, ALLOW_ALL), (200, ALLOW_ALL), (200, AIPREF)),  # AIPREF Content-Usage, scoped by path
]
_SAFE_HOST = re.compile(r"[a-z0-9][a-z0-9.-]{0,252}")
DATES = ("2019-01-01T00:00:00Z", "2024-06-01T00:00:00Z", "2026-06-01T00:00:00Z")


def _story(host: str, seed: int):
    x = int.from_bytes(hashlib.sha256(f"{seed}:{host}".encode()).digest()[:8], "big") / 2**64
    acc = 0.0
    for share, *captures in STORIES:
        acc += share
        if x < acc:
            return captures
    return STORIES[0][1:]


def write_sample_robots(out_dir: str | Path, seed: int = 0) -> tuple[Path, int]:
    """Write ``robots.jsonl.gz`` for the hosts of the sample's JSON Lines files in ``out_dir``, and the RSL
    license files its robots.txt name under ``out_dir/rsl`` (``--rsl-dir``'s layout); returns the path and
    the number of hosts."""
    out_dir = Path(out_dir)
    hosts: set[str] = set()
    for f in sorted(out_dir.glob("c4-sample.*.json.gz")):
        for line in gzip.open(f):
            h = host_from_url(json.loads(line)["url"])
            if h:
                hosts.add(h)
    path = out_dir / "robots.jsonl.gz"
    licensed = []
    with atomic_output(path) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        for host in sorted(hosts):
            for date, (status, body) in zip(DATES, _story(host, seed)):
                if body is RSL:
                    if _SAFE_HOST.fullmatch(host):
                        body = RSL.format(host=host)
                        licensed.append(host)
                    else:  # not a plain name to use as a folder: no license for it
                        body = ALLOW_ALL
                rec = {"host": host, "url": f"https://{host}/robots.txt", "captured_at": date, "status": status,
                       "robots_txt": body}
                gz.write((json.dumps(rec) + "\n").encode())
    for host in licensed:  # the sample's hosts are names or IPv4 addresses: safe folder names
        folder = out_dir / "rsl" / host
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(folder / "license.xml") as f:
            f.write(RSL_LICENSE.encode())
    return path, len(hosts)
