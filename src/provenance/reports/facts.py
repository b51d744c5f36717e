"""Every number a report prints, read from the ledger alone, as one JSON-able dict.

``collect(led)`` is the only place the reports run SQL: the datasheet, the dataset card, the EU summary,
the HTML page, the Prefect artifacts and ``provenance diff`` all render or compare this dict. A section
whose data the ledger does not have (consent never evaluated, ``dedup`` never run) carries
``"available": False`` and a ``why`` the renderers print as is: a report says plainly what it cannot
know, it never fills in a number.
"""

from __future__ import annotations

import math
import os
import re
from datetime import date, datetime
from pathlib import PurePosixPath

from .. import __version__
from .escape import Md

SIZE_CATEGORIES = [  # Hugging Face dataset card `size_categories` buckets (number of examples)
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
]


def size_category(n: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if n < limit:
            return name
    return "n>1T"


def _plain(v):
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):  # numpy / decimal-ish scalars
        try:
            return v.item()
        except Exception:  # noqa: BLE001
            return v
    return v


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [{k: _plain(v) for k, v in zip(names, row)} for row in cur.fetchall()]


def _one(con, sql: str, params: list | None = None) -> dict:
    rows = _rows(con, sql, params)
    return rows[0] if rows else {}


def _scalar(con, sql: str, params: list | None = None):
    row = con.execute(sql, params or []).fetchone()
    return _plain(row[0]) if row else None


def eu_domain_count(domains: int, sme: bool = False) -> int:
    """How many top domains the EU summary lists: the top 10% of all domain names by content size; for
    SMEs the top 5% or 1,000, whichever is lower (at least one when there is any domain)."""
    if domains <= 0:
        return 0
    if sme:
        return max(1, min(math.ceil(domains * 0.05), 1000))
    return max(1, math.ceil(domains * 0.10))


#: how the datasheet names each place a document's license was found (the scanner's closed vocabulary)
WHERE_LABELS = {
    "rel-license": "a rel=\"license\" link",
    "meta": "page metadata (meta tag, JSON-LD, SPDX tag)",
    "footer": "the page's footer or copyright line",
    "inline": "the running text",
    "credit": "an image credit",
    "code": "a code block",
}


def license_where_rows(con) -> list[dict]:
    """Documents with a license found in them, by where their primary license was found: one row per place,
    in the order a page's declaration ranks. Only the fixed vocabulary reaches the report (a value the
    scanner cannot write shows as ``other``); NULL is a document scanned before places were stored."""
    order = list(WHERE_LABELS) + ["other", None]
    out: dict = {}
    for r in _rows(con, "SELECT license_where, documents, words, mean_confidence FROM license_by_where"):
        w = r["license_where"]
        key = w if w in WHERE_LABELS or w is None else "other"
        o = out.setdefault(key, {"where": key or "not recorded", "found": WHERE_LABELS.get(key, "(scanned before 0009)"
                                 if key is None else "(not a known place)"), "documents": 0, "words": 0, "conf_sum": 0.0})
        o["documents"] += r["documents"] or 0
        o["words"] += r["words"] or 0
        o["conf_sum"] += (r["mean_confidence"] or 0.0) * (r["documents"] or 0)
    total = sum(o["documents"] for o in out.values()) or 1
    rows = []
    for key in order:
        if key in out:
            o = out[key]
            conf = o.pop("conf_sum")
            o["mean_confidence"] = round(conf / o["documents"], 3) if key in WHERE_LABELS and o["documents"] else None
            o["share_documents"] = o["documents"] / total
            rows.append(o)
    return rows


def signal_decider_rows(con) -> dict:
    """Documents by the protocol whose signal decided, per use and moment (``document_signal_deciders``,
    migration 0015: a refusal wins, then the page, robots.txt groups, AIPREF, Content Signals, RSL, TDMRep),
    with words and the most frequent deciding evidence. robots.txt group decisions are ranked per (snapshot,
    group, path), never per document and agent. Uses in ``signals.USES`` order, crawl time before now."""
    from ..signals import USES

    rows = _rows(con, """
        WITH x AS (
            SELECT s."use", s.moment, s.protocol, s.allowed, s.evidence, count(*) AS n, sum(d.words) AS w
            FROM document_signal_deciders s JOIN documents d USING (shard_id, position)
            GROUP BY ALL)
        SELECT "use", moment, protocol, allowed, sum(n)::BIGINT AS documents, coalesce(sum(w), 0)::BIGINT AS words,
               first(evidence ORDER BY n DESC, evidence) AS example
        FROM x GROUP BY ALL""")
    order = {u: i for i, u in enumerate(USES)}
    rows.sort(key=lambda r: (order.get(r["use"], len(order)), str(r["use"]), r["moment"] != "crawl",
                             -r["documents"], str(r["protocol"]), bool(r["allowed"])))
    return {"available": bool(rows), "rows": rows,
            "why": None if rows else Md("no consent signal applies to any document (no page signal, robots.txt "
                                        "decision, Content-Usage, Content-Signal, RSL or TDMRep rule matched)")}


