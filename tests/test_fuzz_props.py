"""Property tests for the readers against the fuzz suite's independent oracles (tests/fuzz/oracles.py):
JSON Lines built from a strategy of lines (objects, invalid JSON, non-objects, invalid UTF-8, BOMs, blank
lines, lone surrogates) written plain, gzip'd and zstd'd, and gzip / zstd streams cut or damaged at a chosen
offset, read with ``read_shard`` and compared exactly with what docs/bad-input.md says."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from fuzz import harness as H
from fuzz import mutators as MU
from fuzz import oracles as O
from fuzz import seeds as S

SETTINGS = settings(max_examples=120, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def read_all(path, max_doc_bytes: int = 0) -> dict:
    """What the fuzz worker collects, in-process: documents, quarantine rows, rows read, shard errors."""
    from provenance.errors import ShardError
    from provenance.readers import ReadOptions, read_shard
    from provenance.sources import discover

    shard = discover([str(path)])[0]
    opts = ReadOptions(max_doc_bytes=max_doc_bytes) if max_doc_bytes else ReadOptions()
    docs, quar, rows, out = [], [], 0, {}
    try:
        for ch in read_shard(shard, opts):
            rows += ch.rows_read
            quar += [{k: q.get(k) for k in ("position", "kind", "reason", "detail", "n_rows")} for q in ch.quarantine]
            if ch.batch is not None and ch.batch.num_rows:
                for p, u, t in zip(ch.batch.column("position").to_pylist(), ch.batch.column("url").to_pylist(),
                                   ch.batch.column("text").to_pylist()):
                    raw = t.encode("utf-8")
                    docs.append([p, u, hashlib.sha256(raw).hexdigest(), len(raw), False])
    except ShardError as exc:
        out["read_shard_error"] = {"reason": exc.reason, "detail": exc.detail}
    out["read"] = {"docs": docs, "quarantine": quar, "rows_read": rows, "invalid_utf8": []}
    return {"outcome": "ok", "result": out}


def compare(path, data: bytes, compression, max_doc_bytes: int = 0) -> list[str]:
    exp = O.jsonl_expect(data, compression, max_doc_bytes or O.DEFAULT_MAX_DOC_BYTES)
    run = read_all(path, max_doc_bytes)
    case = MU.Case(id="prop", seed="prop", fmt="jsonl", suffix=path.suffix, mutator="prop", data=data)
    fails = [f for f in H.check_expectation(case, run, exp) if f.kind != "status"]
    r = run["result"]["read"]
    qsum = sum((q["n_rows"] if q.get("n_rows") is not None else 1) if q["kind"] == "record" else (q.get("n_rows") or 0)
               for q in r["quarantine"])
    if r["rows_read"] != len(r["docs"]) + qsum:
        fails.append(H.Failure("accounting", f"rows_read {r['rows_read']} != {len(r['docs'])} + {qsum}"))
    return [f"{f.kind}: {f.message}" for f in fails]


URLS = st.sampled_from(["https://a.example.com/x", " https://b.example.com/ ", "", "   ", "ftp://c.example.com/", "x"])
TEXTS = st.one_of(st.text(max_size=40), st.just(""), st.just(S.MARK))
OBJECTS = st.fixed_dictionaries({"url": URLS, "text": TEXTS},
                                optional={"timestamp": st.one_of(st.text(max_size=10), st.integers(), st.none()),
                                          "id": st.one_of(st.text(max_size=10), st.booleans()),
                                          "extra": st.one_of(st.floats(allow_nan=True), st.lists(st.integers(), max_size=3))})


@st.composite
def line(draw) -> bytes:
    kind = draw(st.integers(0, 11))
    if kind <= 4:
        return json.dumps(draw(OBJECTS), ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == 5:
        return draw(st.sampled_from([b"", b"  ", b"\t", b" \r"]))
    if kind == 6:
        return draw(st.sampled_from([b"null", b"1", b'"s"', b"[1]", b"true", b"{}", b"[]"]))
    if kind == 7:
        return draw(st.sampled_from([b"{", b"not json", b'{"url": "x",}', b"{'a': 1}"]))
    if kind == 8:
        o = json.dumps(draw(OBJECTS)).encode()
        return MU.inject(o, draw(st.sampled_from(["url", "text", "ignored", "key"])), draw(st.sampled_from(MU.BAD_UTF8)))
    if kind == 9:
        o = json.dumps(draw(OBJECTS)).encode()
        return MU.inject(o, draw(st.sampled_from(["url", "text", "key"])), draw(st.sampled_from(MU.SURROGATES)))
    if kind == 10:
        return b"\xef\xbb\xbf" + json.dumps(draw(OBJECTS)).encode()
    a, b = json.dumps(draw(OBJECTS)).encode(), json.dumps(draw(OBJECTS)).encode()
    return a + draw(st.sampled_from([b" ", b"", b" null"])) + (b if draw(st.booleans()) else b"")


LINES = st.lists(line(), min_size=0, max_size=25)


@SETTINGS
@given(lines=LINES, packaging=st.sampled_from(["plain", "gzip", "gzip-multi", "zstd-multi"]),
       eol=st.sampled_from([b"\n", b"\r\n"]), final_newline=st.booleans())
def test_jsonl_lines_match_the_oracle(tmp_path_factory, lines, packaging, eol, final_newline):
    body = [ln + eol for ln in lines]
    if body and not final_newline:
        body[-1] = body[-1][: -len(eol)]
    raw = b"".join(body)
    if packaging == "plain":
        data, comp = raw, None
    elif packaging == "gzip":
        data, comp = gzip.compress(raw, mtime=0), "gzip"
    else:
        parts = [b"".join(body[i : i + 4]) for i in range(0, max(len(body), 1), 4)]
        comp = "gzip" if packaging == "gzip-multi" else "zstd"
        data = b"".join((S.gz if comp == "gzip" else S.zst)(p) for p in parts)
    path = tmp_path_factory.mktemp("p") / ("x" + S.SUFFIX[packaging])
    path.write_bytes(data)
    problems = compare(path, data, comp)
    assert not problems, problems


def _stream(kind: str) -> bytes:
    lines = [json.dumps({"url": f"https://s{i}.example.com/", "text": f"{S.MARK} line {i} " + "w " * (i % 40)}).encode()
             for i in range(60)]
    comp = S.gz if kind == "gzip" else S.zst
    return b"".join(comp(b"\n".join(lines[i : i + 12]) + b"\n") for i in range(0, 60, 12))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
@SETTINGS
@given(frac=st.floats(0, 1), how=st.sampled_from(["cut", "flip", "zero", "delete", "insert"]), x=st.integers(1, 255))
def test_damaged_stream_matches_the_oracle(tmp_path_factory, kind, frac, how, x):
    data = _stream(kind)
    p = min(int(frac * len(data)), len(data) - 1)
    if how == "cut":
        d = data[:p]
    elif how == "flip":
        b = bytearray(data)
        b[p] ^= x
        d = bytes(b)
    elif how == "zero":
        d = data[:p] + b"\0" * x + data[p + x :]
    elif how == "delete":
        d = data[:p] + data[p + x :]
    else:
        d = data[:p] + bytes([x]) * 7 + data[p:]
    path = tmp_path_factory.mktemp("s") / ("x.jsonl.gz" if kind == "gzip" else "x.jsonl.zst")
    path.write_bytes(d)
    problems = compare(path, d, kind)
    assert not problems, problems
