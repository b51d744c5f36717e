"""PII and secrets on the independently labelled real set (tests/data/pii_real_labels.*): the forms it showed
missing or wrong, one test each, and the floors on the part of the set that lives in ../shared/data."""

from __future__ import annotations

import importlib.util
import random
import string
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from provenance import pii

from conftest import shared_path

CFG = pii.PiiConfig()
BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_pii.py"
AN = string.ascii_letters + string.digits


def found(text: str) -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in pii.detect(text, CFG)]


def _r(alphabet: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


SK = _r(string.ascii_lowercase, 14, 1) + _r(string.ascii_uppercase, 14, 2) + _r(string.digits + "/+", 12, 3)
AKID = "AKIA" + _r(string.ascii_uppercase + "234567", 16, 4)
UP = string.ascii_uppercase + string.digits
HOOK = f"https://hooks.slack.com/services/T{_r(UP, 8, 5)}/B{_r(UP, 10, 6)}/{_r(AN, 24, 7)}"
SK_TEST = "sk_test_" + _r(AN, 24, 8)
RK_TEST = "rk_test_" + _r(AN, 34, 9)

FOUND = [
    # AWS secret access keys after a "secret key" label and after their key id on the same line
    (f"[default]\nhost_base = s3.example.net\nsecret_key = {SK}\n", "AWS_SECRET_KEY", SK),  # s3cmd's .s3cfg
    (f"spark.hadoop.fs.s3a.secret.key {SK}\n", "AWS_SECRET_KEY", SK),
    (f"cloud.aws.credentials.secret-key={SK}\n", "AWS_SECRET_KEY", SK),
    (f"Access key ID,Secret access key\n{AKID},{SK}\n", "AWS_SECRET_KEY", SK),
    # Slack incoming webhooks, Stripe test-mode secret and restricted keys
    (f"curl -X POST --data '{{\"text\":\"done\"}}' {HOOK}\n", "SLACK_TOKEN", HOOK),
    (f"    slack_api_url: '{HOOK}'\n", "SLACK_TOKEN", HOOK),
    (f"stripe.api_key = '{SK_TEST}'\n", "STRIPE_KEY", SK_TEST),
    (f"STRIPE_SECRET_KEY={RK_TEST}\n", "STRIPE_KEY", RK_TEST),
    # passwords that are one lowercase word, as configuration values
    ("      - MYSQL_PASSWORD=friendica\n      - MYSQL_DATABASE=friendica\n", "PASSWORD", "friendica"),
    ("    environment:\n      MYSQL_PASSWORD: backdrop\n", "PASSWORD", "backdrop"),
    ("datasource:\n  password: petclinic\n", "PASSWORD", "petclinic"),
    ("docker run --name pg -e POSTGRES_PASSWORD=mysecretpassword -d postgres\n", "PASSWORD", "mysecretpassword"),
    ("docker run -e POSTGRES_PASSWORD=mysecretpassword postgres:16\n", "PASSWORD", "mysecretpassword"),
    # a password word inside a longer value does not make it a placeholder
    ("      - PLATFORM_PASSWORD=pfsecret\n", "PASSWORD", "pfsecret"),
    ('  username="myuser" password="mypasswd" maxTotal="20"', "PASSWORD", "mypasswd"),
    ("JOOMLA_DB_PASSWORD: examplepass\n", "PASSWORD", "examplepass"),
    ('password = "Password123!"', "PASSWORD", "Password123!"),
]


@pytest.mark.parametrize("text, typ, value", FOUND)
def test_forms_the_real_set_showed_missing(text, typ, value):
    assert (typ, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        # a quoted label in code is not followed by a value
        'out.println(rs.getString("User")+" Password:"+rs.getString("Password"));',
        # values made only of words that name a password
        "DB_PASSWORD=your_database_password\n", "MYSQL_ROOT_PASSWORD: your_root_password\n",
        "DB_PASSWORD=db_password\n", 'password = "Secret_Password"',
        # what a field holds, prose labels, flags
        "password: boolean\n", "Password: welcome\n", "MYSQL_RANDOM_ROOT_PASSWORD: 'yes'\n",
        "Your password: must be eight characters\n",
    ],
)
def test_password_look_alikes_of_the_real_set(text):
    assert [v for t, v in found(text) if t == "PASSWORD"] == []


@pytest.mark.parametrize(
    "text",
    [
        "ecdsa-sha2-nistp256-cert-v01@openssh.com AAAAKGVjZHNhLXNoYTItbmlzdHAyNTYtY2VydC12MDFAb3BlbnNzaC5jb20",
        "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com\nKexAlgorithms curve25519-sha256@libssh.org",
    ],
)
def test_ssh_algorithm_names_are_not_emails(text):
    assert [t for t, _ in found(text)] == []


def test_a_person_at_openssh_com_is_still_an_email():
    assert found("report it to djm@openssh.com please") == [("EMAIL", "djm@openssh.com")]


def test_an_elided_jwt_is_not_a_jwt():
    assert found("    'eyJhbGciOiJIUzI1NiJ9.eyJzb21lIjoicGF5bG9hZCJ9...'\n") == []


def test_scan_batch_finds_the_new_forms_too():
    texts = [t for t, _, _ in FOUND] + ["SLACK=1 " + HOOK, "k " + SK_TEST]
    _, findings = pii.scan_batch(pa.table({"text": texts}), CFG, b"k")
    for text, row in zip(texts, findings.to_pylist()):
        assert [(f["type"], f["start"], f["end"]) for f in row] == [(f.type, f.start, f.end) for f in pii.detect(text)]


# -- the labelled set: the part in ../shared/data (web pages, and written values placed in them) ------------
def _bench():
    spec = importlib.util.spec_from_file_location("bench_pii_real", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_real_labelled_set_floors():
    shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz")
    shared_path("web_text/parquet_real/cc-llms-txt_CC-MAIN-2026-30_fixture.parquet")
    b = _bench()
    cases, _ = b.load_real_set(parts=("web", "written"), shared_only=True)
    counts = b.real_counts(cases)
    assert counts["web"]["EMAIL"] >= 60 and counts["web"]["PHONE"] >= 100  # the set is there, not skipped
    sc = b.score_real(cases, lambda t: b.preds(t, CFG))
    types = sorted({t for t in sc.tp} | {t for t in sc.fp} | {t for t in sc.fn})
    for t, tp, fp, fn, p, r, _ in sc.rows(types):
        if p is not None:
            assert p >= 0.97, (t, tp, fp, fn)
        if t in b.REAL_SECRET_TYPES and tp + fn >= 10:
            assert r >= 0.90, (t, tp, fp, fn)
    p, r, f1 = b.overall(sc, types)
    assert f1 >= 0.97, (p, r, f1)
