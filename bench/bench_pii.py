"""Quality and speed of PII / secret detection (provenance.pii).

    python bench/bench_pii.py            # all measures (~1 minute)
    python bench/bench_pii.py --mb 10    # smaller throughput corpus
    python bench/bench_pii.py --examples # print false positives / negatives

Quality (precision / recall per type; a finding matches a gold span of the same type it overlaps,
each gold span at most once; "exact" counts matches with identical boundaries):

1. presidio-research generated_large (synthetic sentences with labelled spans; ../shared/data/pii).
   Their types map to ours (EMAIL_ADDRESS -> EMAIL, PHONE_NUMBER -> PHONE, ...); findings overlapping
   spans of their other types (dates, addresses, driver licences, ...) are false positives. Private
   IPs in their gold are out of scope for the default ``ip_public_only: true`` and are scored on a
   second line with it off.
2. Dolma's e-mail fixtures: real Common Crawl documents; gold = their tagger's spans with score >= 0.5
   (silver labels).
3. Our own labels on the real C4 sample (tests/data/pii_c4_labels.json): every e-mail, phone and IP
   address in the 1000 documents; any finding of another type there is a false positive.
4. WNUT-17 tweets (real, no labels of our types): every finding is listed for inspection.
5. The injected set: real-format values and look-alikes inserted into real C4 pages and real config files.
6. The real labelled set (tests/data/pii_real_labels.md): real web pages and real repository files labelled by
   hand independently of the detector, plus secret values written from the vendors' formats placed in them;
   this checkout, the previous pii.py and detect-secrets in the same run (``--only-real``). The repository
   part needs the fetched repositories (PROVENANCE_MIRROR, default /work/.mirror) and is skipped, with a
   count, when they are absent.

Speed: ``scan_batch`` (hashes included) on the C4 sample replicated to ~50 MB, one core, MB/s of UTF-8
text; against the RE2 prefilter alone, and against ``detect`` on every row with no prefilter (the
per-document Python design the prefilter replaces), measured in this run. datatrove's PIIFormatter
is timed on the same documents when datatrove is installed.

Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import random
import string
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))
SHARED = Path(os.environ.get("PROVENANCE_SHARED_DATA", REPO.parent / "shared" / "data"))
PRESIDIO = SHARED / "pii" / "presidio_generated_large.json.gz"
DOLMA = SHARED / "pii" / "dolma_pii_fixtures"
WNUT = SHARED / "pii" / "wnut17_train.conll.gz"
C4 = SHARED / "web_text" / "c4" / "c4-sample.00000-of-00001.json.gz"
C4_LABELS = REPO / "tests" / "data" / "pii_c4_labels.json"

from common import best_of  # noqa: E402
from provenance import pii  # noqa: E402

PRESIDIO_MAP = {
    "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IP_ADDRESS": "IP_ADDRESS", "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN", "US_SSN": "US_SSN",
}


# -- scoring ---------------------------------------------------------------------------------------------
class Score:
    def __init__(self):
        self.tp = collections.Counter()
        self.fp = collections.Counter()
        self.fn = collections.Counter()
        self.exact = collections.Counter()
        self.fp_ex = collections.defaultdict(list)
        self.fn_ex = collections.defaultdict(list)

    def add(self, text: str, gold: list[tuple[str, int, int]], pred: list[tuple[str, int, int]]) -> None:
        used = [False] * len(gold)
        for typ, s, e in pred:
            hit = None
            for j, (gt, gs, ge) in enumerate(gold):
                if not used[j] and gt == typ and s < ge and gs < e:
                    hit = j
                    break
            if hit is None:
                self.fp[typ] += 1
                self.fp_ex[typ].append(_ctx(text, s, e))
            else:
                used[hit] = True
                self.tp[typ] += 1
                gt, gs, ge = gold[hit]
                if text[gs:ge].strip(" .,;:()") == text[s:e].strip(" .,;:()"):
                    self.exact[typ] += 1
        for j, (gt, gs, ge) in enumerate(gold):
            if not used[j]:
                self.fn[gt] += 1
                self.fn_ex[gt].append(_ctx(text, gs, ge))

    def rows(self, types=None):
        types = types or sorted(set(self.tp) | set(self.fp) | set(self.fn), key=pii.TYPES.index)
        out = []
        for t in types:
            tp, fp, fn = self.tp[t], self.fp[t], self.fn[t]
            out.append((t, tp, fp, fn, tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None,
                        self.exact[t]))
        return out


def _ctx(text: str, s: int, e: int) -> str:
    return repr(text[max(0, s - 30):s] + "[[" + text[s:e] + "]]" + text[e:e + 20])


def _fmt(x):
    return "  -  " if x is None else f"{x:.3f}"


def print_score(title: str, sc: Score, examples: bool, types=None) -> list:
    print(f"\n== {title}")
    print(f"  {'type':<16}{'gold':>6}{'found':>7}{'tp':>6}{'fp':>5}{'fn':>5}  {'precision':>9}  {'recall':>6}  exact")
    rows = sc.rows(types)
    for t, tp, fp, fn, p, r, ex in rows:
        print(f"  {t:<16}{tp + fn:>6}{tp + fp:>7}{tp:>6}{fp:>5}{fn:>5}  {_fmt(p):>9}  {_fmt(r):>6}  {ex}/{tp}")
        if examples:
            for x in sc.fp_ex[t][:8]:
                print(f"      FP {x}")
            for x in sc.fn_ex[t][:8]:
                print(f"      FN {x}")
    return rows


def preds(text: str, cfg) -> list[tuple[str, int, int]]:
    return [(f.type, f.start, f.end) for f in pii.detect(text, cfg)]


# -- data sets -------------------------------------------------------------------------------------------
def eval_presidio(cfg, public_only: bool) -> tuple[Score, int]:
    data = json.load(gzip.open(PRESIDIO))
    sc = Score()
    excluded = 0
    for rec in data:
        text = rec["full_text"]
        gold, other = [], []
        for sp in rec["spans"]:
            t = PRESIDIO_MAP.get(sp["entity_type"])
            if t is None:
                continue
            s, e = sp["start_position"], sp["end_position"]
            if t == "IP_ADDRESS" and public_only:
                import ipaddress

                if not ipaddress.ip_address(text[s:e]).is_global:
                    excluded += 1
                    continue
            gold.append((t, s, e))
        sc.add(text, gold, preds(text, cfg))
    return sc, excluded


def eval_dolma(cfg) -> Score:
    docs = [json.loads(x) for x in gzip.open(DOLMA / "documents_000.json.gz", "rt")]
    attrs = {r["id"]: r["attributes"] for r in (json.loads(x) for x in gzip.open(DOLMA / "attributes_pii_000.json.gz", "rt"))}
    sc = Score()
    for d in docs:
        a = attrs.get(d["id"], {}).get("pii", {})
        spans = a.get("email", []) if isinstance(a, dict) else []
        gold = [("EMAIL", s, e) for s, e, score in spans if score >= 0.5]
        sc.add(d["text"], gold, [p for p in preds(d["text"], cfg)])
    return sc


def load_c4() -> list[dict]:
    return [json.loads(x) for x in gzip.open(C4, "rt")]


def eval_c4(cfg, docs) -> Score:
    import hashlib

    labels = json.loads(C4_LABELS.read_text())
    by_row = collections.defaultdict(list)
    for sp in labels["spans"]:
        text = docs[sp["row"]]["text"]
        v = text[sp["start"]:sp["end"]]
        assert hashlib.sha1(v.encode()).hexdigest()[:8] == sp["sha1_8"], f"label out of line: row {sp['row']}"
        by_row[sp["row"]].append((sp["type"], sp["start"], sp["end"]))
    sc = Score()
    for i, d in enumerate(docs):
        sc.add(d["text"], by_row.get(i, []), preds(d["text"], cfg))
    return sc


def wnut_sentences() -> list[str]:
    sents, cur = [], []
    for line in gzip.open(WNUT, "rt", encoding="utf-8"):
        tok = line.rstrip("\n").split("\t")[0]
        if not tok.strip():
            if cur:
                sents.append(" ".join(cur))
            cur = []
        else:
            cur.append(tok)
    if cur:
        sents.append(" ".join(cur))
    return sents


# -- speed -----------------------------------------------------------------------------------------------
def throughput(texts: list[str], target_mb: float, cfg) -> dict:
    import pyarrow.compute as pc

    base = sum(len(t.encode()) for t in texts)
    reps = max(1, int(round(target_mb * 1e6 / base)))
    arr = pa.array(texts * reps, pa.string())
    batches = [pa.RecordBatch.from_arrays([arr.slice(i, 8192)], names=["text"]) for i in range(0, len(arr), 8192)]
    nbytes = base * reps
    pat = pii.prefilter_pattern(cfg)
    salt = b"bench-salt"

    def prefilter():
        for b in batches:
            pc.match_substring_regex(b.column(0), pat)

    def scan():
        for b in batches:
            pii.scan_batch(b, cfg, salt)

    pii.scan_batch(batches[0], cfg, salt)  # warm caches (TLD set, regexes)
    t_pre = best_of(prefilter)
    t_scan = best_of(scan)
    one = pa.RecordBatch.from_arrays([pa.array(texts, pa.string())], names=["text"])
    t_one = best_of(lambda: pii.scan_batch(one, cfg, salt))

    def every_row():
        for t in texts:
            pii.detect(t, cfg)

    t_every = best_of(every_row)
    cand = len(pii.candidate_rows(one.column(0), cfg))
    out = {
        "mb": nbytes / 1e6, "docs": len(arr), "prefilter_mb_s": nbytes / 1e6 / t_pre, "scan_mb_s": nbytes / 1e6 / t_scan,
        "scan_s": t_scan, "docs_s": len(arr) / t_scan, "sample_scan_mb_s": base / 1e6 / t_one,
        "every_row_mb_s": base / 1e6 / t_every, "candidate_share": cand / len(texts),
    }
    try:
        from datatrove.pipeline.formatters import PIIFormatter  # type: ignore

        fmt = PIIFormatter()

        def dt():
            for t in texts:
                fmt.format(t)

        out["datatrove_mb_s"] = base / 1e6 / best_of(dt)
    except ImportError:
        out["datatrove_mb_s"] = None
    return out


def speed_vs_previous(texts: list[str], target_mb: float, cfg, prev, pcfg, repeat: int = 5) -> tuple[float, float]:
    """scan_batch MB/s of this checkout and of the previous pii.py on the same batches, timed in turns in
    one process (best of ``repeat`` each), so the ratio is free of the machine's load of the moment."""
    base = sum(len(t.encode()) for t in texts)
    reps = max(1, int(round(target_mb * 1e6 / base)))
    arr = pa.array(texts * reps, pa.string())
    batches = [pa.RecordBatch.from_arrays([arr.slice(i, 8192)], names=["text"]) for i in range(0, len(arr), 8192)]
    nbytes = base * reps

    def run(mod, c):
        for bt in batches:
            mod.scan_batch(bt, c, b"bench-salt")

    run(pii, cfg)
    run(prev, pcfg)
    now, before = [], []
    for _ in range(repeat):
        now.append(best_of(run, pii, cfg, repeat=1))
        before.append(best_of(run, prev, pcfg, repeat=1))
    return nbytes / 1e6 / min(now), nbytes / 1e6 / min(before)


