"""PII and secret detection (provenance.pii): each detector with its look-alikes, the rules file,
scan_batch's Arrow output and hashing, redaction, and a quality floor on the shared labelled sets."""

from __future__ import annotations

import base64
import collections
import gzip
import hashlib
import json
import random
import string
from pathlib import Path

import pyarrow as pa
import pytest

from provenance import pii
from provenance.ruleset import RulesError

from conftest import shared_path

CFG = pii.PiiConfig()
HERE = Path(__file__).resolve().parent


def found(text: str, config=CFG) -> list[tuple[str, str]]:
    return [(f.type, f.value) for f in pii.detect(text, config)]


def _rand(alphabet: str, n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(body: str) -> str:
    return body + next(c for c in "0123456789" if pii.luhn_ok(body + c))


def _b64url(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


ALNUM = string.ascii_letters + string.digits
GITHUB = "ghp_" + _rand(ALNUM, 36, 1)
GITLAB = "glpat-" + _rand(ALNUM, 20, 2)
SLACK = "xoxb-" + _rand(string.digits, 12, 3) + "-" + _rand(string.digits, 13, 4) + "-" + _rand(ALNUM, 24, 5)
STRIPE = "sk_live_" + _rand(ALNUM, 24, 6)
GOOGLE = "AIza" + _rand(ALNUM + "_-", 35, 7)
AWS_ID = "AKIA" + _rand(string.ascii_uppercase + "234567", 16, 8)
AWS_SECRET = _rand(string.ascii_lowercase, 10, 9) + _rand(string.ascii_uppercase, 10, 10) + _rand(string.digits + "/+", 20, 11)
JWT = _b64url({"alg": "HS256", "typ": "JWT"}) + "." + _b64url({"sub": "1234567890"}) + "." + _rand(ALNUM + "-_", 43, 12)
KEY_BODY = "\n".join(_rand(string.ascii_letters + string.digits + "+/", 64, 20 + i) for i in range(5))
PRIVATE_KEY = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----"


# -- detectors: what they find, and the look-alikes they leave ---------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        # e-mail
        ("Write to jane.doe+news@mail.co.uk today.", [("EMAIL", "jane.doe+news@mail.co.uk")]),
        ("mailto:Info@Shop-Dog.com.au", [("EMAIL", "Info@Shop-Dog.com.au")]),
        ("email me at bob@corp.com.Thanks", [("EMAIL", "bob@corp.com")]),
        # phones: international, national, next to a phone word or a label
        ("Call +1 (415) 555-2671 now", [("PHONE", "+1 (415) 555-2671")]),
        ("call Craig on +44 (0) 20 7827 6752 quoting E", [("PHONE", "+44 (0) 20 7827 6752")]),
        ("INT. 0044 28 8774 1199.", [("PHONE", "0044 28 8774 1199")]),
        ("phone 353-(0)1-6289512 (office hours)", [("PHONE", "353-(0)1-6289512")]),
        ("Contact (508) 528-3115 or 877.357.0618.", [("PHONE", "(508) 528-3115"), ("PHONE", "877.357.0618")]),
        ("Fax: 001-748-088-2851x818", [("PHONE", "001-748-088-2851x818")]),
        ("London office: 020 7946 0958", [("PHONE", "020 7946 0958")]),
        ("Tel: 06 12 34 56 78", [("PHONE", "06 12 34 56 78")]),
        ("You can call 73 448 266", [("PHONE", "73 448 266")]),
        ("089 72 63 41 office", [("PHONE", "089 72 63 41")]),
        ("Need a quote? Call 1-800-FLOWERS!", [("PHONE", "1-800-FLOWERS")]),
        # IP addresses (public)
        ("blocked from 81.2.69.160 again", [("IP_ADDRESS", "81.2.69.160")]),
        ("resolver 2606:4700:4700::1111 answered", [("IP_ADDRESS", "2606:4700:4700::1111")]),
        ("DNS server 8.8.4.4", [("IP_ADDRESS", "8.8.4.4")]),
        # cards
        ("card 4111 1111 1111 1111 exp 12/29", [("CREDIT_CARD", "4111 1111 1111 1111")]),
        ("amex 378282246310005.", [("CREDIT_CARD", "378282246310005")]),
        ("mc 5500-0000-0000-0004", [("CREDIT_CARD", "5500-0000-0000-0004")]),
        # IBAN (with spaces, compact, lower case)
        ("IBAN GB82 WEST 1234 5698 7654 32 please", [("IBAN", "GB82 WEST 1234 5698 7654 32")]),
        ("to DE89370400440532013000.", [("IBAN", "DE89370400440532013000")]),
        ("iban gb82west12345698765432", [("IBAN", "gb82west12345698765432")]),
        # SSN
        ("His SSN is 536-22-1234.", [("US_SSN", "536-22-1234")]),
        ("social security number 536 22 1234", [("US_SSN", "536 22 1234")]),
        # secrets
        (f"key id {AWS_ID} in logs", [("AWS_ACCESS_KEY", AWS_ID)]),
        (f'aws_secret_access_key = "{AWS_SECRET}"', [("AWS_SECRET_KEY", AWS_SECRET)]),
        (f"token={GITHUB}", [("GITHUB_TOKEN", GITHUB)]),
        (f"GITLAB {GITLAB} ", [("GITLAB_TOKEN", GITLAB)]),
        (f"slack: {SLACK}", [("SLACK_TOKEN", SLACK)]),
        (f"stripe {STRIPE}", [("STRIPE_KEY", STRIPE)]),
        (f"key={GOOGLE}&x=1", [("GOOGLE_API_KEY", GOOGLE)]),
        (f"Authorization: Bearer {JWT}", [("JWT", JWT)]),
        (f"id_rsa:\n{PRIVATE_KEY}\n", [("PRIVATE_KEY", PRIVATE_KEY)]),
        # password assignments: the value only
        ('password = "s3cr3t-Pa55"', [("PASSWORD", "s3cr3t-Pa55")]),
        ("DB_PASSWORD=hunter2!x\n", [("PASSWORD", "hunter2!x")]),
        ('{"passwd": "Tr0ub4dor&3"}', [("PASSWORD", "Tr0ub4dor&3")]),
        # URL credentials: the password, never an e-mail address
        ("https://user:hunter2@files.corp.com/x", [("PASSWORD", "hunter2")]),
    ],
)
def test_detects(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # e-mail look-alikes
        "retina image logo@2x.png", "write to user@example.com", "follow @handle on Twitter",
        "git clone git@github.com:org/repo.git",
        # phone look-alikes: dates, ISBNs, versions, prices, amounts, plain numbers, codes
        "Published 2019-04-23, revised 23/04/2019 and 24.04.2019.", "ISBN 978-0-306-40615-7", "ISBN 0-306-40615-2",
        "Windows version 10.0.19041.1 and v1.2.3", "price $1,234,567.89 or € 2 500 000",
        "The population was 12345678901 in 2020.", "J. Biol. Chem. 2006, 281, 11301-11311.", "from 1999-2005",
        "Order No. 555-123-4567", "In response to post # 45017350.", "a distance of 10 000 km",
        "Boston, MA 02110-1301 USA", "company number 2297344", "Posted 05-30-2018 10:37:11", "100.000 users",
        "<01-00 00-00 01-00 00-00>", "Call of Duty 2019",
        # IP look-alikes: private, loopback, link-local, documentation ranges, versions
        "192.168.1.10 and 10.0.0.1 and 127.0.0.1", "fe80::1 and ::1", "example 198.51.100.7", "zlib 1.2.5.2 or newer",
        "image: postgres:15.6.1.143", "at 12:30:45 sharp", "std::vector<int>",
        # cards: Luhn-invalid, bad layout, unknown IIN
        "4111 1111 1111 1112", "41111 1111 1111 111", _luhn_complete("100000000000001"),
        # IBAN: bad checksum, bad length
        "GB82 WEST 1234 5698 7654 33", "GB82 WEST 1234 5698 7654 3",
        # SSN: invalid area / group / serial, no dashes without a keyword
        "000-12-3456", "666-12-3456", "912-34-5678", "536-00-1234", "536-22-0000", "ref 536221234",
        # secrets: placeholders and look-alikes
        "AKIAIOSFODNN7EXAMPLE", "ghp_" + "x" * 36, "sk_live_" + "X" * 24,
        AWS_SECRET + " (no keyword near it)", "aws " + "0123456789abcdef" * 2 + "01234567",
        "eyJmb28iOjF9." + _b64url({"sub": "x"}) + ".sig",  # header without "alg"
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----",
        # password look-alikes
        'password = os.environ["DB_PASSWORD"]', 'password: "********"', 'password = "<your-password>"',
        "password: str", "Forgot password? Password: Enter your password", "bypass = 1234567",
        "for (pass = EXT_PASS; pass < n; pass++)", "STRIPE_WEBHOOK_SECRET=whsec_...",
    ],
)
def test_leaves_look_alikes(text):
    assert found(text) == []


