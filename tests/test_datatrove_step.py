"""The datatrove steps (provenance.integrations.datatrove) inside real datatrove pipelines: JsonlReader ->
ProvenanceAnnotator -> ProvenanceFilter -> JsonlWriter under a LocalPipelineExecutor (2 tasks, 2 worker
processes: the pipeline is pickled), checked document by document against what the project's own ledger
says about the same corpus (scan flow + `provenance robots import`)."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("datatrove")

from datatrove.data import Document  # noqa: E402
from datatrove.executor import LocalPipelineExecutor  # noqa: E402
from datatrove.pipeline.readers import JsonlReader  # noqa: E402
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter  # noqa: E402

from provenance import cli  # noqa: E402
from provenance.errors import ProvenanceError  # noqa: E402
from provenance.integrations.datatrove import ProvenanceAnnotator, ProvenanceFilter, parquet_schema  # noqa: E402
from provenance.ledger import Ledger  # noqa: E402

DOCS = 2000
GLOB = "c4-sample.*.json.gz"


@pytest.fixture(scope="module")
def corpus_and_ledger(tmp_path_factory, prefect_api):
    """The sample corpus (2 JSONL.gz shards + its robots.txt snapshots) scanned into a ledger the usual way."""
    from provenance.pipelines.scan import scan_corpus
    from provenance.robots.sample import write_sample_robots
    from provenance.sample import generate

    root = tmp_path_factory.mktemp("dt")
    corpus = root / "corpus"
    generate(corpus, docs=DOCS, shards=2, seed=7, formats=("jsonl.gz",))
    robots, _ = write_sample_robots(corpus, seed=7)
    ledger = root / "ledger.duckdb"
    scan_corpus(inputs=[str(p) for p in sorted(corpus.glob(GLOB))], ledger=str(ledger), quiet=True)
    assert cli.main(["robots", "import", str(robots), "--ledger", str(ledger)]) == 0
    return corpus, robots, ledger


def _ledger_facts(ledger: Path) -> tuple[dict[str, dict], dict[str, int]]:
    """url -> the ledger's registered domain, GPTBot consent at crawl time, verdict, reasons, PII counts per type;
    and the findings per type of pii_by_type."""
    with Ledger(ledger, read_only=True) as led:
        rows = led.query("""
            SELECT d.url, d.registered_domain, c.crawl_outcome AS gptbot, v.verdict, v.reasons
            FROM documents d JOIN document_verdicts v USING (shard_id, position)
            LEFT JOIN document_consent c ON c.shard_id = d.shard_id AND c.position = d.position AND c.agent = 'GPTBot'
        """).to_pylist()
        pii = led.query("SELECT url, f.type AS type, count(*) AS n FROM "
                        "(SELECT url, unnest(pii) AS f FROM documents WHERE pii_count > 0) GROUP BY ALL").to_pylist()
        by_type = {r["type"]: r["findings"] for r in led.query("SELECT type, findings FROM pii_by_type").to_pylist()}
    facts = {r["url"]: dict(r, pii={}) for r in rows}
    for r in pii:
        facts[r["url"]]["pii"][r["type"]] = r["n"]
    return facts, by_type


def _read_jsonl_folder(folder: Path) -> list[dict]:
    out = []
    for f in sorted(folder.glob("*.jsonl*")):
        opener = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


def _step_stats(logging_dir: Path, name: str) -> dict:
    stats = json.loads((logging_dir / "stats.json").read_text())
    step = next(s for s in stats if s["name"].endswith(f": {name}"))  # "<type>: <name>"
    return {k: (v["total"] if isinstance(v, dict) else v) for k, v in step["stats"].items()}


def test_pipeline_agrees_with_the_ledger(corpus_and_ledger, tmp_path):
    corpus, robots, ledger = corpus_and_ledger
    facts, pii_by_type = _ledger_facts(ledger)
    assert len(facts) == DOCS
    verdicts = Counter(f["verdict"] for f in facts.values())
    # the comparison means something: every verdict, consent outcome and plenty of PII occur in the sample
    assert verdicts["exclude"] > 100 and verdicts["review"] > 20 and verdicts["include"] > 1000
    assert {f["gptbot"] for f in facts.values()} >= {"allowed", "disallowed", "unknown"}
    assert sum(1 for f in facts.values() if f["pii"]) > 100

    annotator = ProvenanceAnnotator(robots=robots, batch_size=400)  # 1,000 docs per task: 3 batches each
    executor = LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(corpus), glob_pattern=GLOB),
            annotator,
            ProvenanceFilter(exclusion_writer=JsonlWriter(str(tmp_path / "excluded"))),
            JsonlWriter(str(tmp_path / "kept")),
        ],
        tasks=2, workers=2, logging_dir=str(tmp_path / "logs"),
    )
    executor.run()

    kept = _read_jsonl_folder(tmp_path / "kept")
    excluded = _read_jsonl_folder(tmp_path / "excluded")
    assert len(kept) + len(excluded) == DOCS
    seen = Counter()
    for doc in kept + excluded:
        url = doc["metadata"]["url"]
        ann = doc["metadata"]["provenance"]
        led = facts[url]
        seen[url] += 1
        assert ann["registered_domain"] == led["registered_domain"], url
        assert ann["consent"]["GPTBot"]["crawl_time"] == (led["gptbot"] or "unknown"), url
        assert (ann["verdict"], ann["reasons"]) == (led["verdict"], list(led["reasons"])), url
        assert ann["pii"] == led["pii"], url
        assert ann["policy"] == "commercial"
    assert set(seen) == set(facts) and max(seen.values()) == 1

    # the written output is exactly the ledger's non-excluded documents; the excluded ones went to the
    # exclusion writer with the reason
    assert {d["metadata"]["url"] for d in kept} == {u for u, f in facts.items() if f["verdict"] != "exclude"}
    assert {d["metadata"]["url"] for d in excluded} == {u for u, f in facts.items() if f["verdict"] == "exclude"}
    assert {d["metadata"]["filter_reason"] for d in excluded} == {"exclude"}

    # PII: per type over the corpus, as the ledger's pii_by_type view counts them; no values, no hashes
    totals = Counter()
    for doc in kept + excluded:
        totals.update(doc["metadata"]["provenance"]["pii"])
    assert dict(totals) == pii_by_type

    # datatrove's own stats (merged over both tasks) count what was dropped and why
    fstats = _step_stats(tmp_path / "logs", ProvenanceFilter.name)
    assert fstats["total"] == DOCS
    assert fstats["dropped"] == fstats["dropped_exclude"] == verdicts["exclude"]
    assert fstats["forwarded"] == DOCS - verdicts["exclude"]
    gpt_excl = sum(1 for f in facts.values() if f["verdict"] == "exclude" and "robots:GPTBot:crawl-time:disallow" in f["reasons"])
    assert fstats["dropped_reason_robots:GPTBot:crawl-time:disallow"] == gpt_excl > 0
    astats = _step_stats(tmp_path / "logs", annotator.name)
    assert astats["total"] == DOCS and astats["batches"] == 6
    assert astats["verdict_review"] == verdicts["review"]
    assert astats["GPTBot_disallowed_crawl_time"] == sum(1 for f in facts.values() if f["gptbot"] == "disallowed")

    # a second run of the same executor finds its tasks completed and does nothing
    executor.run()
    assert len(_read_jsonl_folder(tmp_path / "kept")) == len(kept)


def test_snapshots_and_takedowns_from_a_ledger(corpus_and_ledger, tmp_path):
    """With `ledger=`, the annotator takes snapshots and takedown requests (by URL and by text similarity) from
    an existing ledger, opened read-only; verdicts and reasons match that ledger's after `provenance takedown add`,
    and `review` documents go too with drop_review."""
    corpus, _, src = corpus_and_ledger
    ledger = tmp_path / "ledger.duckdb"
    shutil.copy(src, ledger)
    facts, _ = _ledger_facts(ledger)
    included = sorted(u for u, f in facts.items() if f["verdict"] == "include")
    by_url = {json.loads(line)["url"]: json.loads(line)["text"]
              for f in sorted(corpus.glob(GLOB)) for line in gzip.open(f, "rt", encoding="utf-8")}
    url_down, text_down = included[0], included[1]
    (tmp_path / "urls.txt").write_text(url_down + "\n")
    (tmp_path / "text.txt").write_text(by_url[text_down])
    assert cli.main(["takedown", "add", "req-1", "--urls", str(tmp_path / "urls.txt"),
                     "--text", str(tmp_path / "text.txt"), "--ledger", str(ledger)]) == 0
    facts, _ = _ledger_facts(ledger)
    assert "takedown:req-1" in facts[url_down]["reasons"] and facts[text_down]["verdict"] == "exclude"

    annotated = list(ProvenanceAnnotator(ledger=ledger, batch_size=700)(JsonlReader(str(corpus), glob_pattern=GLOB)()))
    ann = {doc.metadata["url"]: doc.metadata["provenance"] for doc in annotated}
    assert len(ann) == len(facts)
    for url, f in facts.items():
        assert (ann[url]["verdict"], ann[url]["reasons"]) == (f["verdict"], list(f["reasons"])), url
        assert ann[url]["consent"]["GPTBot"]["crawl_time"] == (f["gptbot"] or "unknown"), url
    flt = ProvenanceFilter(drop_review=True)
    out = list(flt(iter(annotated)))
    assert {d.metadata["url"] for d in out} == {u for u, f in facts.items() if f["verdict"] == "include"}
    assert flt.stats["dropped_review"].total == sum(1 for f in facts.values() if f["verdict"] == "review")
    assert flt.stats["dropped_reason_takedown:req-1"].total >= 2


def test_metadata_keys_parquet_pickling_and_misuse(corpus_and_ledger, tmp_path):
    """Other corpora's metadata conventions map onto the core columns; datatrove's ParquetWriter writes the
    annotations with parquet_schema(); the step pickles after a run; a filter without the annotator says so."""
    _, robots, _ = corpus_and_ledger
    when = datetime(2020, 5, 1, tzinfo=timezone.utc)
    docs = [
        Document(text="FineWeb style", id="<urn:uuid:1>", metadata={"url": "https://www.example.co.uk/a", "date": when,
                                                                   "dump": "CC-MAIN-2020-16"}),
        Document(text="Dolma style", id="d-2", metadata={"metadata": {"url": "https://blog.example.org/x"},
                                                         "created": "2021-02-03T04:05:06Z"}),
        Document(text="URL as id", id="https://news.example.net/b", metadata={"timestamp": 1600000000}),
        Document(text="custom keys", id="c-4", metadata={"link": "https://shop.example.com/p", "fetched": "2019-09-09"}),
        Document(text="no url at all", id="e-5", metadata={}),
    ]
    step = ProvenanceAnnotator(robots=robots, agents=["GPTBot"], keys={"url": ["url", "metadata.url", "link", "id"],
                                                                      "crawl_date": ["date", "created", "timestamp", "fetched"]})
    out = list(step(iter(docs)))
    p = [d.metadata["provenance"] for d in out]
    assert [x["registered_domain"] for x in p] == ["example.co.uk", "example.org", "example.net", "example.com", None]
    assert [x["crawl_date"][:10] if x["crawl_date"] else None for x in p] == \
        ["2020-05-01", "2021-02-03", "2020-09-13", "2019-09-09", None]
    assert all(list(x["consent"]) == ["GPTBot"] for x in p)
    assert p[4]["consent"]["GPTBot"] == {"crawl_time": "unknown", "now": "unknown"}
    assert step.stats["no_host"].total == 1

    # ParquetWriter infers its schema from the first document unless given one: parquet_schema() gives it
    writer = ParquetWriter(str(tmp_path / "pq"), schema=parquet_schema(step, [pa.field("url", pa.string())]))
    list(writer(iter(out)))
    rows = pq.read_table(tmp_path / "pq").to_pylist()
    assert [r["metadata"]["provenance"]["registered_domain"] for r in rows] == [x["registered_domain"] for x in p]
    assert rows[0]["metadata"]["url"] == "https://www.example.co.uk/a"

    clone = pickle.loads(pickle.dumps(step))  # what an executor ships to a worker: configuration only
    assert clone._session is None and clone.robots == step.robots

    with pytest.raises(ProvenanceError, match="ProvenanceAnnotator before ProvenanceFilter"):
        list(ProvenanceFilter()(iter([Document(text="x", id="1", metadata={})])))
    assert len(list(ProvenanceFilter(missing="keep")(iter([Document(text="x", id="1", metadata={})])))) == 1
    with pytest.raises(ProvenanceError, match="no policy"):
        ProvenanceAnnotator(policy="nope")