# -- injected set: real values formats inserted into real pages and real config files --------------------
#
# Built at bench time from a seed (nothing stored): host texts are the real C4 pages and real config files
# read from fetched repositories (``--config-repo GITDIR``, a bare git directory such as
# /work/.mirror/docker+awesome-compose/repo; files named .env*, *compose*.y*ml, serverless.yml, *.php,
# *.xml, *.properties, *.ini). Each host gets one inserted snippet at a line boundary: a value in a
# real-world format (labelled: type and span) or a look-alike that is no PII (labelled: nothing).
# Scoring looks at findings overlapping the inserted snippet only (what else a config file carries is not
# labelled); the untouched C4 pages are scored on their own labels (section 3).

_B64A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_AWS_ID_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _rs(r, alphabet, n):
    return "".join(r.choice(alphabet) for _ in range(n))


def _pw(r):
    """A password as people pick them: words with digits and symbols, digits only, with $ % & #."""
    k = r.randrange(6)
    words = ["Summer", "dragon", "Winter", "monkey", "Falcon", "orange", "Tiger", "castle", "Blue", "river"]
    if k == 0:
        return r.choice(words) + str(r.randrange(10, 9999)) + r.choice("!#$%&*@")
    if k == 1:
        return str(r.randrange(10 ** 5, 10 ** 9))
    if k == 2:
        return _rs(r, string.ascii_letters + string.digits, r.randrange(10, 20))
    if k == 3:
        return r.choice(words).lower() + r.choice("$%&") + _rs(r, string.ascii_lowercase + string.digits, 5)
    if k == 4:
        return _rs(r, string.ascii_letters + string.digits + "!#%&*+-=?^_~", r.randrange(12, 24))
    return r.choice(words) + "-" + r.choice(words).lower() + "-" + str(r.randrange(10, 99))