def test_private_ips_are_found_when_asked():
    cfg = CFG.model_copy(update={"ip_public_only": False})
    assert found("192.168.1.10 and fe80::1", cfg) == [("IP_ADDRESS", "192.168.1.10"), ("IP_ADDRESS", "fe80::1")]
    assert found("192.168.1.10 and fe80::1") == []


def test_phone_regions_and_phone_words_are_options():
    text = "London office: 020 7946 0958"
    assert found(text, CFG.model_copy(update={"phone_regions": ("US",)})) == []
    assert found("You can call 73 448 266", CFG.model_copy(update={"phone_context_chars": 0})) == []


def test_detect_spans_are_sorted_and_do_not_overlap():
    text = (f'Mail a@corp.io, call (212) 555-0198; password = "{JWT}"; card 4111-1111-1111-1111, '
            f"again a@corp.io")
    fs = pii.detect(text)
    assert [f.type for f in fs] == ["EMAIL", "PHONE", "JWT", "CREDIT_CARD", "EMAIL"]  # the JWT, not a PASSWORD
    assert all(a.end <= b.start for a, b in zip(fs, fs[1:]))
    assert all(text[f.start:f.end] == f.value for f in fs)


def test_offsets_are_python_str_indices():
    text = "Zoë’s café — write to zoë.x@café.example? no: zoe@cafe.fr ☕ or call +33 1 23 45 67 89"
    fs = pii.detect(text)
    assert [(f.type, text[f.start:f.end]) for f in fs] == [("EMAIL", "zoe@cafe.fr"), ("PHONE", "+33 1 23 45 67 89")]


