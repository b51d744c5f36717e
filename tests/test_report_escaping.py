"""Reports are escaped for their format (issue 14, point 5).

One small corpus carries hostile text in every field that reaches a report: the documents' language, dump
and URLs (JSON Lines), a WARC response's Content-Language header, the shards' folder name (a backtick and
a pipe), a takedown request's id and note, the registered domain, category, license id and family stored in
the ledger, and every field of the about file (Markdown, HTML, YAML that tries to end the front matter).
A twin corpus has the same shape with plain values. ``provenance datasheet`` (the CLI) writes the reports of
both; then:

- the Markdown files parse (markdown-it-py) to the same section headings as the plain twin's, each hostile
  value shows as the literal text it is, and no renderer (markdown-it with raw HTML on, Python-Markdown)
  makes a script, image, frame or link from it;
- the dataset card's YAML header loads (yaml.safe_load) to exactly the intended keys and values;
- ``datasheet.html`` carries a Content-Security-Policy without any remote source, and in Chromium it makes no
  request but the file itself and has no element the template does not write;
- ``provenance diff`` (Markdown and text) keeps the same structure with hostile values.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import run_cli, sql

CHROMIUM = os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium")
PIXEL = "http://127.0.0.1:9/pixel.png"

HOSTILE = {
    "folder": "evil`shard| <img src=x onerror=alert(4)> #h $x$ & _u_",
    "languages": [
        f"en\n\n## Consent\n\nEvery agent is allowed.\n\n![t]({PIXEL})<img src={PIXEL}><script>alert('lang')</script>",
        "de` | <b>x</b> `",
        "[fr](javascript:alert(1))",
        "&lt;script&gt;alert(2)&lt;/script&gt;",
    ],
    "dump": f"<iframe src={PIXEL}></iframe>\n# Forged crawl\n| a | b |",
    "url_tail": f"?q=<script>alert(3)</script>&x=![i]({PIXEL})`|`",
    "warc_language": f"<img src=http://127.0.0.1:9/warc.gif> ![w]({PIXEL}) `x` | y",
    "takedown_id": "td` | <script>alert(5)</script>\n## Forged takedown",
    "takedown_note": f"note `x` <img src={PIXEL}>\n# Forged note",
    "domain": f"evil`| $\\notacommand{{$ <img src={PIXEL}> ![d]({PIXEL}).example",  # $..$: matplotlib mathtext
    "category": "News\n\n## Verdicts\n\n<script>alert(6)</script>",
    "license": "MIT` | <a href=javascript:alert(7)>x</a>",
    "family": f"permissive\n# Forged family <img src={PIXEL}>",
    "about": {
        "pretty_name": "\"\n---\nlicense: x\n<script>alert('name')</script> # Title",
        "description": f"Para one <script>alert(8)</script>\n\n## Forged section\n\n![x]({PIXEL})\n---\nlicense: evil",
        "license": "mit\n---\ntask_categories: [evil]",
        "language": ["en\n---\nx: y", "<script>"],
        "source_datasets": [f"a`b | <img src={PIXEL}>", "[s](javascript:alert(9))"],
        "task_categories": ["text-generation", "# x\n---"],
        "motivation": {"purpose": f"![p]({PIXEL}) <iframe src={PIXEL}></iframe>\n\n## Forged purpose",
                       "creators": "|", "funding": "`"},
        "uses": {"intended": "<script>alert(10)</script>", "out_of_scope": "- item\n1. two\n> quote"},
        "maintenance": {"contact": "[mail](javascript:alert(11))", "maintainer": "<!-- comment -->"},
        "provider": {"name": f"<img src={PIXEL}>", "model_name": "# Forged model\n\n## 9. Forged"},
    },
}
PLAIN = {
    "folder": "clean-shards",
    "languages": ["en", "de", "fr", "es"],
    "dump": "crawl-2024",
    "url_tail": "?q=1",
    "warc_language": "it",
    "takedown_id": "td-1",
    "takedown_note": "a note",
    "domain": "clean.example",
    "category": "News",
    "license": "MIT",
    "family": "permissive",
    "about": {
        "pretty_name": "Plain corpus", "description": "Para one.", "license": "mit", "language": ["en", "de"],
        "source_datasets": ["a", "b"], "task_categories": ["text-generation", "x"],
        "motivation": {"purpose": "Testing.", "creators": "Us.", "funding": "None."},
        "uses": {"intended": "Tests.", "out_of_scope": "Anything else."},
        "maintenance": {"contact": "me", "maintainer": "us"},
        "provider": {"name": "Example", "model_name": "tiny"},
    },
}
TAGS_NEVER = {"script", "iframe", "a", "object", "embed", "link", "base", "form", "svg", "math", "video", "audio",
              "source", "input", "button", "textarea", "frame", "frameset", "noscript", "template", "portal"}


def one_line(s: str) -> str:
    """How a report shows a value: line breaks become spaces."""
    return re.sub(r"\r\n|[\r\n]", " ", s)


# -- the corpus ---------------------------------------------------------------------------------------------
def _warc_record(uri: str, language: str, body: str) -> bytes:
    block = ("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Language: " + language +
             "\r\n\r\n<html><body><p>" + body + "</p></body></html>").encode()
    head = ("WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + uri + "\r\nWARC-Date: 2024-05-01T10:00:00Z\r\n"
            f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=len(uri) * 7919 + len(body))}>\r\n"
            "Content-Type: application/http; msgtype=response\r\nContent-Length: " + str(len(block)) + "\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def _build(root: Path, v: dict, prefect_api) -> dict:
    """Scan the corpus of ``v`` into a ledger, keep a copy (before), add a takedown, plant the values the
    readers cannot carry (registered domain, category, license) and write the datasheet with the CLI."""
    from provenance.pipelines.scan import scan_corpus

    folder = root / v["folder"]
    folder.mkdir(parents=True)
    lines = []
    for i in range(40):
        text = " ".join(f"word{(i * 13 + k) % 97}" for k in range(60 + i))
        lines.append(json.dumps({"url": f"https://site{i % 8}.example.com/p/{i}{v['url_tail']}", "text": text,
                                 "timestamp": f"20{20 + i % 4}-0{1 + i % 9}-15T00:00:00Z",
                                 "language": v["languages"][i % 4] if i % 5 else None, "dump": v["dump"]}))
    (folder / "docs.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "pages.warc").write_bytes(b"".join(
        _warc_record(f"https://warc{i}.example.org/page{v['url_tail']}", v["warc_language"],
                     " ".join(f"term{(i * 7 + k) % 31}" for k in range(80))) for i in range(3)))
    ledger = root / "ledger.duckdb"
    scan_corpus(inputs=[str(folder)], ledger=str(ledger), quiet=True)
    import duckdb

    # the readers store a language only as a BCP 47 tag (provenance.lang): plant the hostile values as written
    con = duckdb.connect(str(ledger))
    try:
        for i in range(40):
            con.execute("UPDATE documents SET language = ? WHERE position = ? AND url LIKE 'https://site%'",
                        [v["languages"][i % 4] if i % 5 else None, i + 1])  # JSONL: 1-based line
        con.execute("UPDATE documents SET language = ? WHERE url LIKE 'https://warc%'", [v["warc_language"]])
    finally:
        con.close()
    before = root / ("before `x` | <b>y.duckdb" if v is HOSTILE else "before.duckdb")
    shutil.copy(ledger, before)

    urls = root / "urls.txt"
    urls.write_text(f"https://site3.example.com/p/3{v['url_tail']}\n")
    res = run_cli(["takedown", "add", v["takedown_id"], "--urls", str(urls), "--note", v["takedown_note"],
                   "--ledger", str(ledger)], cwd=root, api_url=prefect_api)
    assert res.returncode == 0, res.stderr

    import duckdb

    con = duckdb.connect(str(ledger))
    try:
        con.execute("UPDATE documents SET registered_domain = ? WHERE host = 'site1.example.com'", [v["domain"]])
        con.execute("INSERT OR REPLACE INTO rules_categories VALUES (?, ?)", [v["domain"], v["category"]])
        con.execute("UPDATE documents SET license = ? WHERE host = 'site2.example.com'", [v["license"]])
        con.execute("INSERT OR REPLACE INTO rules_license_families VALUES (?, ?)", [v["license"], v["family"]])
    finally:
        con.close()

    about = root / "about.yaml"
    about.write_text(yaml.safe_dump(v["about"], allow_unicode=True))
    out = root / "datasheet"
    res = run_cli(["datasheet", "--ledger", str(ledger), "--out", str(out), "--about", str(about)], cwd=root,
                  api_url=prefect_api)
    assert res.returncode == 0, res.stderr
    return {"root": root, "ledger": ledger, "before": before, "out": out, "v": v}


@pytest.fixture(scope="module")
def hostile(prefect_api, tmp_path_factory):
    return _build(tmp_path_factory.mktemp("hostile"), HOSTILE, prefect_api)


@pytest.fixture(scope="module")
def plain(prefect_api, tmp_path_factory):
    return _build(tmp_path_factory.mktemp("plain"), PLAIN, prefect_api)


def test_the_hostile_values_are_in_the_ledger(hostile):
    """The test means something only if the values reached the ledger as they were written."""
    led = hostile["ledger"]
    langs = {x for x, in sql(led, "SELECT DISTINCT language FROM documents WHERE language IS NOT NULL")}
    assert set(HOSTILE["languages"]) | {HOSTILE["warc_language"]} == langs
    assert {x for x, in sql(led, "SELECT DISTINCT crawl FROM documents WHERE crawl IS NOT NULL")} == {HOSTILE["dump"]}
    assert sql(led, "SELECT request_id, note FROM takedown_requests") == [(HOSTILE["takedown_id"], HOSTILE["takedown_note"])]
    assert all(HOSTILE["folder"] in u for u, in sql(led, "SELECT uri FROM shards"))
    reasons = {r for rs, in sql(led, "SELECT reasons FROM document_verdicts") for r in rs}
    assert f"takedown:{HOSTILE['takedown_id']}" in reasons


# -- Markdown ---------------------------------------------------------------------------------------------------
def _front_matter(text: str) -> tuple[str, str]:
    """(YAML header, body) of a card: the header ends at the first line that is exactly ``---``."""
    lines = text.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    return "\n".join(lines[1:end]) + "\n", "\n".join(lines[end + 1:])


def _md(name: str, d: dict) -> str:
    text = (d["out"] / name).read_text()
    return _front_matter(text)[1] if name == "README.md" else text


def _headings(md_text: str) -> list[tuple[str, str]]:
    from markdown_it import MarkdownIt

    toks = MarkdownIt("commonmark").enable("table").parse(md_text)
    return [(t.tag, "".join(" " if c.type == "softbreak" else c.content for c in toks[i + 1].children))
            for i, t in enumerate(toks) if t.type == "heading_open"]


def _code_spans(md_text: str) -> list[str]:
    from markdown_it import MarkdownIt

    out = []
    for t in MarkdownIt("commonmark").enable("table").parse(md_text):
        out += [c.content for c in (t.children or []) if c.type == "code_inline"]
    return out


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _tags(html_text: str) -> _Tags:
    p = _Tags()
    p.feed(html_text)
    return p


def _renderings(md_text: str) -> dict[str, str]:
    """The Markdown as HTML by renderers that pass raw HTML through (as GitHub-flavoured viewers and
    Python-Markdown do before any sanitizer)."""
    import markdown
    from markdown_it import MarkdownIt

    return {"markdown-it (html on)": MarkdownIt("commonmark", {"html": True}).enable("table").render(md_text),
            "Python-Markdown": markdown.markdown(md_text, extensions=["tables"])}


@pytest.mark.parametrize("name", ["datasheet.md", "README.md", "eu-training-summary.md"])
def test_markdown_has_the_same_sections_as_for_a_plain_corpus(hostile, plain, name):
    h, p = _headings(_md(name, hostile)), _headings(_md(name, plain))
    assert [t for t, _ in h].count("h1") == 1 and [t for t, _ in p].count("h1") == 1
    assert [x for x in h if x[0] != "h1"] == [x for x in p if x[0] != "h1"]
    # the one title holds the about file's name as its text
    a = HOSTILE["about"]
    title = {"datasheet.md": "Datasheet: " + one_line(a["pretty_name"]), "README.md": one_line(a["pretty_name"]),
             "eu-training-summary.md": "Public summary of training content: " + one_line(a["provider"]["model_name"])}[name]
    assert h[0] == ("h1", title)


@pytest.mark.parametrize("name", ["datasheet.md", "README.md", "eu-training-summary.md"])
def test_no_renderer_makes_markup_from_corpus_values(hostile, name):
    text = (hostile["out"] / name).read_text()
    outside_code = re.sub(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", "", text)  # a code span shows "<img" as text
    assert not re.search(r"<\s*(script|img|iframe|a|!--)[\s>/]", outside_code, re.I), "raw HTML in the Markdown source"
    for renderer, out in _renderings(_md(name, hostile)).items():
        tags = {t for t, _ in _tags(out).tags}
        assert not tags & (TAGS_NEVER | {"img"}), (renderer, tags & (TAGS_NEVER | {"img"}))
        assert "javascript:" not in " ".join(str(a) for _, a in _tags(out).tags), renderer


def test_values_show_as_the_literal_text_they_are(hostile):
    from markdown_it import MarkdownIt

    md = _md("datasheet.md", hostile)
    page = _tags(MarkdownIt("commonmark").enable("table").render(md))
    text = "".join(page.text)
    for lang in HOSTILE["languages"] + [HOSTILE["warc_language"]]:
        assert one_line(lang).strip() in text, lang
    for key in ("dump", "domain", "category", "license", "family"):
        assert one_line(HOSTILE[key]) in text, key
    a = HOSTILE["about"]
    assert f"Purpose: {' '.join(a['motivation']['purpose'].split())}" in text
    assert f"Intended: {a['uses']['intended']}" in text and f"Contact: {a['maintenance']['contact']}" in text
    assert f"Funding: {a['motivation']['funding']}" in text and f"Creators: {a['motivation']['creators']}" in text
    # code spans hold a backtick without breaking out: the shard folder, the takedown id, its verdict reason
    spans = _code_spans(md)
    assert f"./{HOSTILE['folder']}" in spans
    assert one_line(HOSTILE["takedown_id"]) in spans and f"takedown:{one_line(HOSTILE['takedown_id'])}" in spans
    eu = _md("eu-training-summary.md", hostile)
    assert f"./{HOSTILE['folder']}" in _code_spans(eu) and one_line(HOSTILE["takedown_id"]) in _code_spans(eu)
    # the takedown's note is not printed in any report (it may name a person)
    for name in ("datasheet.md", "README.md", "eu-training-summary.md", "datasheet.html"):
        assert "note `x`" not in (hostile["out"] / name).read_text()


def test_the_card_header_loads_to_exactly_the_intended_metadata(hostile, plain):
    for d in (hostile, plain):
        text = (d["out"] / "README.md").read_text()
        header, _ = _front_matter(text)
        meta = yaml.safe_load(header)
        facts = json.loads((d["out"] / "facts.json").read_text())
        a = d["v"]["about"]
        assert meta == {
            "pretty_name": a["pretty_name"], "license": a["license"], "language": a["language"],
            "multilinguality": "multilingual", "size_categories": ["n<1K"], "source_datasets": a["source_datasets"],
            "task_categories": a["task_categories"], "tags": ["provenance-audit"],
            "provenance": {"tool_version": facts["package_version"], "documents": 43, "words": facts["corpus"]["words"],
                           "bytes": facts["corpus"]["bytes"], "registered_domains": facts["corpus"]["domains"],
                           "rules_hashes": facts["rules_hashes"], "verdict_policy": facts["verdicts"]["last_evaluation"]["policy"]},
        }
        # the header ends where it should: every line is a key or a list item, no value spans lines
        assert all(re.match(r"( {2})*([a-z_]+:( |$)|- )", ln) for ln in header.splitlines()), header


# -- HTML ----------------------------------------------------------------------------------------------------------
def test_html_has_no_markup_from_the_corpus_and_a_strict_csp(hostile):
    page = (hostile["out"] / "datasheet.html").read_text()
    p = _tags(page)
    names = [t for t, _ in p.tags]
    assert not set(names) & TAGS_NEVER, set(names) & TAGS_NEVER
    imgs = [a for t, a in p.tags if t == "img"]
    # the charts drawn (no robots.txt consent, no PII in this corpus): nothing else is an image
    assert [a["alt"] for a in imgs] == ["Top registered domains", "License mix", "Crawl dates"]
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    for t, attrs in p.tags:
        assert not any(k.startswith("on") or k == "style" for k in attrs), (t, attrs)
        assert not any("javascript:" in (v or "") for v in attrs.values()), (t, attrs)
    (csp,) = [a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert re.fullmatch(r"default-src 'none'; img-src data:; style-src 'sha256-[A-Za-z0-9+/]{43}='; "
                        r"base-uri 'none'; form-action 'none'", csp), csp
    head = page.split("</head>", 1)[0]
    assert head.index("Content-Security-Policy") < head.index("<style>")  # in force before anything could load
    # the title is the about file's name, as text
    (title,) = re.findall(r"<title>(.*?)</title>", page, re.S)
    assert html.unescape(title) == "Datasheet: " + HOSTILE["about"]["pretty_name"]


def test_html_in_chromium_loads_nothing_and_shows_values_as_text(hostile):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs Debian's chromium for this test")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    requests, blocked, errors = [], [], []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto((hostile["out"] / "datasheet.html").resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(300)  # anything lazy would have started by now
            dom = page.evaluate("""() => ({
                forbidden: [...document.querySelectorAll('script, iframe, a, object, embed, link, base, form, svg, video, audio, source, frame')]
                           .map(e => e.outerHTML.slice(0, 80)),
                imgs: [...document.images].map(i => i.getAttribute('src').slice(0, 22)),
                handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
                          .filter(n => n.startsWith('on') || n === 'style'),
                text: document.body.innerText,
                maxWidth: getComputedStyle(document.body).maxWidth,
                right: getComputedStyle(document.querySelector('#datasheet td.r')).textAlign,
                title: document.title,
            })""")
        finally:
            browser.close()
    assert blocked == [] and all(u.startswith(("file:", "data:")) for u in requests), (blocked, requests)
    assert len([u for u in requests if u.startswith("file:")]) == 1
    assert dom["forbidden"] == [] and dom["handlers"] == []
    assert dom["imgs"] == ["data:image/png;base64,"] * 3
    assert errors == []  # a CSP violation would be reported here
    # the page's own style applies (its hash is in the CSP), table alignment by class
    assert dom["maxWidth"] == "1100px" and dom["right"] == "right"
    # hostile values are on the page as the text they are
    assert "<script>alert('lang')</script>" in dom["text"]
    assert "<a href=javascript:alert(7)>x</a>" in dom["text"]
    assert f"./{HOSTILE['folder']}" in dom["text"]
    assert dom["title"] == "Datasheet: " + " ".join(HOSTILE["about"]["pretty_name"].split())


# -- provenance diff ---------------------------------------------------------------------------------------------
DIFF_SECTIONS = ["What changed between two audits", "Totals", "Composition", "Consent (robots.txt)", "Verdicts", "PII",
                 "Licenses", "Rules and versions"]


def test_diff_markdown_with_hostile_values(hostile):
    from provenance.reports.diff import diff_ledgers, render_diff

    d = diff_ledgers(hostile["before"], hostile["ledger"], top=10)
    sample = d["verdicts"]["documents"]["sample"]
    assert any(f"takedown:{HOSTILE['takedown_id']}" in (s["reasons_b"] or []) for s in sample)
    assert any(r["registered_domain"] == HOSTILE["domain"] for r in d["composition"]["share_changes"])
    md = render_diff(d, "markdown")
    assert [t for _, t in _headings(md)] == DIFF_SECTIONS
    for renderer, out in _renderings(md).items():
        assert not {t for t, _ in _tags(out).tags} & (TAGS_NEVER | {"img"}), renderer
    from markdown_it import MarkdownIt

    cells = _Cells()
    cells.feed(MarkdownIt("commonmark").enable("table").render(md))
    # each hostile value is one whole cell, or the A/B ledger paths in code spans
    assert HOSTILE["domain"] in cells.cells and one_line(HOSTILE["category"]) in cells.cells
    assert one_line(HOSTILE["family"]) in cells.cells
    url = f"https://site3.example.com/p/3{HOSTILE['url_tail']}"
    assert url in cells.cells
    assert any(c.endswith(f"takedown:{one_line(HOSTILE['takedown_id'])}") for c in cells.cells)
    assert str(hostile["before"]) in _code_spans(md)


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells, self._cur = [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self._cur = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cur is not None:
            self.cells.append("".join(self._cur))
            self._cur = None

    def handle_data(self, data):
        if self._cur is not None:
            self._cur.append(data)


def test_diff_text_and_cli_with_hostile_values(hostile):
    res = run_cli(["diff", str(hostile["before"]), str(hostile["ledger"])], cwd=hostile["root"])
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\u202a-\u202e]", text)
    lines = text.splitlines()
    # no value starts a line of its own: the section titles are the only unindented lines after the header
    titles = [ln for i, ln in enumerate(lines) if i + 1 < len(lines) and set(lines[i + 1]) <= {"=", "-"} and lines[i + 1]]
    assert titles == DIFF_SECTIONS
    assert not any(ln.lstrip().startswith(("#", "Forged", "|")) for ln in lines)
    assert one_line(HOSTILE["takedown_id"])[:40] in text
    md = run_cli(["diff", str(hostile["before"]), str(hostile["ledger"]), "--format", "markdown"], cwd=hostile["root"])
    assert md.returncode == 0 and [t for _, t in _headings(md.stdout)] == DIFF_SECTIONS
