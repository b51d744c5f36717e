"""The notebooks in notebooks/ (jupytext py:percent files): valid, diff-stable percent notebooks, and, executed
against a ledger built from the generated sample, they print the same numbers as SQL over the ledger; on an
empty ledger they say so instead of failing."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from conftest import REPO, run_cli, sql

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = REPO / "notebooks"
KERNEL = "provenance-notebooks"  # a kernelspec written for this run: the interpreter running the tests


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A kernelspec that starts ``sys.executable -m ipykernel_launcher`` (whatever `python3` means elsewhere on
    this machine), plus Jupyter/IPython state directories inside the test's temporary tree."""
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(path=root / "kernels" / KERNEL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        mp.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
        mp.setenv("IPYTHONDIR", str(root / "ipython"))
        mp.setenv("MPLCONFIGDIR", str(root / "mpl"))
        yield root


def execute(name: str, cwd: Path, ledger: Path | str | None):
    """Run notebooks/<name>.py top to bottom in a fresh kernel (cwd ``cwd``, ``PROVENANCE_LEDGER=ledger``, or
    unset for None); returns {cell tag or index: printed text} and the executed notebook."""
    from nbclient import NotebookClient

    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    with pytest.MonkeyPatch.context() as mp:
        if ledger is None:
            mp.delenv("PROVENANCE_LEDGER", raising=False)
        else:
            mp.setenv("PROVENANCE_LEDGER", str(ledger))
        NotebookClient(nb, timeout=120, startup_timeout=120, kernel_name=KERNEL,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    out = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        out[(cell.metadata.get("tags") or [i])[0]] = text
    return out, nb


def table_rows(text: str, first_column: str, with_column: str | None = None) -> list[dict]:
    """The rows of the first aligned table (provenance.cli.format_table) in ``text`` whose header starts with
    ``first_column`` (and has ``with_column``)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines)
                 if ln.split()[:1] == [first_column] and (with_column is None or with_column in ln.split()))
    names = lines[start].split()
    rows = []
    for ln in lines[start + 2:]:
        if not ln.strip():
            break
        cells = re.split(r"\s{2,}", ln.strip())
        assert len(cells) == len(names), ln
        rows.append(dict(zip(names, cells)))
    return rows


def pct(x) -> str:
    return f"{100 * float(x):.2f}%"


@pytest.fixture(scope="module")
def ledger(small_sample, prefect_api, tmp_path_factory):
    """The sample scanned, then its robots.txt captures imported as a user would (`provenance robots import`),
    2019 captures first and 2024 ones later: consent is evaluated twice, so "now" moves once and
    consent_changes has rows, as after a refresh."""
    from provenance.pipelines.scan import scan_corpus
    from provenance.robots.sample import write_sample_robots

    d = tmp_path_factory.mktemp("nb-ledger")
    path = d / "sample.duckdb"
    scan_corpus(inputs=[str(small_sample / "*.json.gz")], ledger=str(path), quiet=True)
    hosts_dir = d / "shards"  # the robots captures are written for the sample's hosts, outside the shared sample
    hosts_dir.mkdir()
    for f in small_sample.glob("c4-sample.*.json.gz"):
        (hosts_dir / f.name).symlink_to(f)
    robots, _ = write_sample_robots(hosts_dir, seed=7)
    lines = gzip.open(robots).read().decode().splitlines(keepends=True)
    early = [ln for ln in lines if '"captured_at": "2019-' in ln]
    later = [ln for ln in lines if '"captured_at": "2019-' not in ln]
    assert early and later
    for name, part in [("robots-2019.jsonl.gz", early), ("robots-later.jsonl.gz", later)]:
        (d / name).write_bytes(gzip.compress("".join(part).encode()))
        res = run_cli(["robots", "import", str(d / name), "--ledger", str(path)], cwd=d)
        assert res.returncode == 0, res.stderr
    return path


@pytest.fixture(scope="module")
def composition(ledger, kernel_env, tmp_path_factory):
    return execute("composition", tmp_path_factory.mktemp("run"), ledger)


@pytest.fixture(scope="module")
def consent(ledger, kernel_env, tmp_path_factory):
    return execute("consent", tmp_path_factory.mktemp("run"), ledger)


@pytest.mark.parametrize("name", ["composition", "consent"])
def test_notebooks_are_jupytext_percent_files(name):
    path = NOTEBOOKS / f"{name}.py"
    text = path.read_text()
    assert text.startswith("# ---\n# jupyter:\n#   jupytext:\n")
    nb = jupytext.read(path)
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert nb.metadata["kernelspec"]["language"] == "python"
    assert sum(1 for ln in text.splitlines() if ln.startswith("# %%")) == len(nb.cells) > 5
    assert {c.cell_type for c in nb.cells} == {"markdown", "code"}
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # no outputs stored
    # canonical: reading and writing back gives the same file (the jupytext version line aside), so a diff
    # shows only what someone changed
    def strip(s):
        return re.sub(r"(?m)^#\s+jupytext_version: .*\n", "", s)
    assert strip(jupytext.writes(nb, fmt="py:percent")) == strip(text)
    assert "duckdb.connect(LEDGER, read_only=True)" in text and "import pandas" not in text


def test_composition_top_domains_match_the_ledger(composition, ledger):
    out, nb = composition
    rows = table_rows(out["top-domains"], "rank")
    assert list(rows[0]) == ["rank", "registered_domain", "category", "documents", "words", "share_words"]
    n_domains, total_words = sql(ledger, "SELECT count(DISTINCT registered_domain), sum(words) FROM documents")[0]
    assert len(rows) == min(30, n_domains)
    # straight from the documents table, not through the view the notebook uses
    top = sql(ledger, """SELECT coalesce(registered_domain, '(no registered domain)'), count(*), sum(words),
                                sum(words) / (SELECT sum(words) FROM documents)
                         FROM documents GROUP BY registered_domain
                         ORDER BY sum(words) DESC, registered_domain NULLS LAST LIMIT 30""")
    for i, (row, (domain, docs, words, share)) in enumerate(zip(rows, top), start=1):
        assert (row["rank"], row["registered_domain"], row["documents"], row["words"], row["share_words"]) == \
               (str(i), domain, f"{docs:,}", f"{words:,}", pct(share))
    categories = {r[0] for r in sql(ledger, "SELECT DISTINCT category FROM document_categories")}
    assert {r["category"] for r in rows} <= categories
    held = sum(w for _, _, w, _ in top[:len(rows)]) / total_words
    assert f"the top {len(rows)} domains hold {pct(held)} of all words" in out["top-domains"]
    chart = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(chart) == 1


def test_composition_category_and_suffix_mix_match_the_ledger(composition, ledger):
    out, _ = composition
    cats = table_rows(out["categories"], "rank")
    expect = sql(ledger, """SELECT d_cat, count(*), sum(words) / (SELECT sum(words) FROM documents) FROM (
                                SELECT c.category AS d_cat, d.words FROM documents d JOIN document_categories c
                                USING (shard_id, position)) GROUP BY d_cat ORDER BY sum(words) DESC, d_cat""")
    assert [(r["category"], r["documents"], r["share_words"]) for r in cats] == \
           [(c, f"{n:,}", pct(s)) for c, n, s in expect]
    (n_rules,) = sql(ledger, "SELECT count(*) FROM rules_categories")[0]
    assert table_rows(out["categories"], "category_rules")[0]["category_rules"] == f"{n_rules:,}"
    suffixes = table_rows(out["suffixes"], "rank")
    expect = sql(ledger, """SELECT coalesce(suffix, '(none)'), count(DISTINCT registered_domain),
                                   sum(words) / (SELECT sum(words) FROM documents)
                            FROM documents GROUP BY suffix ORDER BY sum(words) DESC, suffix NULLS LAST LIMIT 15""")
    assert [(r["suffix"], r["domains"], r["share_words"]) for r in suffixes] == \
           [(s, f"{n:,}", pct(w)) for s, n, w in expect]


def test_consent_per_agent_shares_match_consent_by_agent(consent, ledger):
    out, _ = consent
    rows = table_rows(out["per-agent"], "agent")
    expect = sql(ledger, """SELECT agent, share_docs_disallowed_crawl, share_docs_disallowed_now,
                                   share_words_disallowed_crawl, share_words_disallowed_now,
                                   unknown_docs_crawl / documents, unknown_docs_now / documents
                            FROM consent_by_agent ORDER BY share_words_disallowed_now DESC, agent""")
    assert len(expect) >= 2 and [r["agent"] for r in rows] == [e[0] for e in expect]
    for row, (agent, *shares) in zip(rows, expect):
        assert list(row.values()) == [agent] + [pct(s) for s in shares]
    # the sample's story: GPTBot is blocked more now than at crawl time, and pages older than the first
    # capture have no crawl-time answer
    g = {r["agent"]: r for r in rows}["GPTBot"]
    assert float(g["share_words_now"][:-1]) > float(g["share_words_crawl"][:-1])
    assert float(g["share_unknown_crawl"][:-1]) > 0 and g["share_unknown_now"] == "0.00%"
    # like for like: over documents known at both times
    lfl = {r["agent"]: r for r in table_rows(out["like-for-like"], "agent")}
    (n_known, crawl, now), = sql(ledger, """
        SELECT count(*), count(*) FILTER (crawl_outcome = 'disallowed') / count(*),
               count(*) FILTER (now_outcome = 'disallowed') / count(*)
        FROM document_consent WHERE agent = 'GPTBot' AND crawl_outcome <> 'unknown' AND now_outcome <> 'unknown'""")
    assert (lfl["GPTBot"]["documents"], lfl["GPTBot"]["share_docs_crawl"], lfl["GPTBot"]["share_docs_now"]) == \
           (f"{n_known:,}", pct(crawl), pct(now))


def test_consent_changes_match_the_ledger(consent, ledger):
    out, _ = consent
    by_agent = {r["agent"]: r for r in table_rows(out["changed-by-agent"], "agent")}
    started, stopped = sql(ledger, """SELECT count(*) FILTER (now_outcome = 'disallowed'), count(*) FILTER (now_outcome = 'allowed')
                                      FROM consent_changed_documents WHERE agent = 'GPTBot'""")[0]
    assert started > 0
    assert (by_agent["GPTBot"]["docs_started_disallowing"], by_agent["GPTBot"]["docs_stopped_disallowing"]) == \
           (f"{started:,}", f"{stopped:,}")
    domains = table_rows(out["changed-domains"], "registered_domain")
    (top_domain, top_words), = sql(ledger, """
        SELECT coalesce(d.registered_domain, d.host), sum(d.words) FROM documents d
        WHERE (shard_id, position) IN (SELECT (shard_id, position) FROM consent_changed_documents WHERE now_outcome = 'disallowed')
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1""")
    first_started = next(r for r in domains if r["change"] == "started_disallowing")
    assert (first_started["registered_domain"], first_started["words"]) == (top_domain, f"{top_words:,}")
    # the second import moved "now": consent_changes records the hosts that flipped between the evaluations
    changes = {r["change"]: r for r in table_rows(out["consent-changes"], "detected_utc")}
    expect = dict(sql(ledger, "SELECT change, count(DISTINCT host) FROM consent_changes GROUP BY change"))
    assert expect and {k: v["hosts"] for k, v in changes.items()} == {k: f"{v:,}" for k, v in expect.items()}


def test_consent_signals_and_terms(consent, ledger):
    out, _ = consent
    (n_page,), = sql(ledger, "SELECT count(*) FROM page_signals")
    assert ("`page_signals` is empty" in out["signals"]) == (n_page == 0)
    robots = sql(ledger, """SELECT source, "use", CASE WHEN allowed THEN 'allowed' ELSE 'reserved' END, agent,
                                   count(DISTINCT host) FROM robots_signals GROUP BY ALL""")
    if robots:
        got = {(r["source"], r["use"], r["stance"], r["agent"]): r["hosts"]
               for r in table_rows(out["signals"], "source", with_column="hosts")}
        assert got == {tuple(r[:4]): f"{r[4]:,}" for r in robots} and len(got) == len(robots)
    tos = table_rows(out["tos"], "rank")
    expect = sql(ledger, "SELECT tos_class, documents, share_words FROM composition_by_tos_class ORDER BY rank")
    assert [(r["tos_class"], r["documents"], r["share_words"]) for r in tos] == [(c, f"{n:,}", pct(s)) for c, n, s in expect]


def test_notebooks_on_an_empty_ledger_say_so(kernel_env, tmp_path):
    """A ledger with no documents (the default path, PROVENANCE_LEDGER unset): every section prints one plain
    line naming the empty table, nothing fails; a missing ledger stops at once with a clear message."""
    from provenance.ledger import Ledger
    from nbclient.exceptions import CellExecutionError

    Ledger(tmp_path / "provenance.duckdb").close()
    out, nb = execute("composition", tmp_path, None)
    assert "ledger: provenance.duckdb" in out[next(iter(out))]
    for tag in ("top-domains", "categories", "suffixes"):
        assert re.search(r"^`composition_by_\w+` is empty: no documents", out[tag], re.M), out[tag]
    assert not any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    out, _ = execute("consent", tmp_path, None)
    for tag, table in [("per-agent", "consent_by_agent"), ("like-for-like", "document_consent"),
                       ("changed-by-agent", "consent_changed_documents"), ("consent-changes", "consent_changes"),
                       ("signals", "page_signals"), ("signals", "robots_signals"), ("tos", "composition_by_tos_class")]:
        assert f"`{table}` is empty: " in out[tag], out[tag]
    with pytest.raises(CellExecutionError, match="no ledger at"):
        execute("consent", tmp_path, tmp_path / "missing.duckdb")