def require_current_schema(led) -> None:
    """Reports read a ledger read-only, which never migrates it: an older ledger gets a clear error."""
    import duckdb

    from ..errors import ProvenanceError
    from ..ledger import _migrations

    need = max(v for v, _, _ in _migrations())
    try:
        have = led.schema_version()
    except duckdb.Error as exc:
        raise ProvenanceError(f"{led.path} is not a provenance ledger (no schema_migrations table)") from exc
    if have < need:
        raise ProvenanceError(
            f"ledger {led.path} has schema version {have}, this provenance reads version {need}: open it once with a "
            f"command that writes (e.g. `provenance verdicts --ledger {led.path}`) to migrate it")


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")


def source_location(folder: str | None, base: str | None) -> str:
    """Where shards came from, as a report may show it: a remote (fsspec) URL as its scheme and bucket or
    host only (no credentials, key, query or signature); a local folder relative to ``base`` (the ledger's
    folder) when it is inside it, else by its own name only: never an absolute local path."""
    folder = folder or ""
    m = _SCHEME.match(folder)
    if m and m.group(1).lower() != "file":
        host = m.group(2).rsplit("@", 1)[-1]  # user:password@ is never shown
        return f"{m.group(1).lower()}://{host}"
    if m:  # file://host/path
        folder = "/" + folder[m.end():].lstrip("/")
    folder = folder.replace("\\", "/")
    if base:
        try:
            rel = os.path.relpath(os.path.normpath(folder), os.path.normpath(base))
        except ValueError:  # another drive
            rel = None
        if rel is not None and rel != ".." and not rel.startswith("../"):
            return "." if rel == "." else "./" + rel
    name = PurePosixPath(folder.rstrip("/")).name
    return name or "(root)"


def _sources(con, base: str | None, limit: int = 20) -> list[dict]:
    rows = _rows(con, """SELECT regexp_replace(uri, '/[^/]*$', '') AS folder, count(*) AS shards,
                                coalesce(sum(documents), 0)::BIGINT AS documents
                         FROM shards GROUP BY 1""")
    merged: dict[str, dict] = {}
    for r in rows:  # two folders may show as the same name: one row
        loc = source_location(r["folder"], base)
        m = merged.setdefault(loc, {"location": loc, "shards": 0, "documents": 0, "other": False})
        m["shards"] += r["shards"]
        m["documents"] += r["documents"]
    out = sorted(merged.values(), key=lambda r: (-r["documents"], r["location"]))
    if len(out) > limit:
        rest = out[limit:]
        out = out[:limit] + [{"location": f"({len(rest):,} other locations)", "shards": sum(r["shards"] for r in rest),
                              "documents": sum(r["documents"] for r in rest), "other": True}]
    return out


def _languages(con, limit: int = 20) -> dict:
    """Documents and words per recorded language, the top ``limit``, the rest as one row, and the documents
    with no language as their own row: every document is in the table once."""
    rows = _rows(con, """SELECT nullif(trim(language), '') AS language, count(*) AS documents,
                                coalesce(sum(words), 0)::BIGINT AS words
                         FROM documents GROUP BY 1 ORDER BY words DESC, documents DESC, language""")
    total_docs = sum(r["documents"] for r in rows) or 1
    total_words = sum(r["words"] for r in rows) or 1
    for r in rows:
        r["other"], r["unknown"] = False, r["language"] is None
    known = [r for r in rows if r["language"] is not None]
    unknown = [r for r in rows if r["language"] is None]
    out = known[:limit]
    if len(known) > limit:
        rest = known[limit:]
        out.append({"language": f"({len(rest):,} other languages)", "documents": sum(r["documents"] for r in rest),
                    "words": sum(r["words"] for r in rest), "other": True, "unknown": False})
    for r in unknown:
        out.append({"language": "(not recorded)", "documents": r["documents"], "words": r["words"], "other": False,
                    "unknown": True})
    for r in out:
        r["share_documents"] = r["documents"] / total_docs
        r["share_words"] = r["words"] / total_words
    return {"available": bool(known), "rows": out,
            "why": None if known else Md("no language is recorded for any document (the readers keep a source's "
                                         "language field when it has one; no language identification is run)")}


