"""Reports from the ledger: datasheet (Markdown + self-contained HTML), Hugging Face dataset card, EU public
summary of training content. ``write_datasheet`` is what ``provenance datasheet`` and the Prefect flow
``pipelines/datasheet.py`` call; every number comes from :func:`provenance.reports.facts.collect`."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
import yaml
from markupsafe import Markup

from ..errors import ProvenanceError
from ..safeio import write_text
from .about import About, load_about
from .escape import Md, md_code, md_paragraphs, md_text
from .facts import collect

__all__ = ["write_datasheet", "render_all", "collect", "load_about", "About", "OUTPUTS"]

OUTPUTS = ("datasheet.md", "README.md", "eu-training-summary.md", "datasheet.html", "facts.json")


def _num(v) -> Md:
    if v is None:
        return Md("-")
    if isinstance(v, float) and not v.is_integer():
        return Md(f"{v:,.2f}")
    return Md(f"{int(v):,}")


def _pct(v) -> Md:
    if v is None:
        return Md("-")
    if 0 < v < 0.00005:  # would print as 0.00%: a share that is there must not read as none
        return Md("<0.01%")  # "<" before a digit starts no tag in any Markdown renderer
    return Md(f"{100 * v:.2f}%")


def _mb(v) -> Md:
    if v is None:
        return Md("-")
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if v >= size:
            return Md(f"{v / size:.1f} {unit}")
    return Md(f"{v} B")


def _day(v) -> Md:
    if not v:
        return Md("(unknown)")
    return md_text(str(v)[:10])


def _given(v, field: str) -> Md:
    if v is None or (isinstance(v, str) and not v.strip()):
        return Md(f"**not provided** (about file: `{field}`)")
    return md_text(" ".join(str(v).split()))  # one line of free text from the about file


MAX_VALUE = 500  # characters of one value from the ledger in a Markdown report (a hostile value can be megabytes)


def _md_finalize(v):
    """Every ``{{ ... }}`` of a Markdown template: values are escaped unless a filter made them Markdown."""
    if isinstance(v, Md):
        return v
    if v is None:
        return "-"
    if isinstance(v, (bool, int, float)):
        return str(v)
    return md_text(v, limit=MAX_VALUE)


def _env(kind: str = "md") -> jinja2.Environment:
    """``md``: Markdown templates, every value escaped for Markdown (:mod:`provenance.reports.escape`);
    ``html``: the HTML page, autoescaped for HTML."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("provenance.reports", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
        autoescape=kind == "html", finalize=_md_finalize if kind == "md" else None,
    )
    env.filters.update(num=_num, pct=_pct, mb=_mb, day=_day, given=_given,
                       code=lambda v: md_code(v, limit=MAX_VALUE), code_cell=lambda v: md_code(v, table=True, limit=MAX_VALUE),
                       paragraphs=md_paragraphs, b64=lambda b: base64.b64encode(b).decode("ascii"))
    return env


def card_meta(f: dict, about: About) -> dict:
    """The dataset card's metadata (Hugging Face dataset card fields): a field is there only when the about
    file or the ledger says it; nothing is filled in."""
    langs = f["languages"]
    known = [r for r in langs["rows"] if not r.get("unknown") and not r.get("other")]
    multi = None
    if langs["available"]:
        if len(known) > 1 or any(r.get("other") for r in langs["rows"]):
            multi = "multilingual"
        elif len(known) == 1 and not any(r.get("unknown") for r in langs["rows"]):
            multi = "monolingual"
    meta = {
        "pretty_name": about.pretty_name or None,
        "license": about.license or None,
        "language": list(about.language) or None,
        "multilinguality": multi,
        "size_categories": [f["size_category"]],
        "source_datasets": list(about.source_datasets) or None,
        "task_categories": list(about.task_categories) or None,
        "tags": ["provenance-audit"],
        "provenance": {
            "tool_version": f["package_version"], "documents": f["corpus"]["documents"], "words": f["corpus"]["words"],
            "bytes": f["corpus"]["bytes"], "registered_domains": f["corpus"]["domains"],
            "rules_hashes": list(f["rules_hashes"]),
            "verdict_policy": f["verdicts"]["last_evaluation"]["policy"] if f["verdicts"]["available"] else None,
        },
    }
    meta["provenance"] = {k: v for k, v in meta["provenance"].items() if v is not None}
    return {k: v for k, v in meta.items() if v is not None}


_HTML_CHARS = re.compile(r"[<>&]")


