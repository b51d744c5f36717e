"""``provenance diff LEDGER_A LEDGER_B``: what changed between two audits.

:func:`diff_ledgers` compares two ledgers and returns one JSON-able dict; :func:`render_diff` prints it as
plain text or Markdown. Whole-ledger numbers come from :func:`provenance.reports.facts.collect` of each side;
what needs both ledgers at once (share-of-words changes over *all* domains, per-document verdict changes)
is SQL over the two files attached read-only to one in-memory DuckDB connection (the ledgers' views
resolve inside their own catalog, so ``a.composition_by_domain`` reads ``a.documents``).

A section one side does not have (consent never evaluated, no verdicts) is reported as unavailable on that
side with the ledger's own ``why``; nothing is filled in.

Documents present in both ledgers are matched first by ``doc_id`` where both sides carry an identifier
from the source (ids the readers generate, ``<shard_id>:<position>``, depend on where the shard was read
from and are not used), then by ``url`` for the rest. A key that repeats on a side is paired in order of
occurrence (shard URI, position), so a match is always one document to one document.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ProvenanceError
from .escape import md_code, md_text, plain
from .facts import _rows, collect

__all__ = ["diff_ledgers", "render_diff"]

NO_DOMAIN = "(no registered domain)"
VERDICT_ORDER = ("include", "review", "exclude")
SAMPLE_CHANGED = 20
MAX_CELL = 100  # text tables cut longer cells (URLs, reason lists)
TOTALS = ("documents", "words", "bytes", "domains", "hosts", "shards", "quarantined")


# -- comparing ----------------------------------------------------------------------------------------
def _delta(a, b):
    return None if a is None or b is None else b - a


def _pair(a, b) -> dict:
    return {"a": a, "b": b, "change": _delta(a, b)}


def _side_facts(path) -> dict:
    from ..ledger import Ledger

    with Ledger(path, read_only=True) as led:
        f = collect(led, brief=True)  # what is compared; the top-N lists are computed below over both ledgers
        f["ledger"] = str(path)  # the path as the user gave it (the reports show the file name only)
        f["ledger_versions"] = [r[0] for r in led.con.execute(
            "SELECT package_version FROM runs GROUP BY 1 ORDER BY min(started_at)").fetchall()]
        f["doc_ids_from_source"] = led.con.execute(
            "SELECT count(*) FROM documents WHERE doc_id <> shard_id || ':' || position::VARCHAR").fetchone()[0]
    return f


def _attach(a_path, b_path):
    import duckdb

    from .. import budget

    con = duckdb.connect()
    budget.apply(con, temp_directory=str(a_path) + ".tmp")  # spills beside the first ledger, not in the cwd
    same = os.path.realpath(a_path) == os.path.realpath(b_path)
    for alias, p in (("a", a_path),) + (() if same else (("b", b_path),)):
        quoted = str(p).replace("'", "''")
        try:
            con.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
        except Exception as exc:  # noqa: BLE001 - duckdb raises several kinds; all mean "cannot read it"
            con.close()
            raise ProvenanceError(f"cannot open ledger {p} read-only: {exc}") from exc
    return con, "a", ("a" if same else "b")


def _composition(con, A: str, B: str, top: int, fa: dict, fb: dict) -> dict:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _domains AS
        SELECT coalesce(x.registered_domain, y.registered_domain, '{NO_DOMAIN}') AS registered_domain,
               x.rank AS rank_a, y.rank AS rank_b,
               coalesce(x.documents, 0) AS documents_a, coalesce(y.documents, 0) AS documents_b,
               coalesce(x.words, 0) AS words_a, coalesce(y.words, 0) AS words_b,
               coalesce(x.share_words, 0.0) AS share_words_a, coalesce(y.share_words, 0.0) AS share_words_b,
               coalesce(y.share_words, 0.0) - coalesce(x.share_words, 0.0) AS change
        FROM {A}.composition_by_domain x
        FULL OUTER JOIN {B}.composition_by_domain y ON x.registered_domain IS NOT DISTINCT FROM y.registered_domain""")
    counts = _rows(con, """SELECT count(*) AS domains, count(*) FILTER (rank_a IS NULL) AS only_in_b,
                                  count(*) FILTER (rank_b IS NULL) AS only_in_a,
                                  count(*) FILTER (change <> 0) AS share_changed
                           FROM _domains""")[0]
    entering = _rows(con, "SELECT * FROM _domains WHERE rank_b <= ? AND (rank_a IS NULL OR rank_a > ?) ORDER BY rank_b",
                     [top, top])
    leaving = _rows(con, "SELECT * FROM _domains WHERE rank_a <= ? AND (rank_b IS NULL OR rank_b > ?) ORDER BY rank_a",
                    [top, top])
    changes = _rows(con, "SELECT * FROM _domains WHERE change <> 0 ORDER BY abs(change) DESC, registered_domain LIMIT ?",
                    [top])
    categories = _categories(fa, fb)
    return {"top": top, "domains": counts, "entering_top": entering, "leaving_top": leaving,
            "share_changes": changes, "categories": categories}