# -- rules/pii.yaml ----------------------------------------------------------------------------------------
def test_shipped_config_runs_everything():
    cfg = pii.load_config()
    assert cfg.detectors == frozenset(pii.TYPES)
    assert cfg.ip_public_only is True and cfg.hash_hex_chars == 16
    assert "US" in cfg.phone_regions


def test_config_dump_is_stable_across_processes():
    # a dump is used as a cache key: detectors come out in TYPES order, never in a set's order
    cfg = pii.PiiConfig(detectors=frozenset(reversed(pii.TYPES)))
    assert json.loads(cfg.model_dump_json())["detectors"] == list(pii.TYPES)
    assert pii.PiiConfig.model_validate_json(cfg.model_dump_json()) == cfg


def test_a_later_layer_overrides_what_it_names(tmp_path):
    (tmp_path / "pii.yaml").write_text("detectors:\n  PHONE: false\noptions:\n  ip_public_only: false\n")
    cfg = pii.load_config([tmp_path])
    assert "PHONE" not in cfg.detectors and "EMAIL" in cfg.detectors
    assert cfg.ip_public_only is False
    assert cfg.phone_context_chars == pii.load_config().phone_context_chars  # untouched options keep theirs
    assert found("call (212) 555-0198 from 10.1.2.3", cfg) == [("IP_ADDRESS", "10.1.2.3")]


@pytest.mark.parametrize(
    "body, line, what",
    [
        ("detectors:\n  EMAIL: true\n  PHONES: false\n", 3, "PHONES"),
        ("options:\n  phone_regions: [US, XX]\n", 2, "unknown phone region XX"),
        ("options:\n  ip_public_only: maybe\n", 2, "ip_public_only"),
        ("options:\n  hash_hex_chars: 4\n", 2, "hash_hex_chars"),
        ("detector:\n  EMAIL: true\n", 2, "detector"),
    ],
)
def test_a_bad_rules_file_names_file_and_line(tmp_path, body, line, what):
    (tmp_path / "pii.yaml").write_text(body)
    with pytest.raises(RulesError) as exc:
        pii.load_config([tmp_path])
    msg = str(exc.value)
    assert f"pii.yaml:{line}:" in msg and what in msg