def _ssn(r):
    while True:
        a, g, s = r.randrange(1, 900), r.randrange(1, 100), r.randrange(1, 10000)
        if a != 666:
            return f"{a:03d}-{g:02d}-{s:04d}"


def _luhn_bad_card(r):
    while True:
        d = r.choice("3456") + "".join(str(r.randrange(10)) for _ in range(15))
        if not pii.luhn_ok(d):
            return "-".join(d[i:i + 4] for i in range(0, 16, 4)) if r.random() < 0.5 else " ".join(
                d[i:i + 4] for i in range(0, 16, 4))


def _snippets(r, host_kind: str):
    """(text, [(type, start, end)]) pairs: one positive (or look-alike) per call, in a format of the kind."""
    u = r.choice(["jsmith", "admin", "deploy", "maria", "ops", "backup"])
    host = r.choice(["db.internal.acme-corp.net", "10.1.4.22", "mysql.prod.shopwise.io", "pg-01.eu.datalake.org"])
    out = []

    def lab(prefix, value, typ, suffix=""):
        out.append((prefix + value + suffix, [(typ, len(prefix), len(prefix) + len(value))]))

    sk = _rs(r, _B64A, 40)
    while not (any(c.isupper() for c in sk) and any(c.islower() for c in sk) and any(c.isdigit() for c in sk)):
        sk = _rs(r, _B64A, 40)
    akid = r.choice(["AKIA", "ASIA"]) + _rs(r, _AWS_ID_A, 16)
    pw = _pw(r)
    # AWS secret keys in the formats they are written in
    aws = [
        ("AWS_SECRET_ACCESS_KEY=", "\n"), ("export AWS_SECRET_ACCESS_KEY=", "\n"), ('"SecretAccessKey": "', '",'),
        ("    secretAccessKey: ", "\n"), ("Secret access key: ", "\n"), ("aws_secret_access_key = ", "\n"),
        ("AWS_SECRET_ACCESS_KEY: ", "\n"), ("      - AWS_SECRET_ACCESS_KEY=", "\n"),
    ]
    p, s_ = r.choice(aws)
    lab(p, sk, "AWS_SECRET_KEY", s_)
    lab(r.choice(["AWS_ACCESS_KEY_ID=", '"AccessKeyId": "', "Access key ID: ", "    accessKeyId: "]), akid, "AWS_ACCESS_KEY", "\n")
    # passwords
    pws = [
        ("DB_PASSWORD=", "\n"), ("export MYSQL_PASSWORD=", "\n"), ("      POSTGRES_PASSWORD: ", "\n"),
        ("define('DB_PASSWORD', '", "');\n"), ("<password>", "</password>\n"), (f"Username: {u}\nPassword: ", "\n"),
        (f"Your account has been created. Username: {u} Password: ", " (please change it after logging in).\n"),
        (f"mysql -u {u} -p", " shop_db < dump.sql\n"), (f"mysqldump --user={u} --password=", " shop > shop.sql\n"),
        (f"curl -u {u}:", " https://api.example-shop.io/v1/orders\n"), ('  "password": "', '",\n'),
        (f"DATABASE_URL=postgres://{u}:", f"@{host}:5432/app\n"), (f"smtp_url = smtp://{u}:", "@mail.acme-corp.net:587\n"),
        ("spring.datasource.password=", "\n"), ("$db_pass = '", "';\n"),
    ]
    p, s_ = r.choice(pws)
    if "://" in p or p.startswith("curl"):
        pw = pw.replace("@", "").replace("/", "").replace(":", "") or "Summer2024x"
    lab(p, pw, "PASSWORD", s_)
    ssn_v = _ssn(r)
    lab(r.choice(["SSN: ", "Social Security Number: ", "social security no. ", "Employee SSN ", "SSN#: "]), ssn_v, "US_SSN", "\n")
    # phones in German slash style and national formats with labels
    ph = r.choice([
        f"0{r.randrange(30, 99)}/{r.randrange(10 ** 6, 10 ** 7)}",
        f"0 {r.randrange(30, 99)} / {r.randrange(10, 99)} {r.randrange(10, 99)} {r.randrange(10, 99)}",
        f"0{r.randrange(150, 179)} {r.randrange(10 ** 6, 10 ** 7)}",
        f"06 {r.randrange(1000, 9999)} {r.randrange(1000, 9999)}",  # IT/FR style
        f"0{r.randrange(2, 9)}-{r.randrange(1000, 9999)}-{r.randrange(1000, 9999)}",  # JP
        f"{r.randrange(21, 89)} {r.randrange(100, 999)} {r.randrange(10, 99)} {r.randrange(10, 99)}",  # PL/ES
        f"0{r.randrange(2, 9)}-{r.randrange(100, 999)} {r.randrange(100, 999)} {r.randrange(10, 99)}",  # SE
    ])
    lab(r.choice(["Tel. ", "Tel: ", "M: ", "Telefax: ", "Fax ", "Mobil: ", "Tel.: ", "T: "]), ph, "PHONE", "\n")
    # e-mail with an IDN domain (Unicode or punycode)
    dom = r.choice(["bücher.de", "müller-bau.at", "xn--bcher-kva.de", "café-lumière.fr", "xn--mller-kva.ch"])
    lab(r.choice(["Kontakt: ", "E-Mail: ", "Write to "]), f"{u}@{dom}", "EMAIL", "\n")
    # look-alikes (no label): catalogue numbers, versions, card-like references, placeholders
    neg = [
        f"SKU {_ssn(r)}\n", f"Part No. {_ssn(r)} in stock\n", f"Item {_ssn(r)}, qty 2\n", f"Order #{_ssn(r)}\n",
        f"Model {_ssn(r)} replaces the old one.\n", f"Cat. No. {_ssn(r)}\n",
        f"Upgrading to version {r.randrange(40, 200)}.{r.randrange(0, 20)}.{r.randrange(100, 255)}.{r.randrange(10, 255)} fixed it.\n",
        f"Firmware v {r.randrange(40, 200)}.{r.randrange(0, 20)}.{r.randrange(100, 255)}.{r.randrange(10, 255)}\n",
        f"Version: {r.randrange(40, 200)}.{r.randrange(0, 20)}.{r.randrange(100, 255)}.{r.randrange(10, 255)}\n",
        f"The reference printed on the receipt was {_luhn_bad_card(r)}.\n",
        "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\n", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
        "AWS_SECRET_ACCESS_KEY=your-secret-key-here\n", "DB_PASSWORD=your-password-here\n", "password: ********\n",
        "DB_PASSWORD=${DB_PASSWORD}\n", "mysql -u root -p shop_db\n", "secretAccessKey: ${env:AWS_SECRET_ACCESS_KEY}\n",
    ]
    out.append((r.choice(neg), []))
    return out


