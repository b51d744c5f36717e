"""The datasheet as a Prefect flow (scheduled weekly in flows.yaml): writes datasheet.md, the dataset card,
the EU training-content summary, datasheet.html and facts.json from the ledger, and posts the summary
tables as artifacts (keys ``datasheet-top-domains``, ``datasheet-consent``, ``datasheet-verdicts`` and a
Markdown ``datasheet`` with the whole text). The flow only reads the ledger. Artifact descriptions are
Markdown in the Prefect UI: the values in them are escaped; the datasheet text is escaped already."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from provenance import runs
from provenance.reports.escape import md_text


@task(name="write-datasheet", cache_policy=NO_CACHE)
def write_task(ledger: str, out_dir: str, about: str | None, top: int, sme: bool | None) -> dict:
    return runs.write_datasheet(ledger, out_dir, about, top, sme)


def _pct(v) -> str:
    return "" if v is None else f"{100 * v:.2f}%"


@flow(name="write-datasheet", log_prints=False)
def datasheet(ledger: str = "provenance.duckdb", out_dir: str = "datasheet", about: str | None = None,
              top: int = 30, sme: bool | None = None) -> dict:
    """Write the datasheet folder and post its summary tables as artifacts."""
    r = write_task(ledger, out_dir, about, top, sme)
    f = r["facts"]
    create_table_artifact(
        key="datasheet-top-domains",
        table=[{"rank": d["rank"], "registered_domain": d["registered_domain"], "category": d["category"],
                "documents": d["documents"], "words": d["words"], "share_words": _pct(d["share_words"])} for d in f["top_domains"]],
        description=f"top registered domains by share of words ({f['corpus']['documents']:,} documents)")
    if f["consent"]["available"]:
        create_table_artifact(
            key="datasheet-consent",
            table=[{"agent": a["agent"], "words_disallowed_crawl": _pct(a["share_words_disallowed_crawl"]),
                    "words_allowed_crawl": _pct(a.get("share_words_allowed_crawl")),
                    "words_unknown_crawl": _pct(a.get("share_words_unknown_crawl")),
                    "words_disallowed_now": _pct(a["share_words_disallowed_now"]),
                    "words_allowed_now": _pct(a.get("share_words_allowed_now")),
                    "words_unknown_now": _pct(a.get("share_words_unknown_now")),
                    "unknown_docs_crawl": a["unknown_docs_crawl"]}
                   for a in f["consent"]["by_agent"]],
            description="robots.txt per AI agent: share of words disallowed, allowed and unknown (no snapshot at "
                        "that time) at crawl time and now")
    if f["verdicts"]["available"]:
        create_table_artifact(
            key="datasheet-verdicts",
            table=[{"verdict": v["verdict"], "documents": v["documents"], "share_words": _pct(v["share_words"])}
                   for v in f["verdicts"]["counts"]],
            description=f"verdicts under policy {md_text(f['verdicts']['last_evaluation']['policy'], line_start=False)}")
    with open(r["files"]["datasheet.md"], encoding="utf-8") as fh:
        create_markdown_artifact(key="datasheet", markdown=fh.read(),
                                 description=f"datasheet written to {md_text(r['out_dir'], line_start=False)}")
    return {"out_dir": r["out_dir"], "files": r["files"], "documents": f["corpus"]["documents"]}