# -- scan_batch: Arrow types, counts, hashing --------------------------------------------------------------
TEXTS = [
    "Mail Ann@Corp.io or ann@corp.io, call (212) 555-0198.",
    None,
    "",
    "nothing to see here, 2019-04-23",
    f"card 4111 1111 1111 1111 and {GITHUB}",
]


def test_scan_batch_types_and_counts():
    counts, findings = pii.scan_batch(pa.table({"text": TEXTS}), CFG, b"salt")
    assert counts.type == pii.COUNTS_TYPE and findings.type == pii.FINDINGS_TYPE
    assert len(counts) == len(findings) == len(TEXTS)
    rows = counts.to_pylist()
    assert rows[0]["EMAIL"] == 2 and rows[0]["PHONE"] == 1 and rows[0]["IBAN"] == 0
    assert all(v == 0 for r in rows[1:4] for v in r.values())
    assert rows[4]["CREDIT_CARD"] == 1 and rows[4]["GITHUB_TOKEN"] == 1
    assert findings.to_pylist()[1:4] == [[], [], []]
    for text, row, c in zip(TEXTS, findings.to_pylist(), rows):
        assert sum(c.values()) == len(row)
        assert [(f["type"], f["start"], f["end"]) for f in row] == [(f.type, f.start, f.end) for f in pii.detect(text)]


def test_counts_are_null_for_detectors_that_are_off():
    cfg = CFG.model_copy(update={"detectors": frozenset({"EMAIL"})})
    counts, findings = pii.scan_batch(pa.table({"body": TEXTS}), cfg, b"s", text_column="body")
    row = counts.to_pylist()[0]
    assert row["EMAIL"] == 2 and row["PHONE"] is None
    assert {f["type"] for r in findings.to_pylist() for f in r} == {"EMAIL"}


def test_scan_batch_accepts_chunked_tables_and_record_batches():
    schema = pa.schema([("text", pa.string())])
    t = pa.Table.from_batches([pa.RecordBatch.from_pylist([{"text": x}], schema=schema) for x in TEXTS])
    assert t.column("text").num_chunks == len(TEXTS)
    a = pii.scan_batch(t, CFG, b"s")[1].to_pylist()
    b = pii.scan_batch(pa.RecordBatch.from_pylist([{"text": x} for x in TEXTS], schema=schema), CFG, b"s")[1].to_pylist()
    assert a == b


def test_hashes_are_salted_and_values_kept_only_on_request():
    _, f1 = pii.scan_batch(pa.table({"text": TEXTS}), CFG, b"salt-1")
    _, f2 = pii.scan_batch(pa.table({"text": TEXTS}), CFG, b"salt-2")
    r1, r2 = f1.to_pylist()[0], f2.to_pylist()[0]
    emails1 = [f["hash"] for f in r1 if f["type"] == "EMAIL"]
    assert len(emails1) == 2 and emails1[0] == emails1[1]  # Ann@Corp.io == ann@corp.io, same salt
    assert all(len(f["hash"]) == 16 and set(f["hash"]) <= set("0123456789abcdef") for f in r1)
    assert {f["hash"] for f in r1}.isdisjoint({f["hash"] for f in r2})  # other salt, other hashes
    # no raw value anywhere in the output unless asked for
    dump = json.dumps(f1.to_pylist())
    assert all(f["value"] is None for f in r1)
    assert "ann@corp.io" not in dump.lower() and "555-0198" not in dump and "4111" not in dump
    _, kept = pii.scan_batch(pa.table({"text": TEXTS}), CFG, b"salt-1", keep_values=True)
    assert [f["value"] for f in kept.to_pylist()[0]] == ["Ann@Corp.io", "ann@corp.io", "(212) 555-0198"]
    assert [f["hash"] for f in kept.to_pylist()[0]] == [f["hash"] for f in r1]


