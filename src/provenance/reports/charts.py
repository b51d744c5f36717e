"""The datasheet's charts, drawn with matplotlib (Agg, no display) from the facts dict and returned as PNG
bytes. A chart whose data the ledger lacks is not drawn: ``charts()`` leaves it out with the reason, and
the page says so where the chart would be."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_BLUE, _ORANGE, _GREY = "#3b6ea8", "#d9822b", "#8a8a8a"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _barh(labels, values, title, xlabel, color=_BLUE, pct=True):
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) + 1.1))
    y = range(len(labels))
    ax.barh(list(y), values, color=color)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    for i, v in enumerate(values):
        ax.text(v, i, f" {100 * v:.1f}%" if pct else f" {v:,.0f}", va="center", fontsize=7)
    if pct:
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def top_domains(f) -> bytes | None:
    rows = f["top_domains"][:15]
    if not rows:
        return None
    return _barh([r["registered_domain"] for r in rows], [r["share_words"] or 0 for r in rows],
                 f"Top {len(rows)} registered domains", "share of all words")


def consent(f) -> bytes | None:
    if not f["consent"]["available"]:
        return None
    rows = f["consent"]["by_agent"]
    fig, ax = plt.subplots(figsize=(7.5, 0.36 * len(rows) + 1.2))
    y = list(range(len(rows)))
    ax.barh([i - 0.2 for i in y], [r["share_words_disallowed_crawl"] or 0 for r in rows], height=0.4, color=_BLUE, label="at crawl time")
    ax.barh([i + 0.2 for i in y], [r["share_words_disallowed_now"] or 0 for r in rows], height=0.4, color=_ORANGE, label="now")
    ax.set_yticks(y, [r["agent"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("robots.txt: share of words disallowed per AI agent", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def licenses(f) -> bytes | None:
    rows = f["license_families"]
    if not rows:
        return None
    return _barh([r["family"] for r in rows], [r["share_words"] or 0 for r in rows], "License families", "share of all words",
                 color=_GREY)


def pii(f) -> bytes | None:
    rows = f["pii"]["by_type"]
    if not rows:
        return None
    return _barh([r["type"] for r in rows], [r["documents"] for r in rows], "Personal data and secrets by type",
                 "documents with at least one finding", color=_ORANGE, pct=False)


def crawl_dates(f) -> bytes | None:
    rows = f["crawl_months"]
    if not rows:
        return None
    by_year: dict[str, int] = {}
    for r in rows:
        by_year[r["month"][:4]] = by_year.get(r["month"][:4], 0) + r["documents"]
    if len(by_year) <= 2:  # a short crawl: months are the better bins
        labels, values = [r["month"] for r in rows], [r["documents"] for r in rows]
    else:
        labels, values = list(by_year), list(by_year.values())
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    ax.bar(labels, values, color=_BLUE)
    ax.set_title("Documents by crawl date", fontsize=10)
    ax.set_ylabel("documents", fontsize=8)
    ax.tick_params(axis="x", labelsize=7, rotation=45)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


CHARTS = {  # id -> (title, function, why it is not drawn: from the facts)
    "top-domains": ("Top registered domains", top_domains, lambda f: "the ledger has no documents"),
    "consent": ("Consent per AI agent", consent, lambda f: f["consent"]["why"]),
    "licenses": ("License mix", licenses, lambda f: "the ledger has no documents"),
    "pii": ("PII by type", pii, lambda f: "no personal data or secret was found"),
    "crawl-dates": ("Crawl dates", crawl_dates, lambda f: "no document has a crawl date"),
}


def charts(f) -> list[dict]:
    """[{id, title, png (bytes or None), why}] in page order."""
    out = []
    for cid, (title, fn, why) in CHARTS.items():
        png = fn(f)
        out.append({"id": cid, "title": title, "png": png, "why": None if png else why(f)})
    return out