def collect(led, *, top: int = 30, sme: bool = False, brief: bool = False) -> dict:
    """The facts of one ledger (``provenance.ledger.Ledger``, read-only is enough). Paths are not absolute:
    ``ledger`` is the ledger's file name, shard locations are relative to its folder (:func:`source_location`).
    ``brief=True`` collects only what ``provenance diff`` compares (corpus and shard totals, categories, PII,
    consent by agent, license families, verdicts, runs): the top lists, languages, months, sources, quarantine,
    duplicates, page signals and their deciding protocols, ToS classes, top licenses and where they were found,
    code matches, takedowns and the EU list are left out (their keys too)."""
    require_current_schema(led)
    con = led.con
    led_path = str(led.path)
    base = os.path.dirname(os.path.abspath(led_path)) if not _SCHEME.match(led_path) else None
    f: dict = {"package_version": __version__, "ledger": os.path.basename(led_path) or led_path,
               "schema_version": led.schema_version()}

    # -- corpus ------------------------------------------------------------------------------------
    c = _one(con, """
        SELECT count(*) AS documents, coalesce(sum(words), 0)::BIGINT AS words, coalesce(sum(bytes), 0)::BIGINT AS bytes,
               count(DISTINCT registered_domain) AS domains, count(DISTINCT host) AS hosts,
               count(DISTINCT suffix) AS suffixes,
               min(crawl_date) AS first_crawl, max(crawl_date) AS last_crawl,
               count(*) FILTER (crawl_date IS NULL) AS no_crawl_date,
               count(*) FILTER (registered_domain IS NULL) AS no_registered_domain
        FROM documents""")
    f["corpus"] = c
    f["size_category"] = size_category(c["documents"])
    if not brief:
        f["top_domains"] = _rows(con, """
            SELECT c.rank, coalesce(c.registered_domain, '(no registered domain)') AS registered_domain,
                   coalesce(cat.category, 'Uncategorized') AS category, c.documents, c.words, c.bytes,
                   c.share_documents, c.share_words
            FROM composition_by_domain c
            LEFT JOIN (SELECT registered_domain, min(category) AS category FROM categorized_documents
                       GROUP BY 1) cat ON cat.registered_domain IS NOT DISTINCT FROM c.registered_domain
            ORDER BY c.rank LIMIT ?""", [top])
        f["top_domains_share_words"] = sum(r["share_words"] or 0 for r in f["top_domains"])
        f["suffixes"] = _rows(con, "SELECT rank, suffix, documents, words, share_documents, share_words "
                                   "FROM composition_by_suffix ORDER BY rank LIMIT ?", [top])
    f["categories"] = _rows(con, "SELECT rank, category, domains, documents, words, share_documents, share_words "
                                 "FROM composition_by_category ORDER BY rank")
    if not brief:
        f["languages"] = _languages(con)
        f["crawl_months"] = _rows(con, """
            SELECT strftime(date_trunc('month', crawl_date), '%Y-%m') AS month, count(*) AS documents, sum(words)::BIGINT AS words
            FROM documents WHERE crawl_date IS NOT NULL GROUP BY 1 ORDER BY 1""")

    # -- collection ---------------------------------------------------------------------------------
    f["shards"] = _one(con, """
        SELECT count(*) AS shards, count(*) FILTER (status = 'done') AS done, count(*) FILTER (status = 'partial') AS partial,
               count(*) FILTER (status = 'failed') AS failed, coalesce(sum(rows_read), 0)::BIGINT AS rows_read,
               coalesce(sum(documents), 0)::BIGINT AS documents, coalesce(sum(quarantined), 0)::BIGINT AS quarantined
        FROM shards""")
    if not brief:
        f["formats"] = _rows(con, "SELECT format, count(*) AS shards, sum(documents)::BIGINT AS documents FROM shards GROUP BY 1 ORDER BY 2 DESC")
        f["sources"] = _sources(con, base)
        f["crawls"] = _rows(con, "SELECT crawl, count(*) AS documents FROM documents WHERE crawl IS NOT NULL GROUP BY 1 ORDER BY 1")

    # -- preprocessing: quarantine, duplicates, PII ---------------------------------------------------
    if not brief:
        f["quarantine"] = _rows(con, "SELECT kind, reason, count(*) AS records, coalesce(sum(n_bytes), 0)::BIGINT AS bytes "
                                     "FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC, 2")
        dd = _one(con, "SELECT * FROM dedup_runs ORDER BY run_at DESC LIMIT 1")
        if dd:
            dd["share_duplicates"] = dd["duplicates"] / dd["documents"] if dd.get("documents") else 0.0
            f["duplicates"] = {"available": True, "last_run": dd,
                               "top_domains": _rows(con, "SELECT * FROM duplicates_by_domain ORDER BY duplicates DESC, registered_domain LIMIT 10")}
        else:
            f["duplicates"] = {"available": False, "why": Md("near-duplicates were not clustered (run `provenance dedup`)")}
    pii = _rows(con, "SELECT type, findings, documents, distinct_values, domains, share_documents FROM pii_by_type ORDER BY findings DESC, type")
    f["pii"] = {"available": True, "by_type": pii,
                "documents_with_pii": _scalar(con, "SELECT count(*) FROM documents WHERE pii_count > 0") or 0,
                "raw_values_kept": bool(_scalar(con, "SELECT count(*) FROM pii_findings WHERE value IS NOT NULL") or 0)}
    f["redaction"] = Md("The ledger records findings (type, offsets, salted hash), not redacted copies: redaction happens "
                        "when a subset is exported (`provenance export --redact-pii`) or with `provenance redact`.")

    # -- consent ------------------------------------------------------------------------------------
    evaluated = _scalar(con, "SELECT count(*) FROM consent_documents") or 0
    if evaluated:
        f["consent"] = {
            "available": True,
            # consent_by_agent's shares are over all words: disallowed + allowed + unknown (no snapshot at that
            # time) = 1 at crawl time and now; the share disallowed among words known at crawl time is beside them
            # consent_by_agent's columns, and the counts and shares beside them, from the per-group counts
            # (consent_outcome_counts, 0012), never the documents x agents rows of document_consent
            "by_agent": _rows(con, """
                WITH k AS (SELECT agent,
                                  sum(documents) FILTER (moment = 'crawl' AND outcome = 'unknown') AS unknown_n_crawl,
                                  sum(documents) FILTER (moment = 'now' AND outcome = 'unknown') AS unknown_n_now,
                                  sum(documents) FILTER (moment = 'crawl' AND outcome = 'allowed') AS allowed_n_crawl,
                                  sum(documents) FILTER (moment = 'now' AND outcome = 'allowed') AS allowed_n_now,
                                  sum(words) FILTER (moment = 'crawl' AND outcome = 'allowed') AS allowed_w_crawl,
                                  sum(words) FILTER (moment = 'now' AND outcome = 'allowed') AS allowed_w_now,
                                  sum(words) FILTER (moment = 'crawl' AND outcome = 'disallowed') AS disallowed_w_crawl,
                                  sum(words) FILTER (moment = 'crawl' AND outcome NOT IN ('allowed', 'disallowed')) AS unknown_w_crawl,
                                  sum(words) FILTER (moment = 'now' AND outcome NOT IN ('allowed', 'disallowed')) AS unknown_w_now
                           FROM consent_outcome_counts GROUP BY agent)
                SELECT a.agent, a.documents, a.words, a.disallowed_docs_crawl, a.disallowed_docs_now,
                       a.share_docs_disallowed_crawl, a.share_docs_disallowed_now,
                       a.share_words_disallowed_crawl, a.share_words_disallowed_now,
                       a.unknown_docs_crawl, a.unknown_docs_now,
                       coalesce(k.allowed_w_crawl, 0) / nullif(a.words, 0) AS share_words_allowed_crawl,
                       coalesce(k.unknown_w_crawl, 0) / nullif(a.words, 0) AS share_words_unknown_crawl,
                       coalesce(k.allowed_w_now, 0) / nullif(a.words, 0) AS share_words_allowed_now,
                       coalesce(k.unknown_w_now, 0) / nullif(a.words, 0) AS share_words_unknown_now,
                       coalesce(k.disallowed_w_crawl, 0)
                           / nullif(coalesce(k.allowed_w_crawl, 0) + coalesce(k.disallowed_w_crawl, 0), 0)
                           AS share_words_disallowed_crawl_known,
                       coalesce(k.allowed_n_crawl, 0)::BIGINT AS allowed_docs_crawl,
                       coalesce(k.allowed_n_now, 0)::BIGINT AS allowed_docs_now
                FROM consent_by_agent a JOIN k USING (agent)
                ORDER BY share_words_disallowed_now DESC, agent"""),
            "snapshots": _one(con, """SELECT count(*) AS snapshots, count(DISTINCT host) AS hosts,
                                      min(captured_at) AS first, max(captured_at) AS last
                                      FROM robots_snapshots"""),
            "snapshot_sources": _rows(con, "SELECT source, count(*) AS snapshots FROM robots_snapshots GROUP BY 1 ORDER BY 2 DESC"),
        }
    else:
        f["consent"] = {"available": False,
                        "why": Md("robots.txt consent was not evaluated (no robots.txt snapshots: `provenance robots import` "
                                  "or `robots fetch`)")}
    if not brief:
        f["page_signals"] = _rows(con, """SELECT source, use, allowed, count(DISTINCT (shard_id, position)) AS documents,
                                          count(DISTINCT registered_domain) AS domains FROM page_signals GROUP BY ALL ORDER BY documents DESC, source, use""")
        f["signal_deciders"] = signal_decider_rows(con)
        f["tos"] = _rows(con, "SELECT rank, tos_class, domains, documents, words, non_commercial_docs, no_redistribution_docs, share_words "
                              "FROM composition_by_tos_class ORDER BY rank")

    # -- licenses -----------------------------------------------------------------------------------
    f["license_families"] = _rows(con, "SELECT rank, family, licenses, documents, words, found_in_document, from_domain, share_documents, share_words "
                                       "FROM composition_by_license_family ORDER BY rank")
    if not brief:
        f["top_licenses"] = _rows(con, """
            SELECT license, family, count(*) AS documents, sum(words)::BIGINT AS words,
                   count(*) FILTER (license_source = 'document') AS found_in_document
            FROM licensed_documents
            WHERE license IS NOT NULL GROUP BY 1, 2 ORDER BY documents DESC, license LIMIT 15""")
        f["license_where"] = license_where_rows(con)
        f["code_matches"] = _rows(con, "SELECT * FROM code_matches_by_license ORDER BY matches DESC, license")

    # -- verdicts and takedowns -----------------------------------------------------------------------
    vr = _one(con, "SELECT evaluation_id, evaluated_at, policy, purpose, rules_hash, documents, included, excluded, review "
                   "FROM verdict_runs ORDER BY evaluated_at DESC LIMIT 1")
    if vr:
        f["verdicts"] = {"available": True, "last_evaluation": vr,
                         "counts": _rows(con, "SELECT verdict, documents, words, share_documents, share_words FROM verdict_counts ORDER BY verdict"),
                         "top_reasons": _rows(con, "SELECT reason, verdict, documents, words, domains FROM verdict_reasons "
                                                   "ORDER BY documents DESC, reason LIMIT 15")}
    else:
        f["verdicts"] = {"available": False, "why": Md("no verdicts were evaluated (`provenance verdicts`)")}
    if not brief:
        f["takedowns"] = _rows(con, """SELECT r.request_id, r.kind, r.added_at, count(m.position) AS documents
                                       FROM takedown_requests r LEFT JOIN takedown_matches m USING (request_id)
                                       GROUP BY ALL ORDER BY r.added_at""")

    # -- the audit's own provenance -------------------------------------------------------------------
    f["runs"] = _rows(con, """SELECT run_id, started_at, finished_at, status, package_version, rules_hash, shards_total,
                              shards_scanned, shards_skipped, rows_read, documents, quarantined, round(seconds, 1) AS seconds
                              FROM runs ORDER BY started_at""")
    f["rules_hashes"] = sorted({r["rules_hash"] for r in f["runs"] if r.get("rules_hash")}
                               | ({vr["rules_hash"]} if vr and vr.get("rules_hash") else set()))

    if not brief:
        # -- EU public summary: the top domains by content size -------------------------------------------
        n_eu = eu_domain_count(c["domains"], sme)
        f["eu"] = {
            "sme": sme,
            "rule": ("top 5% of domain names by content size, at most 1,000 (SME)" if sme
                     else "top 10% of domain names by content size"),
            "domains_total": c["domains"],
            "domains_listed": n_eu,
            "top_domains": _rows(con, """SELECT registered_domain, bytes, documents, bytes / sum(bytes) OVER () AS share_bytes
                                         FROM (SELECT registered_domain, sum(bytes)::BIGINT AS bytes, count(*) AS documents
                                               FROM documents WHERE registered_domain IS NOT NULL GROUP BY 1)
                                         QUALIFY row_number() OVER (ORDER BY bytes DESC, registered_domain) <= ?
                                         ORDER BY bytes DESC, registered_domain""", [n_eu]),
        }
        f["eu"]["share_bytes_listed"] = sum(r["share_bytes"] or 0 for r in f["eu"]["top_domains"])
    return f