def test_hash_normalises_formats_of_the_same_value():
    h = lambda t, v: pii.hash_value(t, v, b"k")  # noqa: E731
    assert h("PHONE", "+1 (415) 555-2671") == h("PHONE", "415.555.2671") == h("PHONE", "001-415-555-2671")
    assert h("CREDIT_CARD", "4111 1111 1111 1111") == h("CREDIT_CARD", "4111-1111-1111-1111")
    assert h("IBAN", "GB82 WEST 1234 5698 7654 32") == h("IBAN", "gb82west12345698765432")
    assert h("IP_ADDRESS", "2606:4700:4700:0:0:0:0:1111") == h("IP_ADDRESS", "2606:4700:4700::1111")
    assert h("EMAIL", "a@b.co") != pii.hash_value("EMAIL", "a@b.co", b"other")


# -- redaction -----------------------------------------------------------------------------------------------
RED = ("Mail ann@corp.io or ANN@corp.io; card 4111 1111 1111 1111; IBAN GB82 WEST 1234 5698 7654 32; "
       "call (212) 555-0198; from 81.2.69.160; SSN 536-22-1234; " f"token {GITHUB} end")


def test_redact_with_placeholders():
    out = pii.redact(RED, pii.detect(RED))
    assert out == ("Mail <EMAIL> or <EMAIL>; card <CREDIT_CARD>; IBAN <IBAN>; call <PHONE>; from <IP_ADDRESS>; "
                   "SSN <US_SSN>; token <GITHUB_TOKEN> end")


def test_redact_with_fakes_keeps_formats():
    fs = pii.detect(RED)
    out = pii.redact(RED, fs, style="fake", salt=b"k")
    again = pii.detect(out, CFG.model_copy(update={"ip_public_only": False}))
    by_type = collections.defaultdict(list)
    for f in again:
        by_type[f.type].append(f.value)
    # e-mails: both spellings of one address get the same fake, at example.com (reserved: not found again)
    fakes = [w.strip(";") for w in out.split() if w.endswith("@example.com") or w.endswith("@example.com;")]
    assert len(fakes) == 2 and fakes[0] == fakes[1] and "EMAIL" not in by_type
    # card: Luhn-valid, same brand and layout; IBAN: valid check digits, same country and spacing
    card = by_type["CREDIT_CARD"][0]
    assert card != "4111 1111 1111 1111" and pii.luhn_ok(card.replace(" ", "")) and card[0] == "4"
    assert [len(g) for g in card.split(" ")] == [4, 4, 4, 4]
    iban = by_type["IBAN"][0]
    assert pii.iban_ok(iban) and iban.startswith("GB") and [len(g) for g in iban.split()] == [4, 4, 4, 4, 4, 2]
    assert iban != "GB82 WEST 1234 5698 7654 32"
    # phone keeps its punctuation; IP goes to a documentation range; token keeps prefix and length
    phone = next(v for v in by_type["PHONE"])
    assert phone != "(212) 555-0198" and phone[0] == "(" and phone[4:6] == ") " and phone[9] == "-"
    assert "81.2.69.160" not in out and any(net in out for net in ("192.0.2.", "198.51.100.", "203.0.113."))
    tok = by_type["GITHUB_TOKEN"][0]
    assert tok.startswith("ghp_") and len(tok) == len(GITHUB) and tok != GITHUB
    assert "536-22-1234" not in out
    # deterministic: the same salt gives the same text
    assert pii.redact(RED, fs, style="fake", salt=b"k") == out
    assert pii.redact(RED, fs, style="fake", salt=b"other") != out


def test_fake_cards_pass_luhn_for_every_brand():
    for number in ("4111111111111111", "5500000000000004", "378282246310005", "6011111111111117",
                   "3530111333300000", "30569309025904", "6759649826438453", "2200000000000004"):
        fake = pii.redact(number, [pii.Finding("CREDIT_CARD", 0, len(number), number)], "fake")
        assert len(fake) == len(number) and pii.luhn_ok(fake) and pii.card_brand(fake) == pii.card_brand(number)