def _categories(fa: dict, fb: dict) -> list[dict]:
    """Every category's documents and share of words on both sides, from each side's facts (their
    ``composition_by_category``, which a join of the two views here read again: 3.6 s at 5M documents)."""
    xa = {r["category"]: r for r in fa["categories"]}
    xb = {r["category"]: r for r in fb["categories"]}
    rows = []
    for c in set(xa) | set(xb):
        x, y = xa.get(c, {}), xb.get(c, {})
        sa, sb = x.get("share_words") or 0.0, y.get("share_words") or 0.0
        rows.append({"category": c, "documents_a": x.get("documents") or 0, "documents_b": y.get("documents") or 0,
                     "share_words_a": sa, "share_words_b": sb, "change": sb - sa})
    rows.sort(key=lambda r: (-abs(r["change"]), -max(r["share_words_a"], r["share_words_b"]), r["category"]))
    return rows


#: a document on a side is (ord, position): its shard's rank (``_side_sql``) and its position in the shard.
#: Integer keys: matching and joining on the shard ids' strings took 8.4 s + 5.7 s at 5M documents, on the
#: ranks 5.9 + 2.4 s (bench/scale.py's diff)
_PAIRS_COLS = "a_ord BIGINT, a_pos BIGINT, b_ord BIGINT, b_pos BIGINT, url VARCHAR, matched_by VARCHAR"


def _rank_shards(con, cat: str) -> None:
    """TEMP TABLE ``_ord_<cat>``: every shard of a ledger with its rank by URI (then id); a shard that has
    documents but no row in ``shards`` (not written by a scan) ranks after the others, by id."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _ord_{cat} AS
        SELECT shard_id, row_number() OVER (ORDER BY uri NULLS LAST, shard_id) AS ord
        FROM (SELECT shard_id, uri FROM {cat}.shards
              UNION ALL
              SELECT shard_id, NULL FROM (SELECT DISTINCT shard_id FROM {cat}.documents)
              WHERE shard_id NOT IN (SELECT shard_id FROM {cat}.shards))""")


def _ords(cat: str) -> str:
    return f"_ord_{cat}"


def _side_sql(cat: str) -> str:
    """One ledger's documents with what the matching needs: ``ord`` ranks the shards by URI (then id), so
    ``(ord, position)`` is the order of occurrence without sorting the URIs' strings with every document."""
    return f"""SELECT s.ord, d.position, d.doc_id, d.url,
                      d.doc_id <> d.shard_id || ':' || d.position::VARCHAR AS has_id
               FROM {cat}.documents d JOIN {_ords(cat)} s USING (shard_id)"""


def _by_id_sql(xa: str, xb: str) -> str:
    return f"""
    WITH ida AS (SELECT ord, position, doc_id, url,
                        row_number() OVER (PARTITION BY doc_id ORDER BY ord, position) AS occ FROM {xa}),
         idb AS (SELECT ord, position, doc_id,
                        row_number() OVER (PARTITION BY doc_id ORDER BY ord, position) AS occ FROM {xb})
    SELECT ida.ord, ida.position, idb.ord, idb.position, ida.url, 'doc_id'
    FROM ida JOIN idb ON ida.doc_id = idb.doc_id AND ida.occ = idb.occ"""


def _by_url_sql(xa: str, xb: str) -> str:
    return f"""
    WITH ra AS (SELECT ord, position, url,
                       row_number() OVER (PARTITION BY url ORDER BY ord, position) AS occ FROM {xa}),
         rb AS (SELECT ord, position, url,
                       row_number() OVER (PARTITION BY url ORDER BY ord, position) AS occ FROM {xb})
    SELECT ra.ord, ra.position, rb.ord, rb.position, coalesce(ra.url, rb.url),
           CASE WHEN ra.ord IS NOT NULL AND rb.ord IS NOT NULL THEN 'url' END
    FROM ra FULL OUTER JOIN rb ON ra.url = rb.url AND ra.occ = rb.occ"""