def card_yaml(meta: dict) -> str:
    """``meta`` as the card's YAML header, written by the YAML serializer and checked: it loads back to
    exactly ``meta`` and no line of it could end the front matter (``---`` / ``...``).

    A string with a line break or another unprintable character, or with ``<``, ``>`` or ``&`` (other than the
    size category, ``1K<n<10K``), is written as a double-quoted scalar on one line, in JSON string syntax (which
    YAML reads the same) with ``<>&`` as ``\\u003c``-style escapes: no value spans lines that a lax front-matter
    parser could take for the end of the header, and a Markdown renderer unaware of front matter finds no HTML."""
    from .facts import SIZE_CATEGORIES

    safe = {name for _, name in SIZE_CATEGORIES} | {"n>1T"}

    def plain(v):  # str subclasses (escaped Markdown) and the like as plain YAML types
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, str):
            return str(v)
        return v

    meta = plain(meta)
    quoted: dict[str, str] = {}

    def swap(v):
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        if isinstance(v, str) and v not in safe and (_HTML_CHARS.search(v) or not v.isprintable()):
            key = "q" + secrets.token_hex(16)
            quoted[key] = json.dumps(v, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            return key
        return v

    swapped = swap(meta)
    for allow_unicode in (True, False):  # PyYAML writes U+2028 / U+0085 raw with allow_unicode: they do not load back
        text = yaml.safe_dump(swapped, sort_keys=False, allow_unicode=allow_unicode, width=100)
        for key, q in quoted.items():  # each key is a plain scalar of its own in the dump
            text = re.sub(rf"(?<=[ \n]){key}(?=\n)", lambda m, q=q: q, text)
        if yaml.safe_load(text) == meta and not any(ln.startswith(("---", "...")) for ln in text.splitlines()):
            return text
    raise ProvenanceError("the dataset card's metadata does not survive YAML serialization")  # pragma: no cover


def _card_yaml(f: dict, about: About) -> str:
    return card_yaml(card_meta(f, about))


def _markdown_parser():
    """markdown-it-py for the HTML page: CommonMark and tables only; raw HTML in the source is escaped,
    never passed through, and no link, image or autolink is made (the datasheet has none of its own)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    md.disable(["html_block", "html_inline", "image", "link", "autolink", "reference"])
    return md


def _markdown_to_html(text: str) -> str:
    md = _markdown_parser()
    env: dict = {}
    tokens = md.parse(text, env)
    for tok in tokens:  # table alignment as a class, not a style attribute: the page's CSP allows no inline style
        style = tok.attrs.pop("style", None) if tok.attrs else None
        if style:
            tok.attrSet("class", {"text-align:right": "r", "text-align:center": "c", "text-align:left": "l"}.get(style, ""))
    return md.renderer.render(tokens, md.options, env)


def _csp(css: str) -> str:
    """The page's Content-Security-Policy: nothing may load from anywhere but the page itself: no script,
    no connection, no frame, no font; images only as data: URIs (the charts); style only the page's own
    <style> element, by its hash."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")


def render_all(f: dict, about: About, *, with_html: bool = True) -> dict[str, str]:
    """File name -> text of every output."""
    env = _env("md")
    ctx = {"f": f, "about": about}
    out: dict[str, str] = {}
    out["datasheet.md"] = env.get_template("datasheet.md.j2").render(**ctx)
    out["README.md"] = env.get_template("card.md.j2").render(card_yaml=Md(_card_yaml(f, about)), **ctx)
    out["eu-training-summary.md"] = env.get_template("eu.md.j2").render(**ctx)
    if with_html:
        from .charts import charts

        html_env = _env("html")
        css = html_env.loader.get_source(html_env, "datasheet.css")[0]
        body_md = out["datasheet.md"].split("\n", 1)[1]  # the page has its own title
        out["datasheet.html"] = html_env.get_template("datasheet.html.j2").render(
            charts=charts(f), body=Markup(_markdown_to_html(body_md)), css=Markup(css), csp=Markup(_csp(css)), **ctx)
    out["facts.json"] = json.dumps(f, indent=1, sort_keys=True, default=str) + "\n"
    return out


@dataclass
class DatasheetResult:
    out_dir: Path
    files: dict[str, Path]
    facts: dict

    def summary(self) -> str:
        c = self.facts["corpus"]
        return (f"datasheet for {c['documents']:,} documents from {c['domains']:,} registered domains -> {self.out_dir}: "
                + ", ".join(self.files))


def write_datasheet(ledger: str | Path, out_dir: str | Path, *, about: str | Path | About | None = None,
                    top: int = 30, sme: bool | None = None) -> DatasheetResult:
    """Write datasheet.md, README.md (dataset card), eu-training-summary.md, datasheet.html and facts.json into
    ``out_dir`` (created; only these files are written or replaced, each atomically)."""
    from ..ledger import Ledger

    about = about if isinstance(about, About) else load_about(about)
    if sme is None:
        sme = about.provider.sme
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ProvenanceError(f"{out} exists and is not a folder")
    with Ledger(ledger, read_only=True) as led:
        f = collect(led, top=top, sme=sme)
    f["generated_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    content = render_all(f, about)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, text in content.items():
        path = out / name
        write_text(path, text)  # exclusive no-follow temp file, renamed over the name
        files[name] = path
    return DatasheetResult(out, files, f)