def test_redact_keeps_offsets_of_later_findings():
    text = "a@b.io x c@d.io y 81.2.69.160 z"
    fs = pii.detect(text)
    out = pii.redact(text, reversed(fs))  # order of findings does not matter
    assert out == "<EMAIL> x <EMAIL> y <IP_ADDRESS> z"
    rows = [{"type": f.type, "start": f.start, "end": f.end, "hash": "ab" * 8} for f in fs]
    assert pii.redact(text, rows) == out


def test_redact_batch_matches_redact_row_by_row():
    texts = pa.array([RED, None, "nothing here", "mail x@y.org"], pa.string())
    _, findings = pii.scan_batch(pa.table({"text": texts}), CFG, b"k")
    for style in ("placeholder", "fake"):
        out = pii.redact_batch(texts, findings, style, salt=b"k")
        assert out.type == texts.type and len(out) == len(texts)
        rows = out.to_pylist()
        assert rows[1] is None and rows[2] == "nothing here"
        for t, f, r in zip(texts.to_pylist(), findings.to_pylist(), rows):
            if t is not None:
                assert r == pii.redact(t, f, style, salt=b"k")
    with pytest.raises(ValueError):
        pii.redact("x", [], style="blur")


# -- the prefilter drops nothing, and a quality floor on the labelled shared sets ----------------------------
def _presidio_records():
    return json.load(gzip.open(shared_path("pii/presidio_generated_large.json.gz")))


def _c4_docs():
    with gzip.open(shared_path("web_text/c4/c4-sample.00000-of-00001.json.gz"), "rt") as fh:
        return [json.loads(line)["text"] for line in fh]


def test_scan_batch_finds_what_detect_finds_on_real_text():
    texts = _c4_docs() + [r["full_text"] for r in _presidio_records()]
    _, findings = pii.scan_batch(pa.table({"text": texts}), CFG, b"k")
    for text, row in zip(texts, findings.to_pylist()):
        assert [(f["type"], f["start"], f["end"]) for f in row] == [(f.type, f.start, f.end) for f in pii.detect(text)]


def _score(pairs) -> dict[str, tuple[float, float]]:
    tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
    for gold, pred in pairs:
        used = set()
        for typ, s, e in pred:
            j = next((j for j, (gt, gs, ge) in enumerate(gold) if j not in used and gt == typ and s < ge and gs < e), None)
            if j is None:
                fp[typ] += 1
            else:
                used.add(j)
                tp[typ] += 1
        for j, (gt, _, _) in enumerate(gold):
            if j not in used:
                fn[gt] += 1
    out = {}
    for t in set(tp) | set(fp) | set(fn):
        out[t] = (tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else 1.0, tp[t] / (tp[t] + fn[t]) if tp[t] + fn[t] else 1.0)
    return out


PRESIDIO = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IP_ADDRESS": "IP_ADDRESS",
            "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "US_SSN": "US_SSN"}


def test_quality_floor_on_presidio_sentences():
    cfg = CFG.model_copy(update={"ip_public_only": False})  # their IPs include a private one
    pairs = []
    for r in _presidio_records():
        gold = [(PRESIDIO[s["entity_type"]], s["start_position"], s["end_position"])
                for s in r["spans"] if s["entity_type"] in PRESIDIO]
        pairs.append((gold, [(f.type, f.start, f.end) for f in pii.detect(r["full_text"], cfg)]))
    sc = _score(pairs)
    for t in ("EMAIL", "IP_ADDRESS", "CREDIT_CARD", "IBAN", "US_SSN"):
        assert sc[t][0] >= 0.95 and sc[t][1] >= 0.95, (t, sc[t])
    assert sc["PHONE"][0] >= 0.95 and sc["PHONE"][1] >= 0.85, sc["PHONE"]
    assert set(sc) <= set(PRESIDIO.values())  # nothing else (no secrets, no passwords) in plain sentences


