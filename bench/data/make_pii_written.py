"""Writes tests/data/pii_real_written.json: secret values written by hand-made rules from the vendors'
published formats (not from provenance.pii), each placed in a real file or page of the labelled set.

    python bench/data/make_pii_written.py      # needs ../shared/data and the fetched repositories

Every item is one or more lines inserted after line ``after`` of a host document; ``{TYPE}`` marks in a
template become a value of that type (labelled), ``{!NAME}`` a look-alike that is no secret of ours
(unlabelled, so a finding on it is a false positive). Formats:

* AWS access key id: ``AKIA`` / ``ASIA`` + 16 of A-Z2-7; secret access key: 40 of A-Za-z0-9/+.
* GitHub: ``ghp_`` / ``gho_`` / ``ghu_`` / ``ghs_`` / ``ghr_`` + 36 of A-Za-z0-9; ``github_pat_`` + 22 + ``_`` + 59.
* GitLab personal access token: ``glpat-`` + 20 of A-Za-z0-9_-.
* Slack: ``xoxb-`` digits ``-`` digits ``-`` 24 alphanumerics; ``xoxp-`` digits-digits-digits-32 hex;
  incoming webhooks ``https://hooks.slack.com/services/T.../B.../`` + 24 alphanumerics.
* Stripe secret / restricted keys: ``sk_live_`` / ``sk_test_`` / ``rk_live_`` + 24..99 alphanumerics.
* Google API key: ``AIza`` + 35 of A-Za-z0-9_- (issued keys begin ``AIzaSy``).
* JWT: base64url(JSON header) . base64url(JSON claims) . 43 base64url signature characters.
"""
from __future__ import annotations

import base64
import gzip
import json
import random
import string
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "tests" / "data" / "pii_real_written.json"
LABELS = REPO / "tests" / "data" / "pii_real_labels.jsonl"
AN = string.ascii_letters + string.digits


def rs(r, alphabet, n):
    return "".join(r.choice(alphabet) for _ in range(n))


