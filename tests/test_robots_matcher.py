"""RFC 9309 robots.txt matcher: the RFC's examples, the behaviours google/robotstxt's robots_test.cc
documents (rewritten here as inputs and expectations), the departures from protego 0.7, and every real
file of ../shared/data/robots_txt (skipped when that folder is absent)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from provenance.robots.matcher import Decision, RobotsTxt, Rule, is_allowed, normalize_path, path_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "robots_txt"


def allowed(body, agent, url):
    return is_allowed(body, agent, url)


# --------------------------------------------------------------------------------------------------------
# RFC 9309 examples
# --------------------------------------------------------------------------------------------------------

RFC_SIMPLE = (
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
)


@pytest.mark.parametrize(
    "agent,path,expected",
    [
        # "*": .gif anywhere (the "*" also matches the leading "/"), /example/ blocked, /publications/ open
        ("SomeBot", "/image.gif", False),
        ("SomeBot", "/a/b/c.gif", False),
        ("SomeBot", "/image.gifv", True),
        ("SomeBot", "/example/x", False),
        ("SomeBot", "/publications/x", True),
        ("SomeBot", "/publications/x.gif", True),  # "/publications/" (14) is longer than "*.gif$" (6)
        ("SomeBot", "/other", True),
        # foobot: only the two allowed prefixes
        ("foobot", "/", False),
        ("foobot", "/example/page.html", True),
        ("foobot", "/example/page.html?x=1", True),
        ("foobot", "/example/allowed.gif", True),
        ("foobot", "/example/other.gif", False),
        ("FooBot/2.0", "/other", False),
        # barbot and bazbot share one group
        ("barbot", "/example/page.html", False),
        ("bazbot", "/example/page.html", False),
        ("bazbot", "/example/other", True),
        ("bazbot", "/x.gif", True),
        # quxbot: an empty group at the end of the file allows everything (and is not the "*" group)
        ("quxbot", "/example/x", True),
        ("quxbot", "/x.gif", True),
    ],
)
def test_rfc9309_simple_example(agent, path, expected):
    r = RobotsTxt.parse(RFC_SIMPLE)
    assert r.allowed(agent, path) is expected
    assert r.decide(agent, path).allowed is expected


def test_rfc9309_simple_example_groups():
    r = RobotsTxt.parse(RFC_SIMPLE)
    assert r.user_agents == ["*", "foobot", "barbot", "bazbot", "quxbot"]
    assert r.group_key("barbot") == r.group_key("BazBot") != r.group_key("foobot")
    d = r.decide("quxbot", "/example/x")
    assert d == Decision(True, None, "quxbot")
    assert r.group_key("quxbot") is not None and r.group_key("quxbot") != r.group_key("other")
    assert r.decide("bazbot", "/example/page.html").group == "barbot, bazbot"
    d = r.decide("foobot", "/example/page.html")
    assert d.rule == Rule(True, "/example/page.html", 8, "Allow:/example/page.html")


def test_rfc9309_longest_match_example():
    body = "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n"
    r = RobotsTxt.parse(body)
    d = r.decide("foobot", "/example/page/disallowed.gif")
    assert not d.allowed and d.rule.pattern == "/example/page/disallowed.gif" and d.rule.line == 3
    assert r.allowed("foobot", "/example/page/other.gif")


def test_rfc9309_groups_for_the_same_agent_are_merged():
    body = "user-agent: ExampleBot\ndisallow: /foo\ndisallow: /bar\n\nuser-agent: ExampleBot\ndisallow: /baz\n"
    r = RobotsTxt.parse(body)
    assert [x.pattern for x in r.rules_of("ExampleBot")] == ["/foo", "/bar", "/baz"]
    for p in ("/foo", "/bar", "/baz/x"):
        assert not r.allowed("examplebot", p)
    assert r.allowed("ExampleBot", "/qux")


def test_rfc9309_star_group_only_when_no_group_matches():
    body = "user-agent: *\ndisallow: /foo\ndisallow: /bar\n\nuser-agent: BazBot\ndisallow: /baz\n"
    r = RobotsTxt.parse(body)
    assert not r.allowed("ExampleBot", "/foo") and not r.allowed("ExampleBot", "/bar")
    assert r.allowed("ExampleBot", "/baz")
    assert r.allowed("BazBot", "/foo") and not r.allowed("BazBot", "/baz")
    assert r.decide("ExampleBot", "/foo").group == "*"
    # no "*" group and no matching group: no rules apply
    assert RobotsTxt.parse("user-agent: BazBot\ndisallow: /\n").decide("ExampleBot", "/x") == Decision(True, None, None)
    assert RobotsTxt.parse("user-agent: BazBot\ndisallow: /\n").group_key("ExampleBot") is None


@pytest.mark.parametrize(
    "pattern,url,expected_match",
    [
        # RFC 9309 §2.2.2 table: path in robots.txt, URI path to match
        ("/foo/bar?baz=quz", "/foo/bar?baz=quz", True),
        ("/foo/bar/\u30c4", "/foo/bar/%E3%83%84", True),
        ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", True),
        ("/foo/bar/%62%61%7A", "/foo/bar/baz", True),  # Google's ID_Encoding says no: we follow the RFC
        ("/%7Efoo", "/~foo", True),
        ("/~foo", "/%7efoo", True),
        ("/%aa", "/%AA", True),  # hex case
        ("/a%2Fb", "/a%2fb", True),
        ("/a%2Fb", "/a/b", False),  # reserved characters and their escapes stay distinct
        ("/a%3Fb", "/a?b", False),
        # RFC 9309 §2.2.3: special characters matched verbatim are percent-encoded in the pattern
        ("/path/file-with-a-%2A.html", "/path/file-with-a-*.html", True),
        ("/path/file-with-a-%2A.html", "/path/file-with-a-x.html", False),
        ("/path/foo-%24", "/path/foo-$", True),
    ],
)
def test_rfc9309_percent_encoding(pattern, url, expected_match):
    r = RobotsTxt.parse(f"User-agent: *\nDisallow: /\nAllow: {pattern}\n")
    assert r.allowed("bot", url) is expected_match
    assert is_allowed(r"User-agent: *" + "\nDisallow: /\nAllow: " + pattern, "bot", "https://example.com" + url) is expected_match


@pytest.mark.parametrize(
    "pattern,path,expected_match",
    [
        # a "%" that starts no escape is the literal "%" octet (RFC 9309 compares octets; Google keeps it)
        ("/%", "/%E2%80%A6", True),  # mcmaster.com
        ("/%", "/%25", True),
        ("/%", "/%zz", True),
        ("/%", "/x", False),
        ("/itm/*/%", "/itm/title/%E2%80%A6", True),  # ebay.com
        ("/itm/*/%", "/itm/title/123", False),
        ("/coupons/*cached40%$", "/coupons/a-cached40%", True),  # groupon.com
        ("/coupons/*cached40%$", "/coupons/a-cached40%25", False),
        ("/g/*/%*", "/g/x/%C3%A9", True),  # adorama.com
        ("/a%25", "/a%zz", False),  # an escaped "%" is not a stray one (as Google)
        ("/a%25", "/a%25", True),
        ("/%", "/%7Efoo", False),  # the unreserved escape is decoded first: "/~foo"
        ("/%4", "/%4", True),
        ("/%4", "/%41", False),  # "/A"
    ],
)
def test_stray_percent_is_a_literal_octet(pattern, path, expected_match):
    body = f"User-agent: *\nAllow: /\nDisallow: {pattern}\n"
    r = RobotsTxt.parse(body)
    assert r.allowed("bot", path) is not expected_match
    assert is_allowed(body, "bot", "https://example.com" + path) is not expected_match
    al, _ = r.decide_many("bot", pa.array([path, "/other"]))
    assert al.to_pylist() == [not expected_match, True]


def test_is_allowed_exported_from_the_package():
    import provenance.robots as robots

    assert robots.is_allowed is is_allowed
    assert not robots.is_allowed("User-agent: *\nDisallow: /%\n", "GPTBot", "https://www.mcmaster.com/%E2%80%A6")


def test_rfc9309_reserved_characters_as_written():
    # the RFC's table row "/foo/bar?baz=https://foo.bar": reserved characters match as written (as Google)
    r = RobotsTxt.parse("User-agent: *\nDisallow: /\nAllow: /foo/bar?baz=https://foo.bar\n")
    assert r.allowed("bot", "/foo/bar?baz=https://foo.bar")
    assert not r.allowed("bot", "/foo/bar?baz=https%3A%2F%2Ffoo.bar")


def test_normalisation_of_patterns_and_paths():
    assert normalize_path("/path/file-with-a-*.html") == "/path/file-with-a-%2A.html"
    assert normalize_path("/caf%c3%a9") == normalize_path("/café") == "/caf%C3%A9"
    assert normalize_path("/100%") == "/100%" and normalize_path("/%zz%4") == "/%zz%4"  # literal "%"
    assert normalize_path("/%25") == "/%25" and normalize_path("/%ツ") == "/%%E3%83%84"
    assert normalize_path("/a b\"<>") == "/a%20b%22%3C%3E"
    assert normalize_path("/x#frag") == "/x" and normalize_path("") == "/" and normalize_path("a") == "/a"
    r = RobotsTxt.parse("User-agent: *\nDisallow: /caf%c3%a9/*.PDF$\nDisallow: /*$api\nDisallow: /ツ\n")
    assert [x.pattern for x in r.rules_of("x")] == ["/caf%C3%A9/*.PDF$", "/%E3%83%84", "/*%24api"]


def test_robots_txt_is_implicitly_allowed():
    r = RobotsTxt.parse("User-agent: *\nDisallow: /\n")
    assert r.decide("bot", "/robots.txt") == Decision(True, None, "*")
    assert not r.allowed("bot", "/robots.txt.bak")
    assert not r.allowed("bot", "/robots.txt?x=1")  # another URI
    al, ix = r.decide_many("bot", pa.array(["/robots.txt", "/x"]))
    assert al.to_pylist() == [True, False] and ix.to_pylist() == [-1, 0]


def test_empty_disallow_and_rules_outside_groups():
    assert allowed("User-agent: *\nDisallow:\n", "bot", "http://h/x")
    assert allowed("User-agent: *\nDisallow: \n", "bot", "http://h/")
    r = RobotsTxt.parse("Disallow: /\nAllow: /x\n\nUser-agent: *\nDisallow: /private\n")
    assert r.allowed("bot", "/") and not r.allowed("bot", "/private/x")
    assert [x.line for x in r.rules_of("bot")] == [5]


def test_parse_limit_500_kib():
    pad = "# " + "x" * 1000 + "\n"
    head = "User-agent: *\n" + pad * 400  # ~400 KiB
    body = head + "Disallow: /before\n" + pad * 200 + "Disallow: /after\n"
    assert len(body.encode()) > 500 * 1024
    for b in (body, body.encode()):
        r = RobotsTxt.parse(b)
        assert not r.allowed("bot", "/before")
        assert r.allowed("bot", "/after")  # beyond the first 512,000 octets


def test_matching_is_case_sensitive_and_anchored():
    r = RobotsTxt.parse("User-agent: *\nDisallow: /Fish\n")
    assert not r.allowed("bot", "/Fish.asp") and r.allowed("bot", "/fish.asp") and r.allowed("bot", "/catFish")


# --------------------------------------------------------------------------------------------------------
# google/robotstxt robots_test.cc behaviours
# --------------------------------------------------------------------------------------------------------


def test_google_system_test():
    body = "user-agent: FooBot\ndisallow: /\n"
    assert allowed("", "FooBot", "")  # empty robots.txt: everything allowed
    assert allowed(body, "", "")  # empty agent: no group applies
    assert not allowed(body, "FooBot", "")  # empty url is "/"
    assert allowed("", "", "")


def test_google_line_syntax_line():
    url = "http://foo.bar/x/y"
    assert not allowed("user-agent: FooBot\ndisallow: /\n", "FooBot", url)
    assert allowed("foo: FooBot\nbar: /\n", "FooBot", url)
    # Google-specific: a missing colon is accepted when the line is exactly two words
    assert not allowed("user-agent FooBot\ndisallow /\n", "FooBot", url)
    assert allowed("user-agent FooBot\ndisallow / now\n", "FooBot", url)  # three words: not a rule


def test_google_line_syntax_groups():
    body = (
        "allow: /foo/bar/\n\nuser-agent: FooBot\ndisallow: /\nallow: /x/\nuser-agent: BarBot\ndisallow: /\n"
        "allow: /y/\n\n\nallow: /w/\nuser-agent: BazBot\n\nuser-agent: FooBot\nallow: /z/\ndisallow: /\n"
    )
    r = RobotsTxt.parse(body)
    assert r.allowed("FooBot", "/x/b") and r.allowed("FooBot", "/z/d") and not r.allowed("FooBot", "/y/c")
    assert r.allowed("BarBot", "/y/c") and r.allowed("BarBot", "/w/a") and not r.allowed("BarBot", "/z/d")
    assert r.allowed("BazBot", "/z/d")  # BazBot shares the last group with FooBot
    for agent in ("FooBot", "BarBot", "BazBot"):  # the rule before any group is ignored
        assert not r.allowed(agent, "/foo/bar/")


@pytest.mark.parametrize("other", ["Sitemap: https://foo.bar/sitemap", "Invalid-Unknown-Line: unknown",
                                   "Crawl-delay: 5", "Content-Signal: search=yes, ai-train=no"])
def test_google_non_group_lines_do_not_end_a_group(other):
    body = f"User-agent: BarBot\n{other}\nUser-agent: *\nDisallow: /\n"
    assert not allowed(body, "FooBot", "http://foo.bar/")
    assert not allowed(body, "BarBot", "http://foo.bar/")


@pytest.mark.parametrize("body", [
    "USER-AGENT: FooBot\nALLOW: /x/\nDISALLOW: /\n",
    "user-agent: FooBot\nallow: /x/\ndisallow: /\n",
    "uSeR-aGeNt: FooBot\nAlLoW: /x/\ndIsAlLoW: /\n",
])
def test_google_line_names_case_insensitive(body):
    assert allowed(body, "FooBot", "http://foo.bar/x/y") and not allowed(body, "FooBot", "http://foo.bar/a/b")


@pytest.mark.parametrize("value", ["FOO BAR", "foo bar", "FoO bAr"])
@pytest.mark.parametrize("agent", ["Foo", "foo"])
def test_google_user_agent_value_case_insensitive(value, agent):
    body = f"User-Agent: {value}\nAllow: /x/\nDisallow: /\n"
    assert allowed(body, agent, "http://foo.bar/x/y") and not allowed(body, agent, "http://foo.bar/a/b")


def test_google_accept_user_agent_up_to_first_space():
    body = "User-Agent: *\nDisallow: /\nUser-Agent: Foo Bar\nAllow: /x/\nDisallow: /\n"
    assert allowed(body, "Foo", "http://foo.bar/x/y")
    # Google's callers must pass a bare token and its test expects "Foo Bar" to fall back to "*";
    # our agent strings are reduced to their product token too, so "Foo Bar" is "foo".
    assert allowed(body, "Foo Bar", "http://foo.bar/x/y")


@pytest.mark.parametrize("value,token", [
    ("Foobot", "foobot"), ("Foobot-Bar", "foobot-bar"), ("Foo_Bar", "foo_bar"), ("Foobot/2.1", "foobot"),
    (" Foobot ", "foobot"), ("Foobot Bar", "foobot"), ("Googlebot-Image/1.0", "googlebot-image"),
    ("MJ12bot", "mj12bot"), ("AI2Bot", "ai2bot"), ("* # all", "*"), ("* Googlebot", "*"), ("Foobot*", "foobot"),
])
def test_product_tokens(value, token):
    r = RobotsTxt.parse(f"User-agent: {value}\nDisallow: /\n")
    assert r.user_agents == [token]
    assert not r.allowed(token if token != "*" else "AnyBot", "/x")


@pytest.mark.parametrize("value", ["*bot", "ツ", "\"GPTBot\"", "", "/GPTBot"])
def test_user_agent_values_naming_nobody(value):
    r = RobotsTxt.parse(f"User-agent: {value}\nDisallow: /\n")
    assert r.allowed("Foobot", "/x") and r.allowed("GPTBot", "/x") and r.allowed("bot", "/x")


def test_google_global_groups_secondary():
    url = "/x/y"
    assert RobotsTxt.parse("").allowed("FooBot", url)
    g = RobotsTxt.parse("user-agent: *\nallow: /\nuser-agent: FooBot\ndisallow: /\n")
    assert not g.allowed("FooBot", url) and g.allowed("BarBot", url)
    s = RobotsTxt.parse("user-agent: FooBot\nallow: /\nuser-agent: BarBot\ndisallow: /\nuser-agent: BazBot\ndisallow: /\n")
    assert s.allowed("QuxBot", url)


def test_google_allow_disallow_value_case_sensitive():
    assert not allowed("user-agent: FooBot\ndisallow: /x/\n", "FooBot", "http://foo.bar/x/y")
    assert allowed("user-agent: FooBot\ndisallow: /X/\n", "FooBot", "http://foo.bar/x/y")


@pytest.mark.parametrize("body,url,expected", [
    ("disallow: /x/page.html\nallow: /x/\n", "/x/page.html", False),
    ("allow: /x/page.html\ndisallow: /x/\n", "/x/page.html", True),
    ("allow: /x/page.html\ndisallow: /x/\n", "/x/", False),
    ("disallow: \nallow: \n", "/x/page.html", True),
    ("disallow: /\nallow: /\n", "/x/page.html", True),  # equal patterns: allow wins
    ("disallow: /x\nallow: /x/\n", "/x", False),
    ("disallow: /x\nallow: /x/\n", "/x/", True),
    ("disallow: /x/page.html\nallow: /x/page.html\n", "/x/page.html", True),
    ("allow: /page\ndisallow: /*.html\n", "/page.html", False),
    ("allow: /page\ndisallow: /*.html\n", "/page", True),
    ("allow: /x/page.\ndisallow: /*.html\n", "/x/page.html", True),
    ("allow: /x/page.\ndisallow: /*.html\n", "/x/y.html", False),
])
def test_google_longest_match(body, url, expected):
    r = RobotsTxt.parse("user-agent: FooBot\n" + body)
    assert r.allowed("FooBot", url) is expected
    al, _ = r.decide_many("FooBot", pa.array([url]))
    assert al.to_pylist() == [expected]


def test_google_longest_match_specific_group_wins():
    body = "User-agent: *\nDisallow: /x/\nUser-agent: FooBot\nDisallow: /y/\n"
    assert allowed(body, "FooBot", "http://foo.bar/x/page") and not allowed(body, "FooBot", "http://foo.bar/y/page")


def test_google_encoding():
    body = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar?qux=taz&baz=http://foo.bar?tar&par\n"
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar?qux=taz&baz=http://foo.bar?tar&par")
    body = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/ツ\n"
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/%E3%83%84")
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/ツ")  # Google: no (its caller must encode URLs)
    body = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%E3%83%84\n"
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/%E3%83%84")
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/ツ")  # Google: no
    body = "User-agent: FooBot\nDisallow: /\nAllow: /foo/bar/%62%61%7A\n"
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/%62%61%7A")
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar/baz")  # RFC 9309 table; Google: no


def test_google_special_characters():
    body = "User-agent: FooBot\nDisallow: /foo/bar/quz\nAllow: /foo/*/qux\n"
    assert not allowed(body, "FooBot", "http://foo.bar/foo/bar/quz")
    for u in ("/foo/quz", "/foo//quz", "/foo/bax/quz"):
        assert allowed(body, "FooBot", "http://foo.bar" + u)
    body = "User-agent: FooBot\nDisallow: /foo/bar$\nAllow: /foo/bar/qux\n"
    assert not allowed(body, "FooBot", "http://foo.bar/foo/bar")
    for u in ("/foo/bar/qux", "/foo/bar/", "/foo/bar/baz"):
        assert allowed(body, "FooBot", "http://foo.bar" + u)
    body = "User-agent: FooBot\n# Disallow: /\nDisallow: /foo/quz#qux\nAllow: /\n"
    assert allowed(body, "FooBot", "http://foo.bar/foo/bar")
    assert not allowed(body, "FooBot", "http://foo.bar/foo/quz")


def test_google_index_html_is_directory():
    body = "User-Agent: *\nAllow: /allowed-slash/index.html\nDisallow: /\n"
    assert allowed(body, "foobot", "http://foo.com/allowed-slash/")
    assert not allowed(body, "foobot", "http://foo.com/allowed-slash/index.htm")
    assert allowed(body, "foobot", "http://foo.com/allowed-slash/index.html")
    assert not allowed(body, "foobot", "http://foo.com/anyother-url")
    assert not allowed(body, "foobot", "http://foo.com/allowed-slash/other")
    d = RobotsTxt.parse(body).decide("foobot", "/allowed-slash/")
    assert d.rule == Rule(True, "/allowed-slash/$", 2, "Allow: /allowed-slash/index.html")


def test_google_line_too_long():
    max_line = 2083 * 8
    # a disallow pattern cut off at the line limit still matches as cut
    longline = "/x/" + "a" * (max_line - 3 - len("disallow: ") + 1 - 3)
    body = "user-agent: FooBot\ndisallow: " + longline + "/qux\n"
    assert allowed(body, "FooBot", "http://foo.bar/fux")
    assert not allowed(body, "FooBot", "http://foo.bar" + longline + "/fux")
    # two allows: one matched exactly, one cut off
    body = "user-agent: FooBot\ndisallow: /\n"
    a = "/x/" + "a" * (max_line - 3 - len("allow: ") + 1 - 3)
    b = "/x/" + "b" * (max_line - 3 - len("allow: ") + 1 - 3)
    body += "allow: " + a + "/qux\nallow: " + b + "/qux\n"
    assert not allowed(body, "FooBot", "http://foo.bar/")
    assert allowed(body, "FooBot", "http://foo.bar" + a + "/qux")
    assert allowed(body, "FooBot", "http://foo.bar" + b + "/fux")
    # the cut is in octets: the same with a multi-octet character
    r = RobotsTxt.parse("user-agent: FooBot\ndisallow: /" + "é" * 9000 + "\n")
    (rule,) = r.rules_of("FooBot")  # 16,663 octets kept: "disallow: /" and 8,326 two-octet characters
    assert rule.pattern == "/" + "%C3%A9" * ((max_line - 1 - len("disallow: /")) // 2)


@pytest.mark.parametrize("body", [
    "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /\n",
    "User-Agent: foo\r\nAllow: /some/path\r\nUser-Agent: bar\r\n\r\n\r\nDisallow: /\r\n",
    "User-Agent: foo\rAllow: /some/path\rUser-Agent: bar\r\r\rDisallow: /\r",
    "User-Agent: foo\nAllow: /some/path\nUser-Agent: bar\n\n\nDisallow: /",
    "User-Agent: foo\nAllow: /some/path\r\nUser-Agent: bar\n\r\n\nDisallow: /",
])
def test_google_line_numbers_counted_correctly(body):
    r = RobotsTxt.parse(body)
    assert [x.line for x in r.rules_of("foo")] == [2]
    assert [x.line for x in r.rules_of("bar")] == [6]
    assert r.user_agents == ["foo", "bar"]


@pytest.mark.parametrize("prefix,works", [
    (b"\xef\xbb\xbf", True), (b"\xef\xbb", True), (b"\xef", True),  # full and partial BOMs are skipped
    (b"\xef\x11\xbf", False),  # a broken BOM makes the first line garbage
])
def test_google_utf8_bom_is_skipped(prefix, works):
    r = RobotsTxt.parse(prefix + b"User-Agent: foo\nAllow: /AnyValue\nDisallow: /\n")
    assert (r.user_agents == ["foo"]) is works
    assert r.allowed("foo", "/x") is not works


def test_bom_in_str_and_in_the_middle():
    assert not RobotsTxt.parse("\ufeffUser-agent: *\nDisallow: /\n").allowed("x", "/a")
    r = RobotsTxt.parse(b"User-Agent: foo\n\xef\xbb\xbfAllow: /AnyValue\n")
    assert r.user_agents == ["foo"] and r.rules_of("foo") == []


def test_google_sitemap_anywhere_and_extensions():
    body = ("Sitemap: http://foo.bar/sitemap.xml\nUser-Agent: foo\nAllow: /some/path\nCrawl-delay: 3\n"
            "User-Agent: bar\nUser-Agent: *\nContent-Signal: search=yes, ai-train=no\nContent-Usage: train-ai=n\n"
            "Disallow: /x\n\nnoindex: /y\nSitemap: http://foo.bar/s2.xml\n<a href=\"x\">: y\n")
    r = RobotsTxt.parse(body)
    assert r.extensions == [
        (1, "sitemap", "http://foo.bar/sitemap.xml", None),
        (4, "crawl-delay", "3", ("foo",)),
        (7, "content-signal", "search=yes, ai-train=no", ("bar", "*")),
        (8, "content-usage", "train-ai=n", ("bar", "*")),
        (11, "noindex", "/y", ("bar", "*")),
        (12, "sitemap", "http://foo.bar/s2.xml", None),
    ]
    assert not r.allowed("bar", "/x") and r.allowed("foo", "/x")


@pytest.mark.parametrize("url,path", [
    ("", "/"), ("http://www.example.com", "/"), ("http://www.example.com/", "/"),
    ("http://www.example.com/a", "/a"), ("http://www.example.com/a/", "/a/"),
    ("http://www.example.com/a/b?c=http://d.e/", "/a/b?c=http://d.e/"),
    ("http://www.example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"),
    ("example.com", "/"), ("example.com/", "/"), ("example.com/a", "/a"), ("example.com/a/", "/a/"),
    ("example.com/a/b?c=d&e=f#fragment", "/a/b?c=d&e=f"), ("a", "/"), ("a/", "/"), ("/a", "/a"),
    ("a/b", "/b"), ("example.com?a", "/?a"), ("example.com/a;b#c", "/a;b"), ("//a/b/c", "/b/c"),
    # and normalised
    ("https://h.example:8080/%7Euser/caf%c3%a9?q=a b#x", "/~user/caf%C3%A9?q=a%20b"),
    ("https://h/#only-fragment", "/"), ("https://h/a*b$c", "/a%2Ab%24c"),
])
def test_google_path_params_query(url, path):
    assert path_of(url) == path


@pytest.mark.parametrize("value,pattern", [
    ("http://www.example.com", "http://www.example.com"), ("/a/b/c", "/a/b/c"), ("á", "%C3%A1"), ("%aa", "%AA"),
])
def test_google_escape_pattern(value, pattern):
    r = RobotsTxt.parse(f"user-agent: *\ndisallow: {value}\n")
    assert [x.pattern for x in r.rules_of("x")] == [pattern]


@pytest.mark.parametrize("key", ["disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw",
                                 "Disallowed", "DISALLOW"])
def test_disallow_typos(key):
    assert not allowed(f"user-agent: FooBot\n{key}: /\n", "FooBot", "http://h/x")


@pytest.mark.parametrize("key", ["user-agent", "useragent", "user agent", "User-Agents", "USERAGENT"])
def test_user_agent_typos(key):
    assert not allowed(f"{key}: FooBot\ndisallow: /\n", "FooBot", "http://h/x")


def test_google_documentation_checks():
    cases = {
        "/fish": ({"/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html",
                   "/fish.html?id=anything"}, {"/bar", "/Fish.asp", "/catfish", "/?id=fish"}),
        "/fish*": ({"/fish", "/fish.html", "/fish/salmon.html", "/fishheads", "/fishheads/yummy.html",
                    "/fish.html?id=anything"}, {"/bar", "/Fish.bar", "/catfish", "/?id=fish"}),
        "/fish/": ({"/fish/", "/fish/salmon", "/fish/?salmon", "/fish/salmon.html", "/fish/?id=anything"},
                   {"/bar", "/fish", "/fish.html", "/Fish/Salmon.html"}),
        "/*.php": ({"/filename.php", "/folder/filename.php", "/folder/filename.php?parameters",
                    "//folder/any.php.file.html", "/filename.php/", "/index?f=filename.php/"},
                   {"/bar", "/php/", "/index?php", "/windows.PHP"}),
        "/*.php$": ({"/filename.php", "/folder/filename.php"},
                    {"/bar", "/filename.php?parameters", "/filename.php/", "/filename.php5", "/php/",
                     "/filename?php", "/aaaphpaaa", "//windows.PHP"}),
        "/fish*.php": ({"/fish.php", "/fishheads/catfish.php?parameters"}, {"/bar", "/Fish.PHP"}),
    }
    for pattern, (yes, no) in cases.items():
        r = RobotsTxt.parse(f"user-agent: FooBot\ndisallow: /\nallow: {pattern}\n")
        paths = sorted(yes | no)
        al, _ = r.decide_many("FooBot", pa.array(paths))
        for p, a in zip(paths, al.to_pylist()):
            assert r.allowed("FooBot", p) is (p in yes) is a, (pattern, p)
    # order of precedence examples
    assert allowed("user-agent: FooBot\nallow: /p\ndisallow: /\n", "FooBot", "http://example.com/page")
    assert allowed("user-agent: FooBot\nallow: /folder\ndisallow: /folder\n", "FooBot", "http://example.com/folder/page")
    assert not allowed("user-agent: FooBot\nallow: /page\ndisallow: /*.htm\n", "FooBot", "http://example.com/page.htm")
    body = "user-agent: FooBot\nallow: /$\ndisallow: /\n"
    assert allowed(body, "FooBot", "http://example.com/") and not allowed(body, "FooBot", "http://example.com/page.html")


# --------------------------------------------------------------------------------------------------------
# API: rules, decisions, groups, columnar evaluation
# --------------------------------------------------------------------------------------------------------


def test_rules_of_precedence_and_decision_evidence():
    body = ("User-agent: GPTBot\nDisallow: /private/ # keep out\nAllow: /private/ok\n\nUser-agent: CCBot\n"
            "User-agent: GPTBot\nDisallow: /*.pdf$\nAllow: /private/\n")
    r = RobotsTxt.parse(body)
    rules = r.rules_of("GPTBot/1.1")
    assert [(x.allow, x.pattern, x.line) for x in rules] == [
        (True, "/private/ok", 3), (True, "/private/", 8), (False, "/private/", 2), (False, "/*.pdf$", 7)]
    assert rules[2].text == "Disallow: /private/ # keep out"
    d = r.decide("GPTBot", "/private/x.pdf")
    assert d == Decision(True, rules[1], "GPTBot, CCBot")
    assert r.decide("CCBot", "/a.pdf").rule.pattern == "/*.pdf$"
    assert r.group_key("GPTBot") != r.group_key("CCBot") and r.group_key("Googlebot") is None


def test_group_keys_are_shared_by_agents_with_the_same_groups():
    body = "User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: *\nUser-agent: Bytespider\nDisallow: /x\n"
    r = RobotsTxt.parse(body)
    assert r.group_key("GPTBot") == r.group_key("ccbot")
    assert r.group_key("Bytespider") == r.group_key("*") == r.group_key("AnyBot") == r.group_key("")
    assert r.group_key("GPTBot") != r.group_key("AnyBot")


def test_decide_many_inputs():
    r = RobotsTxt.parse("User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /*.x$\n")
    paths = ["/a", "/a/b", None, "/q.x", "/q.xy", "/%61/b", "", "/robots.txt", "/é.x"]
    expect_allowed = [False, True, None, False, True, True, True, True, False]
    rules = r.rules_of("bot")
    for arr in (pa.array(paths), pa.array(paths, pa.large_string()), pa.chunked_array([paths[:4], paths[4:]])):
        al, ix = r.decide_many("bot", arr)
        assert al.type == pa.bool_() and ix.type == pa.int32()
        assert al.to_pylist() == expect_allowed
        for p, i in zip(paths, ix.to_pylist()):
            if p is None:
                assert i == -1
            else:
                d = r.decide("bot", p)
                assert i == (-1 if d.rule is None else rules.index(d.rule))
    al, ix = r.decide_many("bot", pa.array([], pa.string()))
    assert len(al) == len(ix) == 0
    # no group applies: everything allowed, no rule
    al, ix = RobotsTxt.parse("User-agent: X\nDisallow: /\n").decide_many("bot", pa.array(["/a", None]))
    assert al.to_pylist() == [True, None] and ix.to_pylist() == [-1, -1]


def test_decide_many_large_groups_use_every_strategy():
    # many plain prefixes and many wildcard rules, to exercise the bulk steps, against decide()
    rng = random.Random(7)
    lines = ["User-agent: *"]
    for i in range(300):
        lines.append(f"{rng.choice(['Allow', 'Disallow'])}: /d{i % 37}/{'x' * (i % 11)}")
    for i in range(80):
        lines.append(f"{rng.choice(['Allow', 'Disallow'])}: /*/{i % 13}/*.{rng.choice(['pdf', 'x', 'y'])}"
                     f"{rng.choice(['', '$'])}")
    lines.append("Disallow: /literal$dollar")
    # a second group: plain prefixes of many lengths but little text (one RE2 alternation), few specials
    lines += ["", "User-agent: FooBot"] + [f"Disallow: /{'ab' * k}" for k in range(1, 12)]
    lines += ["Allow: /abab/*.css$", "Allow: /ab*x$"]
    r = RobotsTxt.parse("\n".join(lines))
    paths = [f"/d{rng.randrange(40)}/{'x' * rng.randrange(13)}{rng.choice(['', '/3/a.pdf', '/12/b.x', '.y'])}"
             for _ in range(500)] + ["/literal$dollar", "/literal%24dollar", "/literal"]
    paths += ["/" + "ab" * rng.randrange(14) + rng.choice(["", "x", "/y.css", "a"]) for _ in range(200)]
    kinds = set()
    for agent in ("bot", "FooBot"):
        rules = r.rules_of(agent)
        al, ix = r.decide_many(agent, pa.array(paths))
        for p, a, i in zip(paths, al.to_pylist(), ix.to_pylist()):
            d = r.decide(agent, p)
            assert a is d.allowed and i == (-1 if d.rule is None else rules.index(d.rule)), (agent, p)
        kinds |= {step[0] for step in r._group(agent).plan[0]}  # white box: every strategy was used
    assert kinds == {"by_length", "marker", "plain", "chain"}


# --------------------------------------------------------------------------------------------------------
# robustness: junk never raises and yields no rules
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"\x00\x01\x02\xff\xfe" * 1000,
    bytes(random.Random(1).randrange(256) for _ in range(20000)),
    "<!DOCTYPE html>\n<html><head><style>a:hover {color: red}</style></head>\n<body>Not found: 404</body></html>",
    '{"error": "not found", "code": 404}',
    "\ud800User-agent: *\nDisallow: /x\ud800\n",  # lone surrogates in a str
    "User-agent: *\nDisallow: /" + "\u2028" * 5 + "\x0c\x0b\x00",
    "\n" * 100000,
    "User-agent: *\n" + "x" * 2_000_000,
    b"\xff\xfeU\x00s\x00e\x00r\x00-\x00a\x00g\x00e\x00n\x00t\x00:\x00 \x00*\x00",  # UTF-16
])
def test_junk_parses_without_exception(body):
    r = RobotsTxt.parse(body)
    for agent in ("GPTBot", "*"):
        d = r.decide(agent, "/x")
        al, ix = r.decide_many(agent, pa.array(["/x", "/", "/%zz"]))
        assert al.to_pylist()[0] is d.allowed
    if not (isinstance(body, str) and body.startswith(("User-agent", "\ud800"))):
        assert r.rules_of("GPTBot") == [] and r.allowed("GPTBot", "/anything")


def test_html_body_parses_to_no_rules():
    r = RobotsTxt.parse("<html>\n<p>User-agent: *</p>\n<p>Disallow: /</p>\n</html>\n")
    assert r.user_agents == [] and r.allowed("GPTBot", "/") and r.extensions == []


# --------------------------------------------------------------------------------------------------------
# departures from protego 0.7 (our answer per RFC 9309 / Google; protego's noted and, with 0.7, checked)
# --------------------------------------------------------------------------------------------------------

_LONG = "/x/" + "a" * (2083 * 8 - 3 - len("disallow: ") + 1 - 3)
DEPARTURES = [
    # (why, robots.txt, agent, path, ours, protego 0.7)
    ("group for Applebot applies to Applebot-Extended by substring", "User-agent: Applebot\nDisallow: /\n",
     "Applebot-Extended", "/x", True, False),
    ("Googlebot group applies to Googlebot-News by substring",
     "User-agent: *\nAllow: /\nUser-agent: Googlebot\nDisallow: /\n", "Googlebot-News", "/x", True, False),
    ("versioned user-agent value names the product", "User-agent: GPTBot/1.0\nDisallow: /\n", "GPTBot", "/x",
     False, True),
    ("user-agent value up to the first space", "User-agent: *\nDisallow: /\nUser-agent: Googlebot Images\nAllow: /\n",
     "Googlebot", "/x", True, False),
    ("Crawl-delay does not end a run of user-agent lines",
     "User-agent: A\nCrawl-delay: 5\nUser-agent: B\nDisallow: /\n", "A", "/x", False, True),
    ("Content-Signal does not end a run of user-agent lines",
     "User-agent: GPTBot\nContent-Signal: ai-train=no\nUser-agent: CCBot\nDisallow: /\n", "GPTBot", "/x", False, True),
    ("$ anchors only: literal $ in the URL", "User-agent: *\nDisallow: /foo$\n", "x", "/foo$bar", True, False),
    ("$ anchors only: %24 in the URL", "User-agent: *\nDisallow: /foo$\n", "x", "/foo%24x", True, False),
    ("reserved escape %3F is not ?", "User-agent: *\nDisallow: /a%3Fb\n", "x", "/a?b", True, False),
    ("BOM at the start of a str", "\ufeffUser-agent: *\nDisallow: /\n", "x", "/x", False, True),
    ("index.htm allows the directory", "User-agent: *\nDisallow: /\nAllow: /d/index.htm\n", "x", "/d/", True, False),
    ("Google's line-length cut", "user-agent: FooBot\ndisallow: " + _LONG + "/qux\n", "FooBot", _LONG + "/fux",
     False, True),
    ("form feed is not a line end", "User-agent: *\nDisallow: /x\x0cy\n", "x", "/xz", True, False),
    ("U+2028 is not a line end", "User-agent: *\nDisallow: /x\u2028y\n", "x", "/xz", True, False),
    ("User-agents: key (prefix match)", "User-agents: FooBot\nDisallow: /\n", "FooBot", "/x", False, True),
    ("Disallowed: key (prefix match)", "User-agent: *\nDisallowed: /\n", "x", "/x", False, True),
    ("colon-less line of three words is no directive", "User agent FooBot\nDisallow: /\n", "FooBot", "/x",
     True, False),
    ("absolute-URL pattern never matches", "User-agent: *\nDisallow: http://example.com/private\n", "x",
     "/http://example.com/private", True, False),
    ("/robots.txt with a query is another URI", "User-agent: *\nDisallow: /\n", "x", "/robots.txt?x=1", False, True),
]


@pytest.mark.parametrize("why,body,agent,path,ours,theirs", DEPARTURES, ids=[d[0] for d in DEPARTURES])
def test_departures_from_protego(why, body, agent, path, ours, theirs):
    assert RobotsTxt.parse(body).allowed(agent, path) is ours
    protego = pytest.importorskip("protego")
    from importlib.metadata import version

    if not version("protego").startswith("0.7"):
        pytest.skip("protego's answers were recorded for 0.7")
    assert protego.Protego.parse(body).can_fetch("https://example.com" + path, agent) is theirs


# --------------------------------------------------------------------------------------------------------
# real files
# --------------------------------------------------------------------------------------------------------


def _real_records():
    path = DATA / "protego_top10k_robots.jsonl.gz"
    if not path.exists():
        pytest.skip(f"needs {path} (../shared/data is not present here)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


_GENERIC = ["/", "/index.html", "/search?q=x", "/admin/", "/wp-admin/admin-ajax.php", "/private/x.pdf",
            "/%7Euser/", "/café", "/a b", "/robots.txt", "/cgi-bin/x", "/api/v1/items?id=3", "/tag/x/page/2/",
            "/images/a.jpg", "/a*b$c"]
_AGENTS = ["GPTBot", "CCBot", "Googlebot", "*"]


def _paths_for(r: RobotsTxt, seed: str, k: int) -> list[str]:
    rng = random.Random(seed)
    patterns = sorted({x.pattern for a in _AGENTS for x in r.rules_of(a)})
    out = list(_GENERIC)
    while patterns and len(out) < k:
        p = rng.choice(patterns).rstrip("$")
        p = p.replace("*", rng.choice(["", "abc", "/x/", "?q="]))
        out.append(p + rng.choice(["", "x", "/", "/y.html", "?a=1", ".pdf", "%2F", "index.html"]))
    return out


def test_every_real_file_parses_and_columnar_agrees():
    records = _real_records()
    assert len(records) == 4231
    n = 0
    for rec in records:
        r = RobotsTxt.parse(rec["robots_txt"])
        paths = _paths_for(r, rec["host"], 30)
        arr = pa.array(paths)
        for agent in _AGENTS:
            rules = r.rules_of(agent)
            al, ix = r.decide_many(agent, arr)
            for p, a, i in zip(paths, al.to_pylist(), ix.to_pylist()):
                d = r.decide(agent, p)
                j = -1 if d.rule is None else next(k for k, x in enumerate(rules) if x is d.rule)
                assert (a, i) == (d.allowed, j), (rec["host"], agent, p)
                n += 1
    assert n > 4231 * len(_AGENTS) * len(_GENERIC)


def test_real_files_as_bytes_parse():
    records = _real_records()
    for rec in records[::7]:
        body = rec["robots_txt"]
        assert RobotsTxt.parse(body.encode("utf-8", "replace")).user_agents == RobotsTxt.parse(body).user_agents


def test_real_file_facts():
    by_host = {r["host"]: r["robots_txt"] for r in _real_records()}
    wiki = RobotsTxt.parse(by_host["en.wikipedia.org"])  # starts with a BOM
    assert by_host["en.wikipedia.org"].startswith("\ufeff") and wiki.user_agents
    oracle = RobotsTxt.parse(by_host["docs.oracle.com"])  # 833 KiB: only the first 500 KiB are read
    assert len(by_host["docs.oracle.com"].encode()) > 500 * 1024 and len(oracle.rules_of("*")) > 10_000
    assert not RobotsTxt.parse(by_host["103.88.218.109"]).user_agents  # an HTML login page


def _texting(name: str) -> RobotsTxt:
    path = DATA / "texting_robots_testdata" / name
    if not path.exists():
        pytest.skip(f"needs {path}")
    return RobotsTxt.parse(path.read_bytes())


def test_texting_robots_files_parse():
    folder = DATA / "texting_robots_testdata"
    if not folder.exists():
        pytest.skip(f"needs {folder}")
    files = sorted(folder.glob("*.txt"))
    assert len(files) == 10
    for f in files:
        r = RobotsTxt.parse(f.read_bytes())
        assert r.user_agents, f.name
        for agent in ("GPTBot", "Googlebot", "*"):
            r.decide_many(agent, pa.array(["/", "/a", "/search?q=1"]))


def test_texting_twitter():
    r = _texting("twitter.robots.txt")
    assert r.allowed("Googlebot", "/foo?lang=en")  # "/*?lang=" is longer than "/*?"
    d = r.decide("Googlebot", "/foo?x=1")
    assert not d.allowed and d.rule.pattern == "/*?" and d.group == "Googlebot"
    assert r.allowed("Googlebot", "/i/api/graphql") and not r.allowed("Googlebot", "/search/realtime")
    assert r.allowed("Googlebot", "/jack") and not r.allowed("Googlebot", "/jack/followers")
    assert r.decide("GPTBot", "/").group == "*"
    assert ("sitemap", "https://twitter.com/sitemap.xml") in [(e[1], e[2]) for e in r.extensions]


def test_texting_quora():
    r = _texting("quora.robots.txt")
    assert r.allowed("GPTBot", "/") and r.allowed("GPTBot", "/about")  # Allow: /$, Allow: /about$
    assert not r.allowed("GPTBot", "/What-is-love") and not r.allowed("GPTBot", "/about-us")
    assert r.allowed("Googlebot", "/What-is-love") and not r.allowed("Googlebot", "/ajax/x")
    assert not r.allowed("Googlebot", "/someone/all_posts") and r.allowed("Googlebot", "/someone/all_postsx")
    assert not r.allowed("ia_archiver", "/") and not r.allowed("JamesBOT", "/x")


def test_texting_reddit_and_substack():
    r = _texting("reddit.robots.txt")
    assert not r.allowed("008", "/") and not r.allowed("MJ12bot", "/")  # tokens with digits
    assert r.allowed("GPTBot", "/r/python/") and r.allowed("GPTBot", "/r/x.rss")
    assert not r.allowed("GPTBot", "/r/python/comments/abc.rss") and not r.allowed("GPTBot", "/x.json")
    assert not r.allowed("bender", "/my_shiny_metal_ass") and r.allowed("bender", "/x.json")
    s = _texting("substack.robots.txt")
    assert s.allowed("Twitterbot", "/action/x") and not s.allowed("BLEXBot", "/")
    assert not s.allowed("GPTBot", "/p/post/comment/123") and s.allowed("GPTBot", "/p/post")
