"""The datasheet's charts, drawn with matplotlib (Agg, no display) from the facts dict and returned as PNG
bytes. A chart whose data the ledger lacks is not drawn: ``charts()`` leaves it out with the reason, and
the page says so where the chart would be.

Each chart is two steps, so that what a chart shows can be tested without looking at pixels: ``*_data(f)``
returns the numbers it is drawn from, ``draw_*(f)`` returns the matplotlib figure (``charts()`` renders and
closes it). The rules they follow: a share is drawn on a fixed 0-100% axis with its value printed beside the
bar; what is not known (robots.txt consent with no snapshot at the time, documents without a crawl date) is
shown as its own part, never dropped; time is a continuous axis (every year or month between the first and
the last, zeros included); tick labels are horizontal and never overlap; labels from the corpus (domain
names) are cut to one short line and never parsed as mathtext."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, PercentFormatter  # noqa: E402

from .escape import chart_label  # noqa: E402

_BLUE, _ORANGE, _GREY, _GREEN = "#3b6ea8", "#d9822b", "#b0b0b0", "#5a9e6f"
MAX_TICK_LABELS = 12  # on a time axis; more would overlap at this width without rotating them


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def pct_label(v: float) -> str:
    """A share as printed beside its bar: never "0.0%" for a share that is there."""
    if v <= 0:
        return "0%"
    p = 100 * v
    if p < 0.01:
        return "<0.01%"
    if p < 1:
        return f"{p:.2f}%"
    return f"{p:.1f}%"


def _share_axis(ax) -> None:
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_locator(FixedLocator([0, 0.25, 0.5, 0.75, 1.0]))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.tick_params(axis="x", labelsize=8)


def _barh(labels, values, title, xlabel, color=_BLUE, share=True):
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) + 1.1))
    y = list(range(len(labels)))
    ax.barh(y, values, color=color)
    ax.set_yticks(y, [chart_label(x) for x in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    if share:
        _share_axis(ax)
    else:
        ax.set_xlim(0, max(values + [1]) * 1.15)  # counts start at zero; room for the printed values
    for i, v in enumerate(values):
        ax.text(v, i, f" {pct_label(v)}" if share else f" {v:,.0f}", va="center", fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# -- top domains -------------------------------------------------------------------------------------------
def top_domains_data(f) -> list[tuple[str, float]]:
    return [(r["registered_domain"], r["share_words"] or 0.0) for r in f["top_domains"][:15]]


def draw_top_domains(f):
    rows = top_domains_data(f)
    if not rows:
        return None
    return _barh([d for d, _ in rows], [s for _, s in rows], f"Top {len(rows)} registered domains: share of all words",
                 "share of all words (%)")


# -- consent -------------------------------------------------------------------------------------------------
CONSENT_PARTS = (("disallowed", _ORANGE), ("allowed", _BLUE), ("unknown", _GREY))


def consent_data(f) -> list[dict]:
    """Per agent: the share of all words disallowed, allowed and unknown (no robots.txt snapshot at that
    time) at crawl time and now; each triple sums to 1."""
    if not f["consent"]["available"]:
        return []
    out = []
    for r in f["consent"]["by_agent"]:
        row = {"agent": r["agent"]}
        for when in ("crawl", "now"):
            d = r["share_words_disallowed_" + when] or 0.0
            a = r.get("share_words_allowed_" + when) or 0.0
            u = r.get("share_words_unknown_" + when)
            row[when] = {"disallowed": d, "allowed": a, "unknown": max(0.0, 1.0 - d - a) if u is None else u}
        out.append(row)
    return out


def draw_consent(f):
    rows = consent_data(f)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.62 * len(rows) + 1.5))
    labels, ys, bars = [], [], []
    for i, r in enumerate(rows):
        for j, when in enumerate(("crawl", "now")):
            ys.append(i * 2.6 + j * 1.1)
            labels.append(f"{chart_label(r['agent'], 28)}, {'at crawl time' if when == 'crawl' else 'now'}")
            bars.append(r[when])
    for part, color in CONSENT_PARTS:
        left = [sum(b[p] for p, _ in CONSENT_PARTS[: [q for q, _ in CONSENT_PARTS].index(part)]) for b in bars]
        ax.barh(ys, [b[part] for b in bars], left=left, height=1.0, color=color, label=part)
        for y, lft, b in zip(ys, left, bars):
            if b[part] >= 0.08:  # the value inside its part when it fits
                ax.text(lft + b[part] / 2, y, pct_label(b[part]), ha="center", va="center", fontsize=6.5,
                        color="white" if part != "unknown" else "black")
    ax.set_yticks(ys, labels, fontsize=7.5)
    ax.set_ylim(max(ys) + 0.8, min(ys) - 0.8)  # top to bottom in the agents' order
    _share_axis(ax)
    ax.set_xlabel("share of all words (%)", fontsize=8)
    ax.set_title("robots.txt per AI agent: words disallowed, allowed, unknown (no snapshot)", fontsize=10, pad=22)
    ax.legend(fontsize=8, frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# -- licenses, PII ---------------------------------------------------------------------------------------------
def licenses_data(f) -> list[tuple[str, float]]:
    return [(r["family"], r["share_words"] or 0.0) for r in f["license_families"]]


def draw_licenses(f):
    rows = licenses_data(f)
    if not rows:
        return None
    return _barh([x for x, _ in rows], [s for _, s in rows], "License families: share of all words",
                 "share of all words (%)", color=_GREEN)


def pii_data(f) -> list[tuple[str, int]]:
    return [(r["type"], r["documents"] or 0) for r in f["pii"]["by_type"]]


def draw_pii(f):
    rows = pii_data(f)
    if not rows:
        return None
    return _barh([x for x, _ in rows], [n for _, n in rows], "Personal data and secrets by type",
                 f"documents with at least one finding (of {f['corpus']['documents']:,})", color=_ORANGE, share=False)


# -- crawl dates -------------------------------------------------------------------------------------------------
def crawl_dates_data(f) -> dict:
    """Documents per year (per month when the crawl spans at most two calendar years), for every year or
    month between the first and the last crawl date, zeros included; ``undated``: documents without a date."""
    rows = f["crawl_months"]
    undated = f["corpus"].get("no_crawl_date") or 0
    if not rows:
        return {"unit": None, "labels": [], "documents": [], "undated": undated}
    counts = {r["month"]: r["documents"] for r in rows}
    first, last = min(counts), max(counts)
    y0, m0, y1, m1 = int(first[:4]), int(first[5:7]), int(last[:4]), int(last[5:7])
    if y1 - y0 <= 1:
        labels = []
        y, m = y0, m0
        while (y, m) <= (y1, m1):
            labels.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return {"unit": "month", "labels": labels, "documents": [counts.get(k, 0) for k in labels], "undated": undated}
    by_year: dict[str, int] = {}
    for k, n in counts.items():
        by_year[k[:4]] = by_year.get(k[:4], 0) + n
    labels = [str(y) for y in range(y0, y1 + 1)]
    return {"unit": "year", "labels": labels, "documents": [by_year.get(k, 0) for k in labels], "undated": undated}


def tick_positions(n: int, most: int = MAX_TICK_LABELS) -> list[int]:
    """Which of ``n`` evenly spaced categories get a tick label: every k-th, k the smallest step that keeps
    at most ``most`` labels (the first always, the last when it falls on the step)."""
    if n <= 0:
        return []
    step = max(1, math.ceil(n / most))
    return list(range(0, n, step))


def draw_crawl_dates(f):
    d = crawl_dates_data(f)
    if not d["labels"]:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    x = list(range(len(d["labels"])))
    ax.bar(x, d["documents"], color=_BLUE, width=0.8)
    ticks = tick_positions(len(x))
    ax.set_xticks(ticks, [d["labels"][i] for i in ticks], fontsize=7, rotation=0)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_ylim(0, max(d["documents"] + [1]) * 1.1)
    title = f"Documents by crawl {d['unit']}"
    if d["undated"]:
        title += f" ({d['undated']:,} documents without a crawl date are not in the chart)"
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("documents", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


CHARTS = {  # id -> (title, draw function, why it is not drawn: from the facts)
    "top-domains": ("Top registered domains", draw_top_domains, lambda f: "the ledger has no documents"),
    "consent": ("Consent per AI agent", draw_consent, lambda f: f["consent"]["why"]),
    "licenses": ("License mix", draw_licenses, lambda f: "the ledger has no documents"),
    "pii": ("PII by type", draw_pii, lambda f: "no personal data or secret was found"),
    "crawl-dates": ("Crawl dates", draw_crawl_dates, lambda f: "no document has a crawl date"),
}


def charts(f) -> list[dict]:
    """[{id, title, png (bytes or None), why}] in page order."""
    out = []
    for cid, (title, draw, why) in CHARTS.items():
        fig = draw(f)
        png = _png(fig) if fig is not None else None
        out.append({"id": cid, "title": title, "png": png, "why": None if png else why(f)})
    return out
