"""Tests for provenance.domains: PSL test vectors, host normalisation, URL hosts, offline operation.

Everything runs against the real tldextract snapshot; nothing is mocked except the network in the
subprocess test, where any socket use is made to fail loudly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
try:
    from provenance import domains
except ModuleNotFoundError:  # package not installed in this environment: use the source tree
    sys.path.insert(0, str(SRC))
    from provenance import domains

from provenance.domains import (
    attribute_hosts,
    host_from_url,
    normalize_host,
    public_suffix,
    registered_domain,
)

# --------------------------------------------------------------------------------------------------
# The Public Suffix List's own test vectors (publicsuffix/list tests/test_psl.txt, CC0).
# --------------------------------------------------------------------------------------------------

PSL_VECTORS_FILE = Path(__file__).parent / "data" / "psl_test_vectors.txt"
_ARG = r"(null|'[^']*')"
_CHECK = re.compile(rf"^checkPublicSuffix\({_ARG}, {_ARG}\);\s*$")


def _arg(token: str) -> str | None:
    return None if token == "null" else token[1:-1]


def _load_psl_vectors() -> list[tuple[str | None, str | None]]:
    vectors = []
    for line in PSL_VECTORS_FILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("//"):  # comments, including commented-out checks
            continue
        m = _CHECK.match(stripped)
        assert m is not None, f"unparsed line in {PSL_VECTORS_FILE.name}: {line!r}"
        vectors.append((_arg(m.group(1)), _arg(m.group(2))))
    return vectors


PSL_VECTORS = _load_psl_vectors()


def test_psl_vector_file_parsed_completely():
    text = PSL_VECTORS_FILE.read_text(encoding="utf-8")
    assert text.startswith("// Any copyright is dedicated to the Public Domain.")  # licence header kept
    assert len(PSL_VECTORS) == text.count("\ncheckPublicSuffix(") == 78
    assert (None, None) in PSL_VECTORS


@pytest.mark.parametrize(("host", "expected"), PSL_VECTORS, ids=[repr(h) for h, _ in PSL_VECTORS])
def test_psl_vector_registered_domain(host, expected):
    assert registered_domain(host) == expected


@pytest.mark.parametrize(("host", "expected"), PSL_VECTORS, ids=[repr(h) for h, _ in PSL_VECTORS])
def test_psl_vector_public_suffix_consistent(host, expected):
    # Whenever a registered domain exists, the public suffix is that domain minus its first label.
    if expected is not None:
        assert public_suffix(host) == expected.split(".", 1)[1]


def test_psl_vectors_via_attribute_hosts_in_punycode():
    """The hot path gives the same answers, in normalize_host (punycode) form."""
    hosts = [h for h, _ in PSL_VECTORS if h is not None]
    _, reg, _ = attribute_hosts(hosts)
    expected = {h: e for h, e in PSL_VECTORS if h is not None}
    failures = [
        (h, got, normalize_host(expected[h]) if expected[h] else None)
        for h, got in zip(hosts, reg)
        if got != (normalize_host(expected[h]) if expected[h] else None)
    ]
    assert failures == []


def test_mixed_idn_forms_match_rules():
    # Unicode and punycode labels in one name still match the rule ('公司.cn' == 'xn--55qx5d.cn').
    assert registered_domain("www.食狮.xn--55qx5d.cn") == "食狮.xn--55qx5d.cn"
    assert registered_domain("www.xn--85x722f.公司.cn") == "xn--85x722f.公司.cn"
    assert public_suffix("xn--85x722f.公司.cn") == "公司.cn"


# --------------------------------------------------------------------------------------------------
# Suffixes: multi-part, private section, unlisted TLDs, wildcards
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "registered", "suffix"),
    [
        ("bbc.co.uk", "bbc.co.uk", "co.uk"),
        ("www.news.bbc.co.uk", "bbc.co.uk", "co.uk"),
        ("co.uk", None, "co.uk"),
        ("x.com.au", "x.com.au", "com.au"),
        ("a.b.x.com.au", "x.com.au", "com.au"),
        ("com.au", None, "com.au"),
        ("forums.news.cnn.com", "cnn.com", "com"),
        # PRIVATE section: each platform user is a publisher of its own.
        ("foo.github.io", "foo.github.io", "github.io"),
        ("www.foo.github.io", "foo.github.io", "github.io"),
        ("github.io", None, "github.io"),
        ("xyz.blogspot.com", "xyz.blogspot.com", "blogspot.com"),
        ("a.xyz.blogspot.com", "xyz.blogspot.com", "blogspot.com"),
        ("blogspot.com", None, "blogspot.com"),
        # Default rule "*" for names whose TLD is not listed.
        ("intranet.corp", "intranet.corp", "corp"),
        ("localhost", None, "localhost"),
        ("x.y.za", "y.za", "za"),  # 'za' itself is not a rule, only 'co.za' etc.
        # A wildcard rule that does not cover the bare parent: '*.kobe.jp' does not match 'kobe.jp'.
        ("kobe.jp", "kobe.jp", "jp"),
        ("mm", None, "mm"),
        # Normalisation applies before the look-up.
        ("WWW.BBC.CO.UK.", "bbc.co.uk", "co.uk"),
        ("user@www.bbc.co.uk:443", "bbc.co.uk", "co.uk"),
        # IP literals and invalid hosts have neither.
        ("192.168.1.1", None, None),
        ("[::1]:8080", None, None),
        ("bad host.com", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_registered_domain_and_suffix(host, registered, suffix):
    assert registered_domain(host) == registered
    assert public_suffix(host) == suffix


def test_wildcard_under_non_terminal_branch():
    """Departure from tldextract: '*.futurecms.at' makes 'ex.futurecms.at' a suffix, even though
    '*.ex.futurecms.at' means the trie has a non-terminal 'ex' branch (tldextract answers 'futurecms.at')."""
    rules = domains._get_rules()
    if not {"futurecms.at", "ex.futurecms.at"} <= rules.wildcard:
        pytest.skip("the bundled PSL snapshot no longer has the *.futurecms.at / *.ex.futurecms.at rules")
    assert registered_domain("ex.futurecms.at") is None
    assert public_suffix("ex.futurecms.at") == "ex.futurecms.at"
    assert registered_domain("a.ex.futurecms.at") is None
    assert registered_domain("b.a.ex.futurecms.at") == "b.a.ex.futurecms.at"
    assert registered_domain("other.futurecms.at") is None
    assert registered_domain("b.other.futurecms.at") == "b.other.futurecms.at"


def test_agrees_with_tldextract_where_it_has_an_answer():
    """Cross-check against tldextract's own lookup (same snapshot) on hosts built from every PSL rule.

    The only allowed differences are the documented departures: lower case (inputs here are lower case
    already), the default rule (tldextract: no suffix) and the wildcard-under-a-branch case above.
    """
    import tldextract

    ex = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), include_psl_private_domains=True)
    hosts = set()
    for rule in ex.tlds:
        body = rule.lstrip("!").removeprefix("*.")
        hosts.update([body, f"x.{body}", f"w.x.{body}", f"www.{body}"])
    unexplained = []
    for host in sorted(hosts):
        theirs = ex(host)
        ours = registered_domain(host)
        if ours == (theirs.top_domain_under_public_suffix or None):
            continue
        if theirs.suffix == "":
            continue  # unlisted TLD: tldextract has no answer, we apply the default rule
        if ours is None and public_suffix(host) == host:
            # We say the whole host is a suffix: only legitimate via a wildcard rule on its parent.
            if host.split(".", 1)[1] in domains._get_rules().wildcard:
                continue
        unexplained.append((host, ours, theirs.top_domain_under_public_suffix))
    assert len(hosts) > 30_000
    assert unexplained == []


# --------------------------------------------------------------------------------------------------
# normalize_host
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # case, whitespace, trailing dot
        ("Example.COM", "example.com"),
        ("  www.example.com\n", "www.example.com"),
        ("example.com.", "example.com"),
        ("EXAMPLE.COM.", "example.com"),
        ("example.com..", None),  # only one trailing dot is the FQDN form
        (".example.com", None),
        ("a..b", None),
        (".", None),
        # ports and userinfo
        ("example.com:8080", "example.com"),
        ("example.com:", "example.com"),
        ("example.com:http", None),
        ("example.com:70000", None),
        ("user:pw@Example.com:8080", "example.com"),
        ("user@example.com", "example.com"),
        ("a@b@example.com", "example.com"),  # host follows the last '@'
        ("user@", None),
        # empty / invalid
        ("", None),
        ("   ", None),
        (None, None),
        ("exa mple.com", None),
        ("example.com/path", None),
        ("*.example.com", None),
        ("exa<mple.com", None),
        ("a\u3000b.com", None),  # ideographic space
        ("a" * 64 + ".com", None),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        (".".join(["a" * 63] * 4), None),  # 255 characters > 253
        # tolerated web reality
        ("my_host.example.com", "my_host.example.com"),
        ("ex%61mple.com", "example.com"),  # percent-encoded, as a URL parser decodes it
        # IPv4 literals (canonical, WHATWG number forms)
        ("192.168.0.1", "192.168.0.1"),
        ("192.168.0.1:80", "192.168.0.1"),
        ("192.168.0.1.", "192.168.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("256.1.1.1", None),
        ("1.2.3.4.5", None),
        ("１２７.０.０.１", "127.0.0.1"),  # full-width digits (UTS #46 maps them)
        # IPv6 literals (compressed, no brackets)
        ("[::1]", "::1"),
        ("[::1]:443", "::1"),
        ("[2001:DB8:0:0:0:0:0:1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("user@[2001:db8::1]:80", "2001:db8::1"),
        ("[::ffff:192.0.2.1]", "::ffff:c000:201"),
        ("[example.com]", None),
        ("[::1", None),
        ("[::1]x", None),
        ("[::1]:port", None),
        ("::zz", None),
        # IDN: one ASCII (punycode) form
        ("Bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example.", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"),
        ("faß.de", "xn--fa-hia.de"),  # IDNA 2008 (non-transitional): ß is kept, not 'fass'
        ("例子。测试。", "xn--fsqu00a.xn--0zwm56d"),  # ideographic full stops
        ("ｅｘａｍｐｌｅ.ＣＯＭ", "example.com"),  # full-width forms
        ("☃.net", "xn--n3h.net"),  # not IDNA 2008 (symbol): IDNA 2003 fallback
        ("my_host.bücher.de", "my_host.xn--bcher-kva.de"),  # '_' is not IDNA 2008: per-label encoding
        ("食狮.公司.cn", "xn--85x722f.xn--55qx5d.cn"),
    ],
)
def test_normalize_host(raw, expected):
    assert normalize_host(raw) == expected


def test_idn_unicode_and_punycode_normalise_identically():
    pairs = [
        ("Bücher.example", "xn--bcher-kva.example"),
        ("食狮.中国", "xn--85x722f.xn--fiqs8s"),
        ("www.食狮.公司.cn", "www.xn--85x722f.xn--55qx5d.cn"),
        ("München.DE", "xn--mnchen-3ya.de"),
    ]
    for unicode_form, puny_form in pairs:
        assert normalize_host(unicode_form) == normalize_host(puny_form) == puny_form.lower()
        n, r, s = attribute_hosts([unicode_form, puny_form])
        assert n[0] == n[1] and r[0] == r[1] and s[0] == s[1]
    # registered_domain keeps the input's form (as the PSL vectors require) ...
    assert registered_domain("www.Bücher.example") == "bücher.example"
    assert registered_domain("www.xn--bcher-kva.example") == "xn--bcher-kva.example"
    # ... while the hot path is always punycode.
    assert attribute_hosts(["www.Bücher.example"]) == (
        ["www.xn--bcher-kva.example"],
        ["xn--bcher-kva.example"],
        ["example"],
    )


def test_ascii_hosts_never_call_idna(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("idna called for an ASCII host")

    monkeypatch.setattr(domains.idna, "encode", boom)
    monkeypatch.setattr(domains.idna, "uts46_remap", boom)
    domains._get_rules()  # rule loading may use idna; what matters is the per-host path
    assert normalize_host("WWW.Example.co.uk.:80") == "www.example.co.uk"
    assert registered_domain("xn--85x722f.xn--55qx5d.cn") == "xn--85x722f.xn--55qx5d.cn"
    assert attribute_hosts(["ascii-only-host-for-idna-test.example.org"]) == (
        ["ascii-only-host-for-idna-test.example.org"],
        ["example.org"],
        ["org"],
    )


# --------------------------------------------------------------------------------------------------
# host_from_url
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.com/a/b", "www.example.com"),
        ("HTTPS://WWW.EXAMPLE.COM/", "www.example.com"),
        ("http://example.com", "example.com"),
        ("http://example.com.:8080/x", "example.com"),
        ("http://user:pw@example.com:8080/x", "example.com"),
        ("http://user@evil.example#@good.example/", "evil.example"),  # '#' ends the authority
        ("http://a@b@example.com/", "example.com"),
        ("http://example.com?q=1", "example.com"),
        ("http://example.com#frag", "example.com"),
        ("http://example.com\\path", "example.com"),  # backslash as a path separator, as browsers do
        ("http://[::1]:8080/x", "::1"),
        ("http://[2001:DB8::1]/", "2001:db8::1"),
        ("http://127.0.0.1:8000/", "127.0.0.1"),
        ("http://Bücher.example/straße", "xn--bcher-kva.example"),
        ("https://foo.github.io/repo", "foo.github.io"),
        ("//cdn.example.com/lib.js", "cdn.example.com"),
        ("  https://example.com/  ", "example.com"),
        ("svn+ssh://host.example.org/repo", "host.example.org"),
        # no host
        ("example.com/path", None),  # no scheme, no '//': a relative path
        ("www.example.com", None),
        ("localhost:8080/x", None),  # 'localhost:' parses as a scheme without '//'
        ("mailto:someone@example.com", None),
        ("file:///etc/passwd", None),
        ("http://", None),
        ("http:///x", None),
        ("http://exa mple.com/", None),
        ("http://[::1/", None),
        ("", None),
        (None, None),
    ],
)
def test_host_from_url(url, expected):
    assert host_from_url(url) == expected


# --------------------------------------------------------------------------------------------------
# attribute_hosts
# --------------------------------------------------------------------------------------------------


def test_attribute_hosts_aligned():
    hosts = [
        "WWW.BBC.CO.UK",
        None,
        "bad host",
        "foo.github.io:443",
        "[::1]",
        "10.0.0.1",
        "b.example.example",
        "co.uk",
        "Bücher.example",
    ]
    norm, reg, suf = attribute_hosts(hosts)
    assert norm == [
        "www.bbc.co.uk",
        None,
        None,
        "foo.github.io",
        "::1",
        "10.0.0.1",
        "b.example.example",
        "co.uk",
        "xn--bcher-kva.example",
    ]
    assert reg == [
        "bbc.co.uk",
        None,
        None,
        "foo.github.io",
        None,
        None,
        "example.example",
        None,
        "xn--bcher-kva.example",
    ]
    assert suf == ["co.uk", None, None, "github.io", None, None, "example", "co.uk", "example"]
    assert attribute_hosts([]) == ([], [], [])


def test_attribute_hosts_memoised_per_host():
    domains.clear_cache()
    hosts = [f"h{i}.memo-test.example.com" for i in range(50)]
    first = attribute_hosts(hosts)
    info = domains._attribute_one.cache_info()
    assert (info.misses, info.hits) == (50, 0)
    assert attribute_hosts(hosts) == first
    info = domains._attribute_one.cache_info()
    assert (info.misses, info.hits) == (50, 50)
    assert info.maxsize == domains.ATTRIBUTION_CACHE_SIZE


def test_scalar_and_batch_agree():
    hosts = ["a.b.example.co.uk", "x.blogspot.com.", "User@Example.ORG:80", "www.ck", "c.kobe.jp"]
    norm, reg, suf = attribute_hosts(hosts)
    assert norm == [normalize_host(h) for h in hosts]
    assert reg == [registered_domain(h) for h in hosts]
    assert suf == [public_suffix(h) for h in hosts]


# --------------------------------------------------------------------------------------------------
# Offline: no network, no cache files, environment ignored
# --------------------------------------------------------------------------------------------------

_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            no_network()

    socket.socket = NoSocket
    socket.create_connection = no_network
    socket.getaddrinfo = no_network

    from provenance import domains
    hosts = json.loads(sys.argv[1])
    print(json.dumps({
        "registered": [domains.registered_domain(h) for h in hosts],
        "attributed": domains.attribute_hosts(hosts),
    }))
    """
)