def _match(con, A: str, B: str, ids: bool) -> None:
    """CREATE TEMP TABLE _pairs: one row per document in either ledger, with its (ord, position) on each side
    and how it was matched (``doc_id``, ``url``, or NULL: on one side only). The sorts and the join carry only
    the keys, the shard's rank and the position: with every column of both sides (and the shards' URIs as sort
    keys) matching 5M documents with themselves spilled more and took 24-38 s instead of 17 (docs/scale.md).
    ``ids``: both ledgers have documents with identifiers from the source."""
    for cat in {A, B}:
        _rank_shards(con, cat)
    xa, xb = _side_sql(A), _side_sql(B)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _pairs ({_PAIRS_COLS})")
    if ids:  # by doc_id first; the rest of each side goes on to the URL matching
        con.execute(f"INSERT INTO _pairs {_by_id_sql(f'(SELECT * FROM ({xa}) WHERE has_id)', f'(SELECT * FROM ({xb}) WHERE has_id)')}")
        xa = f"SELECT x.* FROM ({xa}) x ANTI JOIN _pairs m ON x.ord = m.a_ord AND x.position = m.a_pos"
        xb = f"SELECT x.* FROM ({xb}) x ANTI JOIN _pairs m ON x.ord = m.b_ord AND x.position = m.b_pos"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _by_url AS {_by_url_sql(f'({xa})', f'({xb})')}")
        con.execute("INSERT INTO _pairs SELECT * FROM _by_url")
        con.execute("DROP TABLE _by_url")
    else:
        con.execute(f"INSERT INTO _pairs {_by_url_sql(f'({xa})', f'({xb})')}")