def test_quality_floor_on_our_c4_labels():
    docs = _c4_docs()
    labels = json.loads((HERE / "data" / "pii_c4_labels.json").read_text())
    gold = collections.defaultdict(list)
    for sp in labels["spans"]:
        v = docs[sp["row"]][sp["start"]:sp["end"]]
        assert hashlib.sha1(v.encode()).hexdigest()[:8] == sp["sha1_8"]
        gold[sp["row"]].append((sp["type"], sp["start"], sp["end"]))
    sc = _score((gold.get(i, []), [(f.type, f.start, f.end) for f in pii.detect(d)]) for i, d in enumerate(docs))
    assert sc["EMAIL"] == (1.0, 1.0) and sc["IP_ADDRESS"] == (1.0, 1.0)
    assert sc["PHONE"][0] >= 0.97 and sc["PHONE"][1] >= 0.95, sc["PHONE"]
    assert set(sc) == {"EMAIL", "PHONE", "IP_ADDRESS"}  # no other type anywhere in the 1000 documents


def test_dolma_email_fixtures():
    base = shared_path("pii/dolma_pii_fixtures")
    docs = [json.loads(x) for x in gzip.open(base / "documents_000.json.gz", "rt")]
    attrs = {r["id"]: r["attributes"] for r in map(json.loads, gzip.open(base / "attributes_pii_000.json.gz", "rt"))}
    pairs = []
    for d in docs:
        a = attrs[d["id"]].get("pii", {})
        gold = [("EMAIL", s, e) for s, e, score in (a.get("email", []) if isinstance(a, dict) else []) if score >= 0.5]
        pairs.append((gold, [(f.type, f.start, f.end) for f in pii.detect(d["text"]) if f.type == "EMAIL"]))
    assert _score(pairs)["EMAIL"] == (1.0, 1.0)


# ---- issue 16: secrets and PII in the formats they are written in ---------------------------------------

_SK = "Hq3zP9vLk2Mn8Rt5Wx7Yb1Cd4Ef6Gh0Jk/Lm+Np2"  # 40 base64 characters, as an AWS secret access key


@pytest.mark.parametrize(
    "text",
    [
        f"AWS_SECRET_ACCESS_KEY={_SK}\n",
        f"export AWS_SECRET_ACCESS_KEY={_SK}\n",
        f'{{"Credentials": {{"AccessKeyId": "ASIAJ3KQ7XNB2MPLWQ5E", "SecretAccessKey": "{_SK}"}}}}',
        f"provider:\n  environment:\n    secretAccessKey: {_SK}\n",
        f"Access key ID: ASIAJ3KQ7XNB2MPLWQ5E\nSecret access key: {_SK}\n",
    ],
)
def test_aws_secret_keys_after_their_labels(text):
    assert ("AWS_SECRET_KEY", _SK) in found(text)


@pytest.mark.parametrize(
    "text, value",
    [
        ("DATABASE_URL=postgres://admin:S3cr3tPw9@db.internal.net:5432/app", "S3cr3tPw9"),
        ("smtp://mailer:%Aw9aV^O8Q@mail.acme-corp.net:587", "%Aw9aV^O8Q"),
        ("define('DB_PASSWORD', 'k8#Lm2pQ');", "k8#Lm2pQ"),
        ("<password>Tr0ub4dor7</password>", "Tr0ub4dor7"),
        ("Username: jsmith Password: Tr0ub4dor7 (please change it)", "Tr0ub4dor7"),
        ("mysql -u root -pS3cretPw9 shop_db < dump.sql", "S3cretPw9"),
        ("mysqldump --user=backup --password=S3cretPw9 shop > shop.sql", "S3cretPw9"),
        ("curl -u alice:S3cretPw9 https://api.host.com/v1", "S3cretPw9"),
        ("password=73918264\n", "73918264"),
        ("<password>376375418</password> call 0171 2345678", "376375418"),
        ("DB_PASSWORD=ab&cd9xyz\n", "ab&cd9xyz"),
        ("DB_PASSWORD=ab$cd9xyz\n", "ab$cd9xyz"),
        ("DB_PASSWORD=ab%cd9xyz\n", "ab%cd9xyz"),
        ("POSTGRES_PASSWORD: mnEFxkagOk\n", "mnEFxkagOk"),
    ],
)
def test_passwords_in_urls_configs_prose_and_command_lines(text, value):
    assert ("PASSWORD", value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "mysql -u root -p shop_db", "mysql -h db -P 3306 -u root", "DB_PASSWORD=${DB_PASSWORD}",
        "postgres://${DB_USER}:${DB_PASS}@db/app", "define('DB_PASSWORD', 'password_here');",
        "<password>********</password>", "password: getURLForKey", "password: userName",
        "https://example.org/login?user=x&password=&next=/",
    ],
)
def test_password_look_alikes(text):
    assert [t for t, _ in found(text) if t == "PASSWORD"] == []