@pytest.mark.parametrize("suffix_list_env", [None, "https://publicsuffix.org/list/public_suffix_list.dat"])
def test_no_network_and_no_disk_cache(tmp_path, suffix_list_env):
    """In a fresh interpreter with sockets disabled, the PSL still loads (bundled snapshot) and nothing
    is written to any cache directory, whether or not TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS is set."""
    home = tmp_path / "home"
    cache = tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TLDEXTRACT_")}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(cache),
        TLDEXTRACT_CACHE=str(cache / "tldextract"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")])),
    )
    if suffix_list_env is not None:
        env["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = suffix_list_env
    hosts = ["www.example.co.uk", "foo.github.io", "b.example.example", "www.食狮.中国", "city.kobe.jp"]
    proc = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT, json.dumps(hosts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["registered"] == [
        "example.co.uk",
        "foo.github.io",
        "example.example",
        "食狮.中国",
        "city.kobe.jp",
    ]
    assert out["attributed"][1] == [
        "example.co.uk",
        "foo.github.io",
        "example.example",
        "xn--85x722f.xn--fiqs8s",
        "city.kobe.jp",
    ]
    assert "network access attempted" not in proc.stderr
    assert "Public Suffix List" not in proc.stderr  # no tldextract fetch warnings
    assert list(home.rglob("*")) == [] and list(cache.rglob("*")) == []