def _documents_and_verdicts(con, A: str, B: str, fa: dict, fb: dict) -> tuple[dict, dict]:
    _match(con, A, B, ids=bool(fa["doc_ids_from_source"] and fb["doc_ids_from_source"]))
    docs = _rows(con, """SELECT count(*) FILTER (matched_by IS NOT NULL) AS in_both,
                                count(*) FILTER (matched_by = 'doc_id') AS matched_by_doc_id,
                                count(*) FILTER (matched_by = 'url') AS matched_by_url,
                                count(*) FILTER (b_ord IS NULL) AS removed,
                                count(*) FILTER (a_ord IS NULL) AS added
                         FROM _pairs""")[0]
    docs["doc_ids_from_source"] = {"a": fa["doc_ids_from_source"], "b": fb["doc_ids_from_source"]}

    va, vb = fa["verdicts"], fb["verdicts"]
    out: dict = {"available": {"a": va["available"], "b": vb["available"]},
                 "why": {"a": va.get("why"), "b": vb.get("why")}}
    for side, v in (("a", va), ("b", vb)):
        le = v.get("last_evaluation") or {}
        out[side] = {k: le.get(k) for k in ("evaluation_id", "evaluated_at", "policy", "rules_hash", "documents")} if le else None
    ca = {r["verdict"]: r for r in va.get("counts", [])}
    cb = {r["verdict"]: r for r in vb.get("counts", [])}
    names = sorted(set(ca) | set(cb), key=lambda v: (VERDICT_ORDER.index(v) if v in VERDICT_ORDER else 99, v))
    out["counts"] = [{
        "verdict": v,
        "documents": _pair(ca.get(v, {}).get("documents", 0) if va["available"] else None,
                           cb.get(v, {}).get("documents", 0) if vb["available"] else None),
        "share_documents": _pair(ca.get(v, {}).get("share_documents", 0.0) if va["available"] else None,
                                 cb.get(v, {}).get("share_documents", 0.0) if vb["available"] else None),
        "share_words": _pair(ca.get(v, {}).get("share_words", 0.0) if va["available"] else None,
                             cb.get(v, {}).get("share_words", 0.0) if vb["available"] else None),
    } for v in names]
    out["policy_changed"] = (out["a"]["policy"] != out["b"]["policy"]) if out["a"] and out["b"] else None
    out["rules_changed"] = (out["a"]["rules_hash"] != out["b"]["rules_hash"]) if out["a"] and out["b"] else None

    if not (va["available"] and vb["available"]):
        out["documents"] = {"available": False,
                            "why": "they need verdicts in both ledgers"}
        return docs, out
    # the matched documents' verdicts, joined once (the summaries below each ran this join) on the integer keys,
    # with only what the summaries need (with the URLs and the B keys carried along: 4.3 s instead of 2.4 at 5M)
    def verdicts(cat: str) -> str:
        return f"""SELECT s.ord, v.position, v.verdict, v.reasons
                   FROM {cat}.document_verdicts v JOIN {_ords(cat)} s USING (shard_id)"""

    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _joined AS
        SELECT p.a_ord, p.a_pos, va.verdict AS verdict_a, vb.verdict AS verdict_b,
               va.reasons IS NOT DISTINCT FROM vb.reasons AS same_reasons
        FROM _pairs p
        LEFT JOIN ({verdicts(A)}) va ON va.ord = p.a_ord AND va.position = p.a_pos
        LEFT JOIN ({verdicts(B)}) vb ON vb.ord = p.b_ord AND vb.position = p.b_pos
        WHERE p.matched_by IS NOT NULL""")
    transitions = _rows(con, """
        SELECT * FROM (SELECT coalesce(verdict_a, '(none)') AS "from", coalesce(verdict_b, '(none)') AS "to",
                              count(*) AS documents FROM _joined GROUP BY 1, 2) t
        ORDER BY array_position(['include', 'review', 'exclude'], t."from") NULLS LAST, t."from",
                 array_position(['include', 'review', 'exclude'], t."to") NULLS LAST, t."to" """)
    stats = _rows(con, """
        SELECT count(*) FILTER (verdict_a IS DISTINCT FROM verdict_b) AS changed,
               count(*) FILTER (verdict_a IS NOT DISTINCT FROM verdict_b AND NOT same_reasons) AS reasons_changed,
               count(*) FILTER (verdict_a IS NOT DISTINCT FROM verdict_b AND same_reasons) AS unchanged
        FROM _joined""")[0]
    # a few of every kind of change (round robin over the transitions), in a stable order: the changed
    # documents' URLs, then these few's reasons, joined here
    sample = _rows(con, f"""
        WITH s AS (SELECT p.a_ord, p.a_pos, p.b_ord, p.b_pos, p.url, p.matched_by, j.verdict_a, j.verdict_b,
                          row_number() OVER (PARTITION BY j.verdict_a, j.verdict_b ORDER BY p.url) AS k
                   FROM (SELECT * FROM _joined WHERE verdict_a IS DISTINCT FROM verdict_b) j
                   JOIN (SELECT * FROM _pairs WHERE matched_by IS NOT NULL) p USING (a_ord, a_pos)
                   QUALIFY k <= ? ORDER BY k, j.verdict_a, j.verdict_b, p.url LIMIT ?)
        SELECT s.url, s.matched_by, s.verdict_a, s.verdict_b, va.reasons AS reasons_a, vb.reasons AS reasons_b
        FROM s
        LEFT JOIN ({verdicts(A)}) va ON va.ord = s.a_ord AND va.position = s.a_pos
        LEFT JOIN ({verdicts(B)}) vb ON vb.ord = s.b_ord AND vb.position = s.b_pos
        ORDER BY s.k, s.verdict_a, s.verdict_b, s.url""", [SAMPLE_CHANGED, SAMPLE_CHANGED])
    out["documents"] = {"available": True, "compared": sum(t["documents"] for t in transitions),
                        "transitions": transitions, **stats, "sample": sample}
    return docs, out


def _consent(fa: dict, fb: dict) -> dict:
    ca, cb = fa["consent"], fb["consent"]
    out: dict = {"available": {"a": ca["available"], "b": cb["available"]}, "why": {"a": ca.get("why"), "b": cb.get("why")}}
    ra = {r["agent"]: r for r in ca.get("by_agent", [])}
    rb = {r["agent"]: r for r in cb.get("by_agent", [])}
    rows = []
    for agent in sorted(set(ra) | set(rb)):
        x, y = ra.get(agent), rb.get(agent)
        rows.append({
            "agent": agent, "in_a": x is not None, "in_b": y is not None,
            "share_words_disallowed_crawl": _pair(x and x["share_words_disallowed_crawl"], y and y["share_words_disallowed_crawl"]),
            "share_words_disallowed_now": _pair(x and x["share_words_disallowed_now"], y and y["share_words_disallowed_now"]),
        })
    rows.sort(key=lambda r: (-abs(r["share_words_disallowed_now"]["change"] or 0),
                             -max(r["share_words_disallowed_now"]["a"] or 0, r["share_words_disallowed_now"]["b"] or 0),
                             r["agent"]))
    out["by_agent"] = rows
    both = ca["available"] and cb["available"]
    out["only_in_a"] = sorted(set(ra) - set(rb)) if both else []
    out["only_in_b"] = sorted(set(rb) - set(ra)) if both else []
    out["snapshots"] = {"a": ca.get("snapshots"), "b": cb.get("snapshots")}
    return out


def _pii(fa: dict, fb: dict) -> dict:
    pa_, pb_ = fa["pii"], fb["pii"]
    xa = {r["type"]: r for r in pa_["by_type"]}
    xb = {r["type"]: r for r in pb_["by_type"]}
    rows = [{"type": t,
             "findings": _pair(xa.get(t, {}).get("findings", 0), xb.get(t, {}).get("findings", 0)),
             "documents": _pair(xa.get(t, {}).get("documents", 0), xb.get(t, {}).get("documents", 0))}
            for t in set(xa) | set(xb)]
    rows.sort(key=lambda r: (-abs(r["findings"]["change"]), -max(r["findings"]["a"], r["findings"]["b"]), r["type"]))
    return {"available": {"a": pa_["available"], "b": pb_["available"]},
            "documents_with_pii": _pair(pa_["documents_with_pii"], pb_["documents_with_pii"]),
            "by_type": rows}


def _licenses(fa: dict, fb: dict) -> list[dict]:
    xa = {r["family"]: r for r in fa["license_families"]}
    xb = {r["family"]: r for r in fb["license_families"]}
    rows = [{"family": f,
             "documents": _pair(xa.get(f, {}).get("documents", 0), xb.get(f, {}).get("documents", 0)),
             "share_words": _pair(xa.get(f, {}).get("share_words", 0.0), xb.get(f, {}).get("share_words", 0.0))}
            for f in set(xa) | set(xb)]
    rows.sort(key=lambda r: (-abs(r["share_words"]["change"]), -max(r["share_words"]["a"], r["share_words"]["b"]), r["family"]))
    return rows


def _audit(f: dict) -> dict:
    runs = f["runs"]
    last = runs[-1] if runs else {}
    ve = f["verdicts"].get("last_evaluation") or {}
    return {"ledger": f["ledger"], "schema_version": f["schema_version"], "package_versions": f["ledger_versions"],
            "runs": len(runs), "last_run": last.get("started_at"), "scan_rules_hash": last.get("rules_hash"),
            "verdict_rules_hash": ve.get("rules_hash"), "rules_hashes": f["rules_hashes"]}


def diff_ledgers(a_path, b_path, *, top: int = 30) -> dict:
    """What changed from ledger ``a_path`` (the earlier audit) to ledger ``b_path``, as a JSON-able dict with
    the sections ``totals``, ``composition``, ``consent``, ``verdicts``, ``pii``, ``licenses``, ``audit``
    (rules hashes, package versions) and ``documents`` (how documents were matched), plus ``changed``:
    whether anything at all differs."""
    a_path, b_path = str(a_path), str(b_path)
    for p in (a_path, b_path):
        if not Path(p).exists():
            raise ProvenanceError(f"no ledger at {p}")
    fa, fb = _side_facts(a_path), _side_facts(b_path)

    def total(f: dict, k: str):
        return f["shards"][k] if k in ("shards", "quarantined") else f["corpus"][k]

    d: dict = {"a": a_path, "b": b_path, "top": top,
               "totals": {k: _pair(total(fa, k), total(fb, k)) for k in TOTALS}}
    con, A, B = _attach(a_path, b_path)
    try:
        d["composition"] = _composition(con, A, B, top, fa, fb)
        d["consent"] = _consent(fa, fb)
        d["documents"], d["verdicts"] = _documents_and_verdicts(con, A, B, fa, fb)
    finally:
        con.close()
    d["pii"] = _pii(fa, fb)
    d["licenses"] = _licenses(fa, fb)
    aa, ab = _audit(fa), _audit(fb)
    rules_a = aa["verdict_rules_hash"] or aa["scan_rules_hash"]
    rules_b = ab["verdict_rules_hash"] or ab["scan_rules_hash"]
    d["audit"] = {"a": aa, "b": ab, "rules_changed": (rules_a != rules_b) if rules_a and rules_b else None,
                  "versions_changed": aa["package_versions"][-1:] != ab["package_versions"][-1:]}
    d["changed"] = _anything_changed(d)
    return d


def _anything_changed(d: dict) -> bool:
    if any(v["change"] for v in d["totals"].values()):
        return True
    c = d["composition"]
    if c["domains"]["only_in_a"] or c["domains"]["only_in_b"] or c["domains"]["share_changed"] or c["entering_top"] \
            or c["leaving_top"] or any(r["change"] for r in c["categories"]):
        return True
    cs = d["consent"]
    if cs["available"]["a"] != cs["available"]["b"] or cs["only_in_a"] or cs["only_in_b"] or any(
            r["share_words_disallowed_crawl"]["change"] or r["share_words_disallowed_now"]["change"] for r in cs["by_agent"]):
        return True
    if d["documents"]["removed"] or d["documents"]["added"]:
        return True
    v = d["verdicts"]
    if v["available"]["a"] != v["available"]["b"] or v["policy_changed"] or v["rules_changed"] \
            or any(r["documents"]["change"] for r in v["counts"]):
        return True
    if v["documents"].get("available") and (v["documents"]["changed"] or v["documents"]["reasons_changed"]):
        return True
    if d["pii"]["documents_with_pii"]["change"] or any(r["findings"]["change"] or r["documents"]["change"] for r in d["pii"]["by_type"]):
        return True
    if any(r["documents"]["change"] or r["share_words"]["change"] for r in d["licenses"]):
        return True
    return bool(d["audit"]["rules_changed"])


# -- rendering ----------------------------------------------------------------------------------------
def _n(v) -> str:
    return "n/a" if v is None else f"{v:,}"


def _p(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _signed_n(v) -> str:
    return "" if v is None else ("0" if v == 0 else f"{v:+,}")


def _signed_pp(v) -> str:
    if v is None:
        return ""
    pp = 100 * v
    return "0.00 pp" if round(pp, 2) == 0 else f"{pp:+.2f} pp"


def _num_change(pair: dict) -> tuple[str, str, str]:
    return (_n(pair["a"]), _n(pair["b"]), _signed_n(pair["change"]))


def _share_change(pair: dict) -> tuple[str, str, str]:
    return (_p(pair["a"]), _p(pair["b"]), _signed_pp(pair["change"]))


def _change_str(parts: tuple[str, str, str], widths=(0, 0, 0)) -> str:
    """``a -> b (change)``; with widths, a and b right-aligned and the change left-aligned after them."""
    a, b = parts[0].rjust(widths[0]), parts[1].rjust(widths[1])
    c = f"({parts[2]})" if parts[2] else ""
    if widths[2]:  # a table column: every cell the same width
        return f"{a} -> {b} {c.ljust(widths[2] + 2)}"
    return f"{a} -> {b} {c}" if c else f"{a} -> {b}"


class _Out:
    """Lines of the report, in text or Markdown. Whatever came from a ledger (domain names, URLs, agents,
    reasons, policies, paths) goes in through :meth:`esc`, :meth:`code` or a table cell, which escape it for
    Markdown, or for a terminal in text mode (one line, no control characters)."""

    def __init__(self, fmt: str):
        if fmt not in ("text", "markdown"):
            raise ValueError(f"format {fmt!r}: expected 'text' or 'markdown'")
        self.md = fmt == "markdown"
        self.lines: list[str] = []

    def title(self, s: str) -> None:
        self.lines += [f"# {s}", ""] if self.md else [s, "=" * len(s), ""]

    def section(self, s: str) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")
        self.lines += [f"## {s}", ""] if self.md else [s, "-" * len(s), ""]

    def para(self, s: str) -> None:
        self.lines += [s, ""]

    def bullet(self, s: str) -> None:
        self.lines.append(f"- {s}" if self.md else f"  {s}")

    def end_list(self) -> None:
        self.lines.append("")

    def code(self, s) -> str:
        return md_code(s, limit=MAX_CELL * 3) if self.md else plain(s)

    def esc(self, s) -> str:
        return md_text(s, line_start=False, limit=MAX_CELL * 3) if self.md else plain(s)

    def table(self, headers: list[str], rows: list[list], right: set[int] | None = None) -> None:
        """Cells are strings or (a, b, change) tuples, shown as ``a -> b (change)`` with each part aligned."""
        if not rows:
            return
        right = right or set()
        tuple_w = {}
        for i in range(len(headers)):
            parts = [r[i] for r in rows if isinstance(r[i], tuple)]
            if parts:
                tuple_w[i] = tuple(max(len(p[k]) for p in parts) for k in range(3))
                if self.md:
                    right.add(i)
        cells = [[(_change_str(c, tuple_w[i] if not self.md else (0, 0, 0)) if isinstance(c, tuple)
                   else md_text(c, line_start=False, limit=MAX_CELL * 3) if self.md else plain(c, limit=MAX_CELL))
                  for i, c in enumerate(r)] for r in rows]
        if self.md:
            self.lines.append("| " + " | ".join(headers) + " |")
            self.lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
            self.lines += ["| " + " | ".join(r) + " |" for r in cells]
        else:
            widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

            def line(vals):
                return "  " + "  ".join(v.rjust(w) if i in right else v.ljust(w)
                                        for i, (v, w) in enumerate(zip(vals, widths))).rstrip()

            self.lines.append(line(headers))
            self.lines.append(line(["-" * w for w in widths]))
            self.lines += [line(r) for r in cells]
        self.lines.append("")

    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def _reasons(v) -> str:
    return ", ".join(v) if v else "(none)"


def render_diff(d: dict, fmt: str = "text") -> str:
    """The diff as a readable report: ``fmt`` is ``"text"`` (aligned plain tables) or ``"markdown"``."""
    o = _Out(fmt)
    au = d["audit"]
    o.title("What changed between two audits")
    o.bullet(f"A: {o.code(d['a'])} ({_n(d['totals']['documents']['a'])} documents)")
    o.bullet(f"B: {o.code(d['b'])} ({_n(d['totals']['documents']['b'])} documents)")
    ha = au["a"]["verdict_rules_hash"] or au["a"]["scan_rules_hash"]
    hb = au["b"]["verdict_rules_hash"] or au["b"]["scan_rules_hash"]
    if au["rules_changed"] is None:
        o.bullet("rules: unknown for " + " and ".join(s.upper() for s, h in (("a", ha), ("b", hb)) if not h)
                 + " (never scanned or evaluated)")
    else:
        o.bullet(f"rules: changed, {o.code(ha)} -> {o.code(hb)}" if au["rules_changed"] else f"rules: the same ({o.code(ha)})")
    if not d["changed"]:
        o.bullet("no differences: the two ledgers hold the same numbers")
    o.end_list()

    # totals
    o.section("Totals")
    o.table(["", "A -> B (change)"], [[k, _num_change(v)] for k, v in d["totals"].items()])

    # composition
    c = d["composition"]
    top = c["top"]
    o.section("Composition")
    dom = c["domains"]
    o.para(f"{_n(dom['domains'])} registered domains across both ledgers: {_n(dom['only_in_b'])} only in B (new), "
           f"{_n(dom['only_in_a'])} only in A (gone); the share of words changed for {_n(dom['share_changed'])}.")
    if c["entering_top"]:
        o.para(f"Entering the top {top} by share of words:")
        o.table(["registered domain", "rank A", "rank B", "share of words"],
                [[r["registered_domain"], "-" if r["rank_a"] is None else str(r["rank_a"]), str(r["rank_b"]),
                  _share_change({"a": r["share_words_a"], "b": r["share_words_b"], "change": r["change"]})]
                 for r in c["entering_top"]], right={1, 2})
    if c["leaving_top"]:
        o.para(f"Leaving the top {top} by share of words:")
        o.table(["registered domain", "rank A", "rank B", "share of words"],
                [[r["registered_domain"], str(r["rank_a"]), "-" if r["rank_b"] is None else str(r["rank_b"]),
                  _share_change({"a": r["share_words_a"], "b": r["share_words_b"], "change": r["change"]})]
                 for r in c["leaving_top"]], right={1, 2})
    if not c["entering_top"] and not c["leaving_top"]:
        o.para(f"The top {top} domains by share of words are the same domains.")
    if c["share_changes"]:
        o.para(f"Biggest changes in share of words, per registered domain (all domains, at most {top}):")
        o.table(["registered domain", "documents", "share of words"],
                [[r["registered_domain"], (_n(r["documents_a"]), _n(r["documents_b"]), _signed_n(r["documents_b"] - r["documents_a"])),
                  _share_change({"a": r["share_words_a"], "b": r["share_words_b"], "change": r["change"]})]
                 for r in c["share_changes"]])
    else:
        o.para("No domain's share of words changed.")
    if c["categories"]:
        o.para("Categories, by share of words:")
        o.table(["category", "documents", "share of words"],
                [[r["category"], (_n(r["documents_a"]), _n(r["documents_b"]), _signed_n(r["documents_b"] - r["documents_a"])),
                  _share_change({"a": r["share_words_a"], "b": r["share_words_b"], "change": r["change"]})]
                 for r in c["categories"]])

    # consent
    cs = d["consent"]
    o.section("Consent (robots.txt)")
    for side in ("a", "b"):
        if not cs["available"][side]:
            o.bullet(f"{side.upper()}: not available: {o.esc(cs['why'][side])}")
    if not (cs["available"]["a"] and cs["available"]["b"]):
        o.end_list()
    if cs["by_agent"]:
        o.para("Share of words each agent may not use, per the robots.txt in force at crawl time and now:")
        o.table(["agent", "disallowed at crawl time", "disallowed now"],
                [[r["agent"], _share_change(r["share_words_disallowed_crawl"]), _share_change(r["share_words_disallowed_now"])]
                 for r in cs["by_agent"]])
    for side, label in (("only_in_a", "Agents evaluated only in A"), ("only_in_b", "Agents evaluated only in B")):
        if cs[side]:
            o.para(f"{label}: {', '.join(o.esc(x) for x in cs[side])}.")
    if not cs["by_agent"]:
        o.para("Consent is evaluated in neither ledger.")

    # verdicts
    v = d["verdicts"]
    o.section("Verdicts")
    for side in ("a", "b"):
        if not v["available"][side]:
            o.bullet(f"{side.upper()}: not available: {o.esc(v['why'][side])}")
        else:
            e = v[side]
            o.bullet(f"{side.upper()}: policy {o.code(e['policy'])}, rules {o.code(e['rules_hash'])}, "
                     f"evaluated {o.esc(str(e['evaluated_at'])[:19].replace('T', ' '))}")
    if v["policy_changed"]:
        o.bullet("the policy changed")
    if v["rules_changed"]:
        o.bullet("the rules changed between the two evaluations")
    o.end_list()
    if v["counts"]:
        o.table(["verdict", "documents", "share of documents", "share of words"],
                [[r["verdict"], _num_change(r["documents"]), _share_change(r["share_documents"]), _share_change(r["share_words"])]
                 for r in v["counts"]])
    docs = d["documents"]
    how = []
    if docs["matched_by_doc_id"]:
        how.append(f"{_n(docs['matched_by_doc_id'])} by doc_id")
    if docs["matched_by_url"]:
        how.append(f"{_n(docs['matched_by_url'])} by URL")
    o.para(f"Documents: {_n(docs['in_both'])} in both ledgers" + (f" (matched {', '.join(how)})" if how else "")
           + f"; {_n(docs['removed'])} only in A (removed); {_n(docs['added'])} only in B (added).")
    vd = v["documents"]
    if not vd["available"]:
        o.para(f"Per-document verdict changes: not available: {o.esc(vd['why'])}.")
    else:
        o.para(f"Of the {_n(vd['compared'])} documents in both: {_n(vd['changed'])} changed verdict, "
               f"{_n(vd['reasons_changed'])} kept their verdict with other reasons, {_n(vd['unchanged'])} unchanged.")
        if vd["transitions"]:
            o.para("Transitions (verdict in A -> verdict in B):")
            o.table(["A", "B", "documents"], [[t["from"], t["to"], _n(t["documents"])] for t in vd["transitions"]], right={2})
        if vd["sample"]:
            o.para(f"Some documents whose verdict changed ({len(vd['sample'])} of {_n(vd['changed'])}):")
            o.table(["url", "verdict", "reasons in A", "reasons in B"],
                    [[r["url"], f"{r['verdict_a'] or '(none)'} -> {r['verdict_b'] or '(none)'}",
                      _reasons(r["reasons_a"]), _reasons(r["reasons_b"])] for r in vd["sample"]])

    # pii
    p = d["pii"]
    o.section("PII")
    o.para(f"Documents with PII findings: {_change_str(_num_change(p['documents_with_pii']))}.")
    if p["by_type"]:
        o.table(["type", "findings", "documents"],
                [[r["type"], _num_change(r["findings"]), _num_change(r["documents"])] for r in p["by_type"]])

    # licenses
    o.section("Licenses")
    if not d["licenses"]:
        o.para("Neither ledger has documents.")
    else:
        o.table(["family", "documents", "share of words"],
                [[r["family"], _num_change(r["documents"]), _share_change(r["share_words"])] for r in d["licenses"]])

    # the audits themselves
    o.section("Rules and versions")
    rows = [["ledger", au["a"]["ledger"], au["b"]["ledger"]],
            ["schema version", str(au["a"]["schema_version"]), str(au["b"]["schema_version"])],
            ["provenance versions (scans)", ", ".join(au["a"]["package_versions"]) or "-", ", ".join(au["b"]["package_versions"]) or "-"],
            ["scan runs", _n(au["a"]["runs"]), _n(au["b"]["runs"])],
            ["last scan", str(au["a"]["last_run"] or "-")[:19].replace("T", " "), str(au["b"]["last_run"] or "-")[:19].replace("T", " ")],
            ["rules hash, last scan", au["a"]["scan_rules_hash"] or "-", au["b"]["scan_rules_hash"] or "-"],
            ["rules hash, verdicts", au["a"]["verdict_rules_hash"] or "-", au["b"]["verdict_rules_hash"] or "-"],
            ["all rules hashes", ", ".join(au["a"]["rules_hashes"]) or "-", ", ".join(au["b"]["rules_hashes"]) or "-"]]
    o.table(["", "A", "B"], rows)
    if au["rules_changed"] is not None:
        o.para("The rules changed between the two audits: verdicts and categories may differ for that reason alone."
               if au["rules_changed"] else "Both audits used the same rules.")
    return o.text()