def _config_files(gitdirs: list[str], limit: int = 400) -> list[str]:
    import re as _re
    import subprocess
    pat = _re.compile(r"(?:^|/)(?:\.env[\w.-]*|[\w.-]*compose[\w.-]*\.ya?ml|serverless\.ya?ml|[\w.-]+\.(?:php|xml|properties|ini|conf))$")
    texts = []
    for g in gitdirs:
        names = subprocess.run(["git", "--git-dir", g, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True,
                               text=True, check=True).stdout.splitlines()
        for n in sorted(x for x in names if pat.search(x)):
            if len(texts) >= limit:
                break
            b = subprocess.run(["git", "--git-dir", g, "show", f"HEAD:{n}"], capture_output=True).stdout
            if b and len(b) < 200_000 and b"\0" not in b:
                texts.append(b.decode("utf-8", "replace"))
    return texts


def build_injected(docs: list[dict], configs: list[str], seed: int, per_host: int = 1):
    """[(text, gold spans, (start, end) of the inserted snippet)] over the C4 pages and the config files."""
    r = random.Random(seed)
    cases = []
    hosts = [("c4", d["text"]) for d in docs] + [("config", t) for t in configs]
    for round_ in range(per_host):
        for kind, text in hosts:
            for snip, gold in _snippets(r, kind):
                cuts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"] + [len(text)]
                at = r.choice(cuts)
                pre = text[:at] if (at == 0 or text[at - 1] == "\n") else text[:at] + "\n"
                new = pre + snip + text[at:]
                cases.append((new, [(t, len(pre) + s, len(pre) + e) for t, s, e in gold], (len(pre), len(pre) + len(snip))))
    return cases


def score_injected(cases, detect_fn, types=None) -> Score:
    sc = Score()
    for text, gold, (a, b) in cases:
        pred = [(t, s, e) for t, s, e in detect_fn(text) if s < b and a < e and (types is None or t in types)]
        sc.add(text, [g for g in gold if types is None or g[0] in types], pred)
    return sc


def load_previous_pii(rev: str | None):
    """The pii.py of an earlier commit, imported as a module of its own (the anchor "before")."""
    import importlib.util
    import subprocess
    import tempfile
    if rev is None:
        dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--", "src/provenance/pii.py"]).returncode
        if dirty:
            rev = "HEAD"
        else:
            last = subprocess.run(["git", "-C", str(REPO), "rev-list", "-n", "1", "HEAD", "--", "src/provenance/pii.py"],
                                  capture_output=True, text=True, check=True).stdout.strip()
            rev = last + "~1"
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:src/provenance/pii.py"], capture_output=True, text=True)
    if src.returncode:
        return None, rev
    tmp = Path(tempfile.mkdtemp()) / "pii_previous.py"
    tmp.write_text(src.stdout)
    spec = importlib.util.spec_from_file_location("provenance._pii_previous", tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # pydantic resolves the module's annotations through it
    spec.loader.exec_module(mod)
    return mod, rev


# detect-secrets plugin names of vendor tokens -> our types (the real set scores them; the injected set keeps
# the mapping above, where anything else is a PASSWORD)
DS_VENDOR = {"GitHub Token": "GITHUB_TOKEN", "GitLab Token": "GITLAB_TOKEN", "Slack Token": "SLACK_TOKEN",
             "Stripe Access Key": "STRIPE_KEY", "Public IP (ipv4)": "IP_ADDRESS"}


def detect_secrets_fn(vendor_types: bool = False):
    """detect-secrets (Yelp) as an anchor for the secret types: its findings mapped to our types by the
    value's shape (AKIA/ASIA id, 40-character secret key, anything else from a keyword / URL: PASSWORD)."""
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    import re as _re
    import tempfile
    tmpdir = Path(tempfile.mkdtemp())

    def run(text: str):
        f = tmpdir / "doc.txt"
        f.write_text(text, encoding="utf-8")
        sc = SecretsCollection()
        with default_settings():
            sc.scan_file(str(f))
        lines = text.split("\n")
        starts = [0]
        for ln in lines:
            starts.append(starts[-1] + len(ln) + 1)
        out = []
        for _, secrets in sc.data.items():
            for s in secrets:
                v = s.secret_value or ""
                if not v or s.line_number - 1 >= len(lines):
                    continue
                i = lines[s.line_number - 1].find(v)
                if i < 0:
                    continue
                a = starts[s.line_number - 1] + i
                if _re.fullmatch(r"(?:AKIA|ASIA)[A-Z0-9]{16}", v):
                    t = "AWS_ACCESS_KEY"
                elif _re.fullmatch(r"[A-Za-z0-9/+]{40}", v):
                    t = "AWS_SECRET_KEY"
                elif s.type == "Private Key":
                    t = "PRIVATE_KEY"
                elif s.type == "JSON Web Token":
                    t = "JWT"
                elif vendor_types and s.type in DS_VENDOR:
                    t = DS_VENDOR[s.type]
                else:
                    t = "PASSWORD"
                out.append((t, a, a + len(v)))
        return sorted(set(out))  # one value reported by two plugins counts once

    return run


def overall(sc: Score, types) -> tuple[float, float, float]:
    tp = sum(sc.tp[t] for t in types)
    fp = sum(sc.fp[t] for t in types)
    fn = sum(sc.fn[t] for t in types)
    p = tp / (tp + fp) if tp + fp else 1.0
    rc = tp / (tp + fn) if tp + fn else 1.0
    return p, rc, (2 * p * rc / (p + rc) if p + rc else 0.0)


INJ_TYPES = ["AWS_SECRET_KEY", "AWS_ACCESS_KEY", "PASSWORD", "US_SSN", "PHONE", "EMAIL", "IP_ADDRESS", "CREDIT_CARD"]
SECRET_TYPES = ["AWS_SECRET_KEY", "AWS_ACCESS_KEY", "PASSWORD"]


def eval_injected_all(cfg, docs, args) -> None:
    configs = _config_files(args.config_repo) if args.config_repo else []
    cases = build_injected(docs, configs, args.seed)
    n_lab = sum(len(g) for _, g, _ in cases)
    print(f"\n== injected set (seed {args.seed}): {len(cases)} snippets in {len(docs)} real C4 pages and "
          f"{len(configs)} real config files ({', '.join(Path(g).parent.name for g in args.config_repo) or 'none'}); "
          f"{n_lab} labelled values, {len(cases) - n_lab} look-alikes; findings scored inside the snippet only")
    runs = [("provenance.pii (this checkout)", lambda t: preds(t, cfg), INJ_TYPES)]
    prev, rev = (None, None) if args.no_anchors else load_previous_pii(args.baseline)
    if prev is not None:
        pcfg = prev.load_config()
        runs.append((f"previous pii.py ({rev})", lambda t: [(f.type, f.start, f.end) for f in prev.detect(t, pcfg)], INJ_TYPES))
    ds = None if args.no_anchors else detect_secrets_fn()
    if ds is not None:
        runs.append(("detect-secrets 1.5 (anchor; secret types only)", ds, SECRET_TYPES))
    elif not args.no_anchors:
        print("  detect-secrets: not measured (pip install detect-secrets)")
    for title, fn, types in runs:
        sc = score_injected(cases, fn, types)
        print_score(title, sc, args.examples, types=types + [t for t in pii.TYPES if sc.fp[t] and t not in types])
        p, r, f1 = overall(sc, types)
        ps, rs, f1s = overall(sc, SECRET_TYPES)
        print(f"  overall: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}; secret types F1 {f1s:.3f}")


# -- real labelled set: real pages and real repository files labelled by hand (tests/data/pii_real_labels.*) --
# Labelled independently of the detector (guidelines: tests/data/pii_real_labels.md). Three parts:
#   web:     C4, CCNet and llms.txt pages from ../shared/data, every instance of every type labelled;
#   repo:    files of public repositories at a commit, read from fetched bare git directories
#            (/work/.mirror/<owner>+<name>/repo, or PROVENANCE_MIRROR); not in CI, skipped when absent;
#   written: secret values written from the vendors' formats (bench/data/make_pii_written.py), inserted
#            as lines into web pages and repository files of the set; findings scored on the inserted lines.
# IGNORE spans (private IPs, placeholders that read as values, reserved example domains) count neither way.
REAL_LABELS = REPO / "tests" / "data" / "pii_real_labels.jsonl"
REAL_WRITTEN = REPO / "tests" / "data" / "pii_real_written.json"
MIRROR = Path(os.environ.get("PROVENANCE_MIRROR", "/work/.mirror"))
REAL_SECRET_TYPES = ["AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GITHUB_TOKEN", "GITLAB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY",
                     "GOOGLE_API_KEY", "PRIVATE_KEY", "JWT", "PASSWORD"]
_REAL_CACHE: dict = {}


def _real_collection(key):
    if key in _REAL_CACHE:
        return _REAL_CACHE[key]
    out = None
    if key == ("c4",) and C4.exists():
        out = [d["text"] for d in load_c4()]
    elif key[0] == "ccnet":
        f = SHARED / "web_text" / "ccnet_dolma" / key[1]
        if f.exists():
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                out = [json.loads(line)["text"] for line in fh]
    elif key == ("llms",):
        f = SHARED / "web_text" / "parquet_real" / "cc-llms-txt_CC-MAIN-2026-30_fixture.parquet"
        if f.exists():
            import pyarrow.parquet as pq
            out = pq.read_table(f, columns=["content"]).column("content").to_pylist()
    _REAL_CACHE[key] = out
    return out


def real_doc_text(ref: dict) -> str | None:
    """The text a label row points to, or None when its source is not on this machine."""
    import subprocess
    src = ref["source"]
    if src == "repo":
        gitdir = MIRROR / ref["repo"].replace("/", "+") / "repo"
        if not gitdir.exists():
            return None
        key = ("repo", ref["repo"], ref["commit"], ref["path"])
        if key not in _REAL_CACHE:
            r = subprocess.run(["git", "-C", str(gitdir), "show", f"{ref['commit']}:{ref['path']}"], capture_output=True)
            _REAL_CACHE[key] = r.stdout.decode("utf-8") if r.returncode == 0 else None
        return _REAL_CACHE[key]
    docs = _real_collection(("ccnet", ref["file"]) if src == "ccnet" else (src,))
    return None if docs is None else docs[ref["doc"]]


def _ref_key(r: dict) -> tuple:
    return (r["source"], r.get("file"), r.get("doc"), r.get("repo"), r.get("commit"), r.get("path"))


def load_real_set(parts=("web", "repo", "written"), shared_only: bool = False) -> tuple[list, dict]:
    """Cases (part, text, gold spans incl. IGNORE, window or None) and counts of what was skipped as absent.
    ``shared_only``: only what lives in ../shared/data (written values placed in repository files left out)."""
    rows = [json.loads(line) for line in REAL_LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs: dict = {}
    for r in rows:
        k = _ref_key(r)
        if r.get("complete"):
            docs.setdefault(k, (r, []))
        else:
            docs.setdefault(k, (r, []))[1].append((r["type"], r["start"], r["end"]))
    cases, skipped = [], collections.Counter()
    for k, (ref, gold) in docs.items():
        part = "repo" if ref["source"] == "repo" else "web"
        if part not in parts:
            continue
        text = real_doc_text(ref)
        if text is None:
            skipped[part] += 1
            continue
        cases.append((part, text, sorted(gold, key=lambda g: g[1]), None))
    if "written" in parts and REAL_WRITTEN.exists():
        for it in json.loads(REAL_WRITTEN.read_text(encoding="utf-8"))["items"]:
            if shared_only and it["host"]["source"] == "repo":
                continue
            host = real_doc_text(it["host"])
            if host is None:
                skipped["written"] += 1
                continue
            lines = host.split("\n")
            head = "\n".join(lines[:it["after"] + 1]) + "\n"
            text = head + it["text"] + "\n" + "\n".join(lines[it["after"] + 1:])
            a = len(head)
            gold = [(t, a + s, a + e) for s, e, t in it["spans"]]
            cases.append(("written", text, gold, (a, a + len(it["text"]))))
    return cases, skipped


def score_real(cases, detect_fn, types=None, part=None) -> Score:
    """Score findings against the labels: a finding overlapping an IGNORE span is dropped, a written case is
    scored on its inserted lines only; ``types`` restricts both sides (an anchor that reports only some types)."""
    sc = Score()
    for p, text, gold, window in cases:
        if part is not None and p not in part:
            continue
        ign = [(s, e) for t, s, e in gold if t == "IGNORE"]
        g = [x for x in gold if x[0] != "IGNORE" and (types is None or x[0] in types)]
        pred = []
        for t, s, e in detect_fn(text):
            if types is not None and t not in types:
                continue
            if window is not None and not (s < window[1] and window[0] < e):
                continue
            if any(s < ie and is_ < e for is_, ie in ign):
                continue
            pred.append((t, s, e))
        sc.add(text, g, pred)
    return sc


def real_counts(cases) -> dict:
    c = collections.defaultdict(collections.Counter)
    for p, _, gold, _ in cases:
        for t, _, _ in gold:
            c[p][t] += 1
    return c


def eval_real_all(cfg, args) -> None:
    cases, skipped = load_real_set()
    counts = real_counts(cases)
    n = collections.Counter(p for p, *_ in cases)
    print(f"\n== real labelled set (tests/data/pii_real_labels.*): {n['web']} web pages, {n['repo']} repository files, "
          f"{n['written']} written values placed in them")
    for part, why in (("repo", "fetched repositories not present (PROVENANCE_MIRROR)"),
                      ("written", "their host documents not present")):
        if skipped[part]:
            print(f"  skipped {skipped[part]} {part} item(s): {why}")
    for p in ("web", "repo", "written"):
        lab = {t: v for t, v in counts[p].items() if t != "IGNORE"}
        if lab:
            print(f"  {p:<8} labels: " + ", ".join(f"{t} {v}" for t, v in sorted(lab.items(), key=lambda x: pii.TYPES.index(x[0]))))
    types = sorted({t for p in counts for t in counts[p] if t != "IGNORE"}, key=pii.TYPES.index)
    runs = [("provenance.pii (this checkout)", lambda t: preds(t, cfg), None)]
    prev, rev = (None, None) if args.no_anchors else load_previous_pii(args.baseline)
    if prev is not None:
        pcfg = prev.load_config()
        runs.append((f"previous pii.py ({rev})", lambda t: [(f.type, f.start, f.end) for f in prev.detect(t, pcfg)], None))
    ds = None if args.no_anchors else detect_secrets_fn(vendor_types=True)
    if ds is not None:
        runs.append(("detect-secrets 1.5 (anchor; secret types only)", ds, REAL_SECRET_TYPES))
    for title, fn, only in runs:
        sc = score_real(cases, fn, only)
        shown = [t for t in types if only is None or t in only]
        shown += [t for t in pii.TYPES if sc.fp[t] and t not in shown and (only is None or t in only)]
        print_score(f"real set, {title}", sc, args.examples, types=shown)
        p, r, f1 = overall(sc, shown)
        sec = [t for t in REAL_SECRET_TYPES if t in shown]
        ps, rs_, f1s = overall(sc, sec)
        print(f"  overall: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}; secret types P {ps:.3f} R {rs_:.3f} F1 {f1s:.3f}")
        for part in ("web", "repo", "written"):
            if n[part]:
                pp, rp, fp_ = overall(score_real(cases, fn, only, part=(part,)), shown)
                print(f"    {part:<8} precision {pp:.3f} recall {rp:.3f} F1 {fp_:.3f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--examples", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--config-repo", action="append", default=[], metavar="GITDIR",
                    help="a fetched repository's git directory whose config files (.env, compose, serverless.yml, "
                         "PHP, XML, ...) host injected values too (repeatable)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--baseline", default=None, help="git revision of the previous pii.py (default: before the last change)")
    ap.add_argument("--only-injected", action="store_true", help="only the injected set (section 5)")
    ap.add_argument("--no-anchors", action="store_true", help="injected and real sets: this checkout only")
    ap.add_argument("--only-real", action="store_true", help="only the real labelled set (section 6)")
    args = ap.parse_args()
    if args.baseline:  # resolved once: other commits landing during a long run must not move the anchor
        import subprocess
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.baseline], capture_output=True, text=True)
        if r.returncode == 0:
            args.baseline = r.stdout.strip()
    if not SHARED.exists():
        print(f"needs {SHARED} (shared data); nothing to measure")
        return 0
    pa.set_cpu_count(1)
    cfg = pii.load_config()
    print(f"config: {len(cfg.detectors)} detectors, ip_public_only={cfg.ip_public_only}, phone_regions={list(cfg.phone_regions)}")

    if args.only_real:
        eval_real_all(cfg, args)
        return 0
    if args.only_injected:
        eval_injected_all(cfg, load_c4(), args)
        return 0
    sc, excl = eval_presidio(cfg, public_only=True)
    print_score(f"presidio-research generated_large (synthetic, 2109 sentences; {excl} private IP excluded)", sc,
                args.examples, types=list(PRESIDIO_MAP.values()))
    extra = [t for t in pii.TYPES if (sc.fp[t] or sc.tp[t]) and t not in PRESIDIO_MAP.values()]
    if extra:
        print("  findings of other types (all false positives here): " + ", ".join(f"{t} {sc.fp[t]}" for t in extra))
    cfg_all_ips = cfg.model_copy(update={"ip_public_only": False})
    sc2, _ = eval_presidio(cfg_all_ips, public_only=False)
    r = sc2.rows(["IP_ADDRESS"])[0]
    print(f"  IP_ADDRESS with ip_public_only=false: gold {r[1] + r[3]}, precision {_fmt(r[4])}, recall {_fmt(r[5])}")

    print_score("Dolma e-mail fixtures (real CC documents, silver spans score >= 0.5)", eval_dolma(cfg), args.examples,
                types=["EMAIL"])

    docs = load_c4()
    sc_c4 = eval_c4(cfg, docs)
    types = ["EMAIL", "PHONE", "IP_ADDRESS"] + [t for t in pii.TYPES if t not in ("EMAIL", "PHONE", "IP_ADDRESS") and sc_c4.fp[t]]
    print_score("C4 sample, our labels (1000 real documents, all types complete)", sc_c4, args.examples, types=types)

    eval_injected_all(cfg, docs, args)
    eval_real_all(cfg, args)

    sents = wnut_sentences()
    found = collections.Counter()
    shown = []
    for s in sents:
        for f in pii.detect(s, cfg):
            found[f.type] += 1
            shown.append((f.type, s[max(0, f.start - 30):f.end + 20]))
    print(f"\n== WNUT-17 tweets ({len(sents)} real sentences, no labels of our types): {sum(found.values())} findings {dict(found)}")
    for t, x in shown[:20]:
        print(f"    {t}: {x!r}")

    if not args.no_speed:
        print(f"\n== throughput: scan_batch on the C4 sample replicated to ~{args.mb:.0f} MB, one core")
        tp = throughput([d["text"] for d in docs], args.mb, cfg)
        print(f"  {tp['docs']} docs, {tp['mb']:.1f} MB; {tp['candidate_share']:.1%} of rows pass the prefilter")
        print(f"  RE2 prefilter alone     {tp['prefilter_mb_s']:8.1f} MB/s")
        print(f"  scan_batch (hashed)     {tp['scan_mb_s']:8.1f} MB/s  ({tp['docs_s']:,.0f} docs/s, {tp['scan_s']:.2f} s)")
        print(f"  detect() on every row   {tp['every_row_mb_s']:8.1f} MB/s  (no prefilter; anchor)  "
              f"-> scan_batch is {tp['scan_mb_s'] / tp['every_row_mb_s']:.1f}x")
        if tp["datatrove_mb_s"] is None:
            print("  datatrove PIIFormatter:  not measured (datatrove is not installed in this environment)")
        else:
            print(f"  datatrove PIIFormatter  {tp['datatrove_mb_s']:8.1f} MB/s  (e-mail + IPv4 only) "
                  f"-> scan_batch is {tp['scan_mb_s'] / tp['datatrove_mb_s']:.1f}x")
        print(f"  target >= 50 MB/s per core: {'met' if tp['scan_mb_s'] >= 50 else 'NOT met'}")
        prev, rev = (None, None) if args.no_anchors else load_previous_pii(args.baseline)
        if prev is not None:
            pcfg = prev.load_config()
            c4_now, c4_prev = speed_vs_previous([d["text"] for d in docs], min(args.mb, 20.0), cfg, prev, pcfg)
            print(f"  vs previous pii.py ({rev}), same batches, in turns: C4 {c4_now:.1f} MB/s against {c4_prev:.1f} "
                  f"(ratio {c4_now / c4_prev:.2f})")
            dense = [t for _, t, _, _ in load_real_set(parts=("written",), shared_only=True)[0]]
            if dense:
                d_now, d_prev = speed_vs_previous(dense, min(args.mb, 5.0), cfg, prev, pcfg)
                print(f"  on the real set's pages with written secrets: {d_now:.1f} MB/s against {d_prev:.1f} "
                      f"(ratio {d_now / d_prev:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