def b64u(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def value(r, typ: str) -> str:
    if typ == "AWS_ACCESS_KEY":
        return r.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + rs(r, string.ascii_uppercase + "234567", 16)
    if typ == "AWS_SECRET_KEY":
        return rs(r, AN + "/+", 40)
    if typ == "GITHUB_TOKEN":
        if r.random() < 0.2:
            return "github_pat_" + rs(r, AN, 22) + "_" + rs(r, AN, 59)
        return r.choice(["ghp_", "ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rs(r, AN, 36)
    if typ == "GITLAB_TOKEN":
        return "glpat-" + rs(r, AN + "_-", 20)
    if typ == "SLACK_TOKEN":
        k = r.random()
        if k < 0.45:
            return f"xoxb-{rs(r, string.digits, r.choice([11, 12, 13]))}-{rs(r, string.digits, 13)}-{rs(r, AN, 24)}"
        if k < 0.75:
            return (f"xoxp-{rs(r, string.digits, 12)}-{rs(r, string.digits, 12)}-{rs(r, string.digits, 13)}-"
                    f"{rs(r, '0123456789abcdef', 32)}")
        return (f"https://hooks.slack.com/services/T{rs(r, string.ascii_uppercase + string.digits, 8)}/"
                f"B{rs(r, string.ascii_uppercase + string.digits, 10)}/{rs(r, AN, 24)}")
    if typ == "STRIPE_KEY":
        pre = r.choice(["sk_live_", "sk_live_", "sk_test_", "sk_test_", "rk_live_"])
        return pre + rs(r, AN, r.choice([24, 24, 34, 99]))
    if typ == "GOOGLE_API_KEY":
        return "AIzaSy" + rs(r, AN + "_-", 33)  # keys in the wild all begin AIzaSy (AIza + 35 characters)
    if typ == "JWT":
        hdr = r.choice([{"alg": "HS256", "typ": "JWT"}, {"alg": "RS256", "typ": "JWT", "kid": rs(r, AN, 16)},
                        {"typ": "JWT", "alg": "HS512"}])
        claims = {"sub": rs(r, string.digits, 8), "iat": 1700000000 + r.randrange(10**7)}
        if r.random() < 0.5:
            claims["role"] = r.choice(["anon", "service_role", "authenticated"])
        if r.random() < 0.5:
            claims["exp"] = claims["iat"] + 3600
        return f"{b64u(hdr)}.{b64u(claims)}.{rs(r, AN + '-_', 43)}"
    raise KeyError(typ)


# contexts: how each kind of value is written in config files, shell, code and prose
TEMPLATES = {
    "AWS_ACCESS_KEY": [
        "AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY}",
        "export AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY}",
        "aws_access_key_id = {AWS_ACCESS_KEY}",
        '    "AccessKeyId": "{AWS_ACCESS_KEY}",',
        "      accessKeyId: {AWS_ACCESS_KEY}",
        "Access key ID: {AWS_ACCESS_KEY}",
        "s3 = boto3.client('s3', aws_access_key_id='{AWS_ACCESS_KEY}')",
        'access_key = "{AWS_ACCESS_KEY}"',
        "docker run -e AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY} -e AWS_DEFAULT_REGION=eu-west-1 amazon/aws-cli s3 ls",
        "I rotated the key {AWS_ACCESS_KEY} but the old one still works, any idea?",
        "AWS Access Key ID [None]: {AWS_ACCESS_KEY}",
        "spark.hadoop.fs.s3a.access.key {AWS_ACCESS_KEY}",
    ],
    "AWS_SECRET_KEY": [
        "AWS_SECRET_ACCESS_KEY={AWS_SECRET_KEY}",
        'export AWS_SECRET_ACCESS_KEY="{AWS_SECRET_KEY}"',
        "aws_secret_access_key = {AWS_SECRET_KEY}",
        '    "SecretAccessKey": "{AWS_SECRET_KEY}",',
        "      secretAccessKey: {AWS_SECRET_KEY}",
        "Secret access key: {AWS_SECRET_KEY}",
        "    aws_secret_access_key='{AWS_SECRET_KEY}',",
        'secret_key = "{AWS_SECRET_KEY}"',
        "AWS Secret Access Key [None]: {AWS_SECRET_KEY}",
        "spark.hadoop.fs.s3a.secret.key {AWS_SECRET_KEY}",
        "cloud.aws.credentials.secret-key={AWS_SECRET_KEY}",
        "          aws-secret-access-key: {AWS_SECRET_KEY}",
        "Access key ID,Secret access key\n{AWS_ACCESS_KEY},{AWS_SECRET_KEY}",
        "[default]\naws_access_key_id={AWS_ACCESS_KEY}\naws_secret_access_key={AWS_SECRET_KEY}",
    ],
    "GITHUB_TOKEN": [
        "GITHUB_TOKEN={GITHUB_TOKEN}",
        "export GH_TOKEN={GITHUB_TOKEN}",
        "git clone https://{GITHUB_TOKEN}@github.com/acme-corp/billing-service.git",
        'curl -H "Authorization: token {GITHUB_TOKEN}" https://api.github.com/user/repos',
        '  "github_token": "{GITHUB_TOKEN}",',
        "//npm.pkg.github.com/:_authToken={GITHUB_TOKEN}",
        "echo {GITHUB_TOKEN} | docker login ghcr.io -u octo-dev --password-stdin",
        "        token: {GITHUB_TOKEN}",
        "I pasted my token ({GITHUB_TOKEN}) in the settings and it still says 401.",
        "HOMEBREW_GITHUB_API_TOKEN={GITHUB_TOKEN}",
    ],
    "GITLAB_TOKEN": [
        "GITLAB_TOKEN={GITLAB_TOKEN}",
        'curl --header "PRIVATE-TOKEN: {GITLAB_TOKEN}" "https://gitlab.example.com/api/v4/projects"',
        "git remote set-url origin https://oauth2:{GITLAB_TOKEN}@gitlab.com/group/project.git",
        '  token = "{GITLAB_TOKEN}"',
        "export CI_JOB_TOKEN_OVERRIDE={GITLAB_TOKEN}",
        '{"private_token": "{GITLAB_TOKEN}", "url": "https://gitlab.com"}',
        "gitlab_personal_access_token: {GITLAB_TOKEN}",
        "Token created: {GITLAB_TOKEN} (expires in 30 days)",
    ],
    "SLACK_TOKEN": [
        "SLACK_BOT_TOKEN={SLACK_TOKEN}",
        "export SLACK_TOKEN='{SLACK_TOKEN}'",
        'client = WebClient(token="{SLACK_TOKEN}")',
        '  "slack_webhook_url": "{SLACK_TOKEN}",',
        "curl -X POST -H 'Content-type: application/json' --data '{\"text\":\"deploy done\"}' {SLACK_TOKEN}",
        "    slack_api_url: '{SLACK_TOKEN}'",
        'curl -H "Authorization: Bearer {SLACK_TOKEN}" https://slack.com/api/auth.test',
        "webhook: {SLACK_TOKEN}",
    ],
    "STRIPE_KEY": [
        "STRIPE_SECRET_KEY={STRIPE_KEY}",
        'Stripe.api_key = "{STRIPE_KEY}"',
        "stripe.api_key = '{STRIPE_KEY}'",
        "curl https://api.stripe.com/v1/charges -u {STRIPE_KEY}: -d amount=2000 -d currency=usd",
        "const stripe = require('stripe')('{STRIPE_KEY}');",
        '  "secretKey": "{STRIPE_KEY}",',
        "    secret_key: {STRIPE_KEY}",
        "export STRIPE_API_KEY={STRIPE_KEY}",
    ],
    "GOOGLE_API_KEY": [
        "GOOGLE_API_KEY={GOOGLE_API_KEY}",
        '  apiKey: "{GOOGLE_API_KEY}",',
        '<script src="https://maps.googleapis.com/maps/api/js?key={GOOGLE_API_KEY}&callback=initMap" async></script>',
        '<meta-data android:name="com.google.android.geo.API_KEY" android:value="{GOOGLE_API_KEY}"/>',
        "YOUTUBE_API_KEY = '{GOOGLE_API_KEY}'",
        'curl "https://www.googleapis.com/customsearch/v1?key={GOOGLE_API_KEY}&cx=017576662512468239146:omuauf_lfve&q=lectures"',
        '    "key": "{GOOGLE_API_KEY}"',
        "gemini_api_key: {GOOGLE_API_KEY}",
    ],
    "JWT": [
        "Authorization: Bearer {JWT}",
        '  "access_token": "{JWT}",',
        "SUPABASE_ANON_KEY={JWT}",
        "Cookie: session=abc; token={JWT}; Path=/",
        "https://app.acme-hr.io/reset-password?token={JWT}",
        "const token = '{JWT}';",
        'curl -H "Authorization: Bearer {JWT}" https://api.acme-hr.io/v2/employees',
        "id_token: {JWT}",
    ],
}
# look-alikes that are not secrets of ours (placeholders, elided values, hashes, public keys)
NEGATIVES = [
    "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECRET_ACCESS_KEY=<your-secret-access-key>",
    "export AWS_SECRET_ACCESS_KEY=$(pass show aws/secret)",
    "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "GITHUB_TOKEN=${{ secrets.GITHUB_TOKEN }}",
    "GITHUB_TOKEN=<your personal access token>",
    "token: ghp_...",
    "GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx",
    "SLACK_BOT_TOKEN=xoxb-your-bot-token",
    "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/XXX/YYY/ZZZ",
    "STRIPE_SECRET_KEY=sk_live_...",
    "STRIPE_SECRET_KEY=sk_test_YOUR_SECRET_KEY",
    "GOOGLE_API_KEY=AIzaSy...",
    "GOOGLE_API_KEY=YOUR_API_KEY",
    "Authorization: Bearer eyJhbGciOi...",
    "Authorization: Bearer <token>",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "sha1: 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
    "Subresource integrity: sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
    "request id 3f1b6c4e-8a2d-4e0f-9b7a-2c5d8e1f0a93",
    "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
    "password: ${DB_PASSWORD}",
    "DB_PASSWORD=changeme",
    "define('DB_PASSWORD', 'password_here');",
    "<password>${env.MAVEN_PASSWORD}</password>",
    "SKU 431-22-0918, in stock",
    "Part no. 078-05-1120 (replacement gasket)",
]
# values of our types that are public by design: labelled IGNORE (neither way)
NAMES = set(TEMPLATES) | {"PK"}
IGNORED = ["STRIPE_PUBLISHABLE_KEY=pk_live_{PK}", "NEXT_PUBLIC_STRIPE_KEY=pk_test_{PK}"]


def hosts() -> list[dict]:
    """Fully labelled documents of the set: the llms.txt pages (in ../shared/data) and the fetched repository files."""
    out, seen = [], set()
    for ln in LABELS.read_text().splitlines():
        r = json.loads(ln)
        if r["source"] == "llms" and r.get("complete"):
            out.append({"source": "llms", "doc": r["doc"]})
        elif r["source"] == "repo" and r.get("complete") and r["path"].endswith((".md", ".rst", ".yaml", ".yml", ".cfg", ".properties", ".xml")):
            key = (r["repo"], r["path"])
            if key not in seen:
                seen.add(key)
                out.append({"source": "repo", "repo": r["repo"], "commit": r["commit"], "path": r["path"]})
    return out


def main() -> int:
    sys.path.insert(0, str(REPO / "bench"))
    from bench_pii import real_doc_text  # the loader the bench uses
    r = random.Random(20261205)
    hs = hosts()
    llms = [h for h in hs if h["source"] == "llms"]
    repo = [h for h in hs if h["source"] == "repo"]
    items = []

    def place(template: str, kind: str):
        host = r.choice(llms if r.random() < 0.5 else repo)
        text = real_doc_text(host)
        if text is None:
            raise SystemExit(f"host not available: {host}")
        lines = text.split("\n")
        after = r.randrange(len(lines))
        spans, out, i = [], "", 0
        while i < len(template):
            if template[i] == "{" and template[i + 1:template.find("}", i)] in NAMES:
                j = template.find("}", i)
                name = template[i + 1:j]
                if name == "PK":
                    v = rs(r, AN, 24)
                    out += v
                else:
                    v = value(r, name)
                    spans.append([len(out), len(out) + len(v), name])
                    out += v
                i = j + 1
            else:
                out += template[i]
                i += 1
        if kind == "ignore":
            a = out.index("=") + 1
            spans = [[a, len(out), "IGNORE"]]
        items.append({"host": host, "after": after, "text": out, "spans": spans, "kind": kind})

    for typ, temps in TEMPLATES.items():
        for k in range(42):
            place(temps[k % len(temps)], "positive")
    for k in range(2):
        for t in NEGATIVES:
            place(t, "negative")
    for t in IGNORED * 3:
        place(t, "ignore")
    OUT.write_text(json.dumps({"description": "written values in vendor formats placed in real documents; "
                                              "see tests/data/pii_real_labels.md", "seed": 20261205,
                               "items": items}, indent=0) + "\n")
    print(f"wrote {len(items)} items to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