@pytest.mark.parametrize(
    "text",
    ["SKU 431-22-0918", "Part No. 431-22-0918 in stock", "Item 431-22-0918, qty 2", "Order #431-22-0918",
     "Model 431-22-0918 replaces the old one.", "Cat. No. 067-62-0470"],
)
def test_catalogue_numbers_are_not_ssns(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "text", ["SSN: 431-22-0918", "SSN#: 099-30-6133", "Social Security Number: 431-22-0918", "SKU list; SSN 431-22-0918"]
)
def test_ssn_labels_win_over_catalogue_labels(text):
    assert [t for t, _ in found(text)] == ["US_SSN"]


@pytest.mark.parametrize(
    "text, value",
    [
        ("Tel. 030/1234567", "030/1234567"), ("Tel.: 0 30 / 12 34 56", "0 30 / 12 34 56"),
        ("Telefax: 040 / 123 456", "040 / 123 456"), ("M: 0171/2345678", "0171/2345678"),
        ("Mobil: 0612345678", "0612345678"), ("Tel. 06 1234 5678", "06 1234 5678"),
        ("Tel. 03-1234-5678", "03-1234-5678"), ("Fax 22 123 45 67", "22 123 45 67"), ("T: 08-123 456 78", "08-123 456 78"),
    ],
)
def test_phones_german_slash_style_and_labelled_national_formats(text, value):
    assert found(text) == [("PHONE", value)]


@pytest.mark.parametrize(
    "text",
    [
        "The reference printed on the receipt was 5145-0610-6727-2707.", "was 4532 0610 6727 2707.",
        "IBAN DE89 3704 0044 0532 0130 01",  # a bad check digit: no IBAN, and no phone in it either
        "12/05/2020 and 2019/2020", "https://host.org/0301/2345678",
    ],
)
def test_no_phone_inside_card_or_iban_like_runs(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    ["version 52.14.130.12", "Version: 52.14.130.12", "version is 52.14.130.12", "firmware version number 52.14.130.12",
     "Chrome/52.14.130.12 Safari", "build number: 52.14.130.12", "Upgrading to v52.14.130.12 fixed it"],
)
def test_four_part_versions_are_not_ip_addresses(text):
    assert found(text) == []


def test_an_address_after_a_server_word_is_still_found():
    assert found("server 52.14.130.12") == [("IP_ADDRESS", "52.14.130.12")]


@pytest.mark.parametrize("addr", ["user@bücher.de", "user@xn--bcher-kva.de", "info@müller-bau.at"])
def test_idn_email_domains(addr):
    assert found(f"Kontakt: {addr} (Mo-Fr)") == [("EMAIL", addr)]


def test_idn_and_punycode_spellings_hash_alike():
    assert pii.hash_value("EMAIL", "User@Bücher.de", b"k") == pii.hash_value("EMAIL", "user@xn--bcher-kva.de", b"k")


@pytest.mark.parametrize(
    "text",
    ["key AKIAXXXXXXXXXXXXXXXX", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY=your-secret-key-here",
     "password = your-key-here", "password: ********", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
)
def test_placeholder_keys_are_not_secrets(text):
    assert found(text) == []


@pytest.mark.parametrize(
    "text",
    ["Tel. 030/1234567", "0 30 / 12 34 56 ist unsere Nummer", "M: 0171/2345678", "user@bücher.de",
     "SecretAccessKey: " + _SK, "define('DB_PASSWORD', 'k8#Lm2pQ');", "<password>Tr0ub4dor7</password>",
     "postgres://admin:S3cr3tPw9@db.internal.net/app", "mysql -u root -pS3cretPw9 db", "curl -u alice:S3cretPw9 https://a.io/"],
)
def test_the_prefilter_selects_every_new_form(text):
    """scan_batch reads only the rows its RE2 prefilter selects: each new form must be among them."""
    assert found(text), text
    assert len(pii.candidate_rows(pa.array([text]), CFG)) == 1
