"""Reports from the ledger: datasheet (Markdown + self-contained HTML), Hugging Face dataset card, EU public
summary of training content. ``write_datasheet`` is what ``provenance datasheet`` and the Prefect flow
``pipelines/datasheet.py`` call; every number comes from :func:`provenance.reports.facts.collect`."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
import yaml

from ..errors import ProvenanceError
from .about import About, load_about
from .facts import collect

__all__ = ["write_datasheet", "render_all", "collect", "load_about", "About", "OUTPUTS"]

OUTPUTS = ("datasheet.md", "README.md", "eu-training-summary.md", "datasheet.html", "facts.json")


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _mb(v) -> str:
    if v is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if v >= size:
            return f"{v / size:.1f} {unit}"
    return f"{v} B"


def _day(v) -> str:
    if not v:
        return "(unknown)"
    return str(v)[:10]


def _given(v, field: str) -> str:
    if v is None or (isinstance(v, str) and not v.strip()):
        return f"**not provided** (about file: `{field}`)"
    return str(v).strip()


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("provenance.reports", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(num=_num, pct=_pct, mb=_mb, day=_day, given=_given,
                       b64=lambda b: base64.b64encode(b).decode("ascii"))
    return env


def _card_yaml(f: dict, about: About) -> str:
    """The dataset card's YAML metadata header (Hugging Face dataset card fields)."""
    meta = {
        "pretty_name": about.pretty_name or "(dataset name not provided)",
        "license": about.license or "unknown",
        "language": about.language or None,
        "size_categories": [f["size_category"]],
        "source_datasets": about.source_datasets or ["original"],
        "task_categories": ["text-generation"],
        "multilinguality": None if not f["languages"]["available"] else
        ("multilingual" if len(f["languages"]["rows"]) > 1 else "monolingual"),
        "tags": ["web-crawl", "provenance-audit"],
        "provenance": {
            "tool_version": f["package_version"], "documents": f["corpus"]["documents"], "words": f["corpus"]["words"],
            "bytes": f["corpus"]["bytes"], "registered_domains": f["corpus"]["domains"],
            "rules_hashes": f["rules_hashes"],
            "verdict_policy": f["verdicts"]["last_evaluation"]["policy"] if f["verdicts"]["available"] else None,
        },
    }
    meta = {k: v for k, v in meta.items() if v is not None}
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def _markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def render_all(f: dict, about: About, *, with_html: bool = True) -> dict[str, str]:
    """File name -> text of every output."""
    env = _env()
    ctx = {"f": f, "about": about}
    out: dict[str, str] = {}
    out["datasheet.md"] = env.get_template("datasheet.md.j2").render(**ctx)
    out["README.md"] = env.get_template("card.md.j2").render(card_yaml=_card_yaml(f, about), **ctx)
    out["eu-training-summary.md"] = env.get_template("eu.md.j2").render(**ctx)
    if with_html:
        from .charts import charts

        body_md = out["datasheet.md"].split("\n", 1)[1]  # the page has its own title
        out["datasheet.html"] = env.get_template("datasheet.html.j2").render(
            charts=charts(f), body=_markdown_to_html(body_md), **ctx)
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
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        files[name] = path
    return DatasheetResult(out, files, f)
