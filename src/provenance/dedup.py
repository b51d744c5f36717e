"""Corpus-level near-duplicate clusters from the MinHash signatures in the per-shard sinks, out of core.

1. Band hashes: each shard's signatures are read in batches from its sink and turned into ``b`` band
   hashes per document (``b, r`` from the threshold, datasketch's optimisation), written to Parquet.
2. Candidates: DuckDB groups the band hashes (spilling to disk under its memory limit); in a bucket of
   up to ``SMALL_BUCKET`` documents every pair is a candidate, in a bigger one (boilerplate) every
   document pairs with the bucket's first.
3. Verification: each candidate pair's signatures are compared in DuckDB (reading only the signature
   column of the sinks); pairs whose estimate is within ``exact_margin`` of the threshold are settled on
   the exact Jaccard of their texts, re-read from the source shards.
4. Connected components: min-label propagation with pointer jumping, in DuckDB.
5. Clusters that hold together (star clustering): a component's representative is its most connected
   member (the most verified pairs: the page its copies were made from, the middle of an edit chain; the
   first by shard URI and position among equals); a member stays only if its similarity to the
   representative reaches the threshold (signature estimate, settled on the exact Jaccard near the
   threshold as in 3). The rest are split off and clustered again among themselves, over the verified
   pairs between them, around new representatives by the same rule, until every cluster holds together
   (an edit chain no longer merges end to end). Each member's similarity to its representative goes into
   ``document_duplicates``.

Nothing here holds the corpus's signatures in memory: memory follows the read batch and DuckDB's limit.
Steps 1 and 2 are task functions (``band_file`` per shard, ``candidate_pairs`` per partition of the hashes)
that run in this process or on a Dask cluster (``cluster=``) alike.
Document keys are ``shard ordinal << 40 | position``.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import budget, distribute
from .errors import ProvenanceError
from .ledger import sql_str
from .safeio import arrow_sink, fresh_dir, open_new

KEY_SHIFT = 40
MAX_HASH = (1 << 32) - 1
SMALL_BUCKET = 32  # buckets up to this size give every pair as a candidate


def _shards(led) -> list[tuple[str, str]]:
    # in URI order: a cluster's representative is its first member in this order, and shard ids are hashes of
    # absolute paths (ordering by them made the choice, and per-domain duplicate counts, depend on the folder)
    rows = led.con.execute(
        "SELECT shard_id, annotations_path FROM shards WHERE annotations_path IS NOT NULL AND documents > 0 "
        "AND status IN ('done', 'partial') ORDER BY uri, shard_id").fetchall()
    return [(sid, path) for sid, path in rows if Path(path).exists()]


def _signature_batches(pf: pq.ParquetFile, num_perm: int, batch_rows: int = 65536):
    """(positions int64, signatures (n, num_perm) uint64) per batch of a shard's sink."""
    for batch in pf.iter_batches(columns=["position", "minhash"], batch_size=batch_rows):
        pos = batch.column("position").to_numpy(zero_copy_only=False).astype(np.int64)
        flat = batch.column("minhash").flatten().to_numpy(zero_copy_only=False)
        yield pos, flat.reshape(-1, num_perm).astype(np.uint64)


_BAND_ROWS = pa.schema([("key", pa.int64()), ("band", pa.int16()), ("h", pa.uint64())])


def band_file(task: dict) -> dict:
    """One shard's band hashes: its sink's signatures (read in batches) -> ``b`` band hashes per document with
    at least one token (key, band, h), split into ``task["parts"]`` partitions by ``h % parts`` (a bucket, one
    (band, h), is whole in one partition): ``{task["out_dir"]}/pNNNNN/{ordinal}.parquet``. Returns the shard's
    document count and this process's id. Runs in the calling process or on a Dask worker alike (it never
    opens the ledger)."""
    import os
    from contextlib import ExitStack

    from .minhash import band_hashes

    ordinal, sid, path, num_perm = task["ordinal"], task["shard_id"], task["sink"], task["num_perm"]
    b, r, parts = task["bands"], task["rows"], task["parts"]
    pf = pq.ParquetFile(path, pre_buffer=False)  # not every column chunk at once (~260 MB per 500k rows)
    if "minhash" not in pf.schema_arrow.names:
        raise ProvenanceError(f"shard {sid} was scanned before signatures were computed ({path}); "
                              f"rescan it (`provenance scan ... --force`)")
    k = pf.schema_arrow.field("minhash").type.list_size
    if k != num_perm:
        raise ProvenanceError(f"{path}: signatures have {k} permutations, not {num_perm}")
    docs = 0
    with ExitStack() as stack:
        writers = []
        for p in range(parts):
            # created by this call in a folder made for it (exclusive, never through a symlink), written through its fd
            fh = stack.enter_context(arrow_sink(open_new(Path(task["out_dir"]) / f"p{p:05d}" / f"{ordinal:08d}.parquet")))
            writers.append(stack.enter_context(pq.ParquetWriter(fh, _BAND_ROWS, compression="zstd")))
        bands = np.arange(b, dtype=np.int16)
        for pos, sig in _signature_batches(pf, num_perm, task["batch_rows"]):
            keep = ~(sig == MAX_HASH).all(axis=1)  # no token at all: not a document to cluster
            if not keep.any():
                continue
            bh = band_hashes(sig[keep], b, r).astype(np.uint64)  # (n, b)
            keys = (np.int64(ordinal) << KEY_SHIFT) | pos[keep]
            n = len(keys)
            docs += n
            key_col, band_col, h_col = np.repeat(keys, b), np.tile(bands, n), bh.reshape(-1)
            if parts == 1:
                writers[0].write_table(pa.table({"key": key_col, "band": band_col, "h": h_col}, schema=_BAND_ROWS))
                continue
            part = h_col % np.uint64(parts)
            for p, w in enumerate(writers):
                m = part == p
                w.write_table(pa.table({"key": key_col[m], "band": band_col[m], "h": h_col[m]}, schema=_BAND_ROWS))
    # Arrow's allocator keeps freed pages for reuse: returned after each shard, they would otherwise sit
    # beside DuckDB's share of the budget for the rest of the run (measured: 460 -> 240 MB at 1M documents)
    pa.default_memory_pool().release_unused()
    return {"documents": docs, "pid": os.getpid()}


def _write_bands(shards, bands_dir: Path, b: int, r: int, num_perm: int, batch_rows: int, progress=None,
                 client=None, parts: int = 1) -> tuple[int, list, set]:
    """Band files of every shard in ``parts`` partitions (one ``band_file`` task per shard, here or on the
    client's cluster); returns the document count, the sinks (ordinal, shard_id, path) and the ids of the
    processes that ran the tasks."""
    from . import distribute

    for p in range(parts):
        (bands_dir / f"p{p:05d}").mkdir(parents=True, exist_ok=True)
    sinks = [(ordinal, sid, path) for ordinal, (sid, path) in enumerate(shards)]
    tasks = [{"ordinal": o, "shard_id": sid, "sink": path, "out_dir": str(bands_dir), "parts": parts,
              "bands": b, "rows": r, "num_perm": num_perm, "batch_rows": batch_rows} for o, sid, path in sinks]
    finished = [0]

    def done(_i, _result):
        finished[0] += 1
        if progress:
            progress(finished[0], len(tasks))

    out = distribute.run_map(band_file, tasks, c=client, on_done=done,
                             names=[f"band hashes of shard {sid} ({path})" for _, sid, path in sinks])
    return sum(o["documents"] for o in out), sinks, {o["pid"] for o in out}


def candidate_pairs(task: dict, con=None) -> dict:
    """Candidate pairs of one partition of the band hashes (every band file in ``task["bands"]``, a glob) to
    ``task["out"]`` (root, key). Buckets with more than one document; in small buckets every pair is a
    candidate (a chance member must not hide a true pair behind a failed check against the bucket's first
    document), in big ones (boilerplate) each member pairs with the first. On ``con`` (this process's ledger
    connection) or, by default, an in-memory DuckDB of its own under the budget's limit
    (``task["memory_limit"]`` if set), spilling to ``task["temp_dir"]``. Returns this process's id."""
    import os

    import duckdb

    own = con is None
    if own:
        con = duckdb.connect()
        budget.apply(con, task["temp_dir"])  # this process's budget (a worker's own environment)
        con.execute("SET threads = 1")  # a Dask worker runs one task per core
        if task.get("memory_limit"):
            con.execute(f"SET memory_limit = {sql_str(task['memory_limit'])}")
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _bk AS
            SELECT * FROM (
                SELECT band, h, key, count(*) OVER w AS n, min(key) OVER w AS root
                FROM read_parquet({sql_str(task['bands'])})
                WINDOW w AS (PARTITION BY band, h)
            ) WHERE n > 1""")
        con.execute(f"""
            COPY (
                SELECT DISTINCT x.key AS root, y.key AS key FROM _bk x JOIN _bk y
                    ON x.band = y.band AND x.h = y.h AND x.key < y.key
                    WHERE x.n <= {SMALL_BUCKET}
                UNION
                SELECT root, key FROM _bk WHERE n > {SMALL_BUCKET} AND key <> root
            ) TO {sql_str(task['out'])} (FORMAT parquet)""")
        con.execute("DROP TABLE _bk")
    finally:
        if own:
            con.close()
    return {"pid": os.getpid()}


def _texts_of(led, ordinal: int, positions: np.ndarray, sinks):
    """(position, text) of the given positions of one shard, re-read from its source with the scan's read
    options, a chunk at a time (nothing when the source is gone or unreadable)."""
    import json as _json

    from .export import _locate, _read_options
    from .readers import read_shard

    sid_of = {o: sid for o, sid, _ in sinks}
    row = led.con.execute("SELECT s.uri, s.format, r.config FROM shards s JOIN runs r USING (run_id) WHERE s.shard_id = ?",
                          [sid_of[ordinal]]).fetchall()
    if not row:
        return
    uri, fmt, cfg = row[0]
    cfg = _json.loads(cfg) if isinstance(cfg, str) else (cfg or {})
    shard = _locate(uri, fmt, cfg.get("format"))
    if shard.error:
        return  # the source is gone: its pairs stay undecided (not linked)
    want = np.sort(positions.astype(np.int64))
    try:
        for chunk in read_shard(shard, _read_options(cfg)):
            if chunk.batch is None or chunk.batch.num_rows == 0:
                continue
            pos = chunk.batch.column("position").to_numpy(zero_copy_only=False)
            hit = np.flatnonzero(np.isin(pos, want))
            if len(hit):
                texts = chunk.batch.column("text").take(pa.array(hit)).to_pylist()
                for i, t in zip(hit, texts):
                    yield int(pos[i]), t or ""
    except ProvenanceError:
        return


_SHINGLE_ROWS = pa.schema([("key", pa.int64()), ("sh", pa.list_(pa.int64()))])


def _exact_jaccard(led, pairs: str, sinks, flush_docs: int = 2000) -> None:
    """Exact Jaccard (the same shingles as the signatures) of the pairs in DuckDB table ``pairs`` (a, b) into
    ``_xknown`` (a, b, j; j NULL when a text cannot be re-read: the pair stays undecided). Out of core: each
    document's shingle set is kept in DuckDB as sorted 64-bit hashes (``_xsh``; read once, for the documents
    of pairs near the threshold only), texts are re-read a shard at a time and dropped once hashed, and the
    Jaccard is computed in DuckDB."""
    from .minhash import shingles

    con = led.con
    missing = con.execute(f"""
        SELECT k >> {KEY_SHIFT} AS ord, list(k & ((1::BIGINT << {KEY_SHIFT}) - 1) ORDER BY k) AS positions FROM (
            SELECT a AS k FROM {pairs} UNION SELECT b FROM {pairs}
        ) WHERE k NOT IN (SELECT key FROM _xsh) AND k NOT IN (SELECT key FROM _xgone)
        GROUP BY ALL ORDER BY 1""").fetchall()
    for ordinal, positions in missing:
        got: set[int] = set()
        keys, hashes = [], []

        def flush():
            if keys:
                con.register("_xsh_batch", pa.table([pa.array(keys, pa.int64()), pa.array(hashes, pa.list_(pa.int64()))],
                                                    schema=_SHINGLE_ROWS))
                con.execute("INSERT INTO _xsh SELECT * FROM _xsh_batch")
                con.unregister("_xsh_batch")
                keys.clear()
                hashes.clear()

        for pos, text in _texts_of(led, ordinal, np.asarray(positions, dtype=np.int64), sinks):
            got.add(pos)
            keys.append((ordinal << KEY_SHIFT) | pos)
            # 64-bit hashes of the shingles, as a set: exact within this process (a collision among a
            # document pair's few thousand shingles has probability ~1e-13)
            hashes.append(np.unique(np.fromiter((hash(x) for x in shingles(text)), dtype=np.int64)).tolist())
            if len(keys) >= flush_docs:
                flush()
        flush()
        gone = [(ordinal << KEY_SHIFT) | p for p in positions if p not in got]
        if gone:  # source gone or unreadable: not read again
            con.register("_xgone_batch", pa.table({"key": pa.array(gone, pa.int64())}))
            con.execute("INSERT INTO _xgone SELECT key FROM _xgone_batch")
            con.unregister("_xgone_batch")
    con.execute(f"""
        INSERT INTO _xknown
        SELECT a, b, CASE WHEN na IS NULL OR nb IS NULL THEN NULL WHEN na = 0 OR nb = 0 THEN 0.0
                          ELSE ni::DOUBLE / (na + nb - ni) END
        FROM (SELECT p.a, p.b, len(x.sh) AS na, len(y.sh) AS nb, len(list_intersect(x.sh, y.sh)) AS ni
              FROM (SELECT DISTINCT a, b FROM {pairs}) p
              LEFT JOIN _xsh x ON x.key = p.a LEFT JOIN _xsh y ON y.key = p.b
              WHERE NOT EXISTS (SELECT 1 FROM _xknown k WHERE k.a = p.a AND k.b = p.b))""")


def _components(con, edges: str, out: str, max_rounds: int = 200) -> None:
    """Connected components of the pairs in table ``edges`` (root, key) into table ``out`` (key, label),
    the label being the smallest key of the component: min-label propagation with pointer jumping."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _lab AS
        SELECT key, min(n) AS label FROM (
            SELECT root AS key, root AS n FROM {edges} UNION ALL SELECT key, root FROM {edges}
        ) GROUP BY key""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _und AS SELECT root AS a, key AS b FROM {edges} UNION ALL SELECT key, root FROM {edges}")
    for _ in range(max_rounds):
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _lab2 AS
            SELECT l.key, least(l.label, coalesce(min(n.label), l.label)) AS label
            FROM _lab l LEFT JOIN _und u ON u.a = l.key LEFT JOIN _lab n ON n.key = u.b
            GROUP BY l.key, l.label""")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _lab2 AS
            SELECT l.key, coalesce(p.label, l.label) AS label FROM _lab2 l LEFT JOIN _lab2 p ON p.key = l.label""")
        changed = con.execute("SELECT count(*) FROM _lab2 JOIN _lab USING (key) WHERE _lab2.label <> _lab.label").fetchone()[0]
        con.execute("CREATE OR REPLACE TEMP TABLE _lab AS SELECT * FROM _lab2")
        if not changed:
            break
    else:
        raise ProvenanceError(f"connected components did not converge in {max_rounds} rounds")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM _lab")
    for t in ("_lab", "_lab2", "_und"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def _pick_representatives(con, pend: str, edges: str) -> None:
    """Relabel table ``pend`` (key, label) so that each component's label is its representative: the member
    with the most verified links in ``edges`` (the centre of a star of copies, the middle of an edit chain),
    the smallest key among equals (shards in URI order, then position)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _pick AS
        WITH deg AS (SELECT k AS key, count(*) AS d
                     FROM (SELECT root AS k FROM {edges} UNION ALL SELECT key FROM {edges}) GROUP BY k)
        SELECT p.label, first(p.key ORDER BY coalesce(deg.d, 0) DESC, p.key) AS rep
        FROM {pend} p LEFT JOIN deg USING (key) GROUP BY p.label""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {pend} AS
        SELECT p.key, r.rep AS label FROM {pend} p JOIN _pick r USING (label)""")
    con.execute("DROP TABLE _pick")


def _est_sql(num_perm: int) -> str:
    return (f"len(list_filter(list_zip(a.minhash::UINTEGER[], b.minhash::UINTEGER[]), lambda x: x[1] = x[2])) "
            f"/ {num_perm}")


def cluster(led, *, threshold: float = 0.8, num_perm: int = 128, work_dir: str | Path | None = None,
            memory_limit: str | None = None, batch_rows: int = 16384, progress=None, cluster: str | None = None,
            false_negative_weight: float = 0.9, verify_margin: float = 0.03, exact_margin: float = 0.06) -> dict:
    """Cluster every scanned document of the ledger; replaces ``document_duplicates``. ``work_dir`` holds
    the temporary band files and DuckDB's spill files (default: ``<ledger>.parts/dedup``).

    Bands favour recall (datasketch's optimisation with ``false_negative_weight`` 0.9: 14 bands x 9 rows
    at 0.8 find ~87% of pairs at J = 0.8 and ~97% at 0.85, against ~40% / ~69% with equal weights); the
    signature check keeps pairs whose estimate is at least ``threshold + exact_margin``; pairs within
    ``exact_margin`` of the threshold are settled on the exact Jaccard of their texts, re-read from the
    source shards (only those documents are kept in memory). With ``exact_margin=0`` the estimate alone
    decides, at ``threshold - verify_margin`` (the estimate's standard error is ~0.035 at J = 0.8 with
    128 permutations).

    Clusters hold together: the verified pairs' connected components are cut so that every member's
    similarity to its representative (the cluster's most connected member; the first by shard URI and
    position among equals) reaches the threshold, decided as for the pairs; members that do not are
    clustered again among themselves by the same rule (``split_off`` counts the documents not in their
    component's first cluster, ``split_rounds`` the rounds).

    ``cluster`` (``local:N`` or a Dask scheduler's address, see ``provenance.distribute``) runs the band
    hashing (one task per shard) and the candidate pairs (one task per partition of the band hashes, each in a
    DuckDB of its own under the memory budget) on Dask workers; the work dir must then be a path every
    worker sees. Verification, components and clusters stay in this process, the ledger's one writer; the
    clusters are the same either way."""
    from .minhash import lsh_params

    if not 0 < threshold <= 1:
        raise ProvenanceError(f"threshold must be in (0, 1], not {threshold}")
    t0 = time.perf_counter()
    b, r = lsh_params(threshold, num_perm, 1 - false_negative_weight, false_negative_weight)
    # absolute: tasks on a cluster's workers have other working directories
    work = Path(os.path.abspath(work_dir)) if work_dir else Path(os.path.abspath(led.path + ".parts")) / "dedup"
    fresh_dir(work)  # made anew: a leftover is removed (a symlink there is removed, never followed)
    con = led.con
    need = int(np.ceil((threshold - verify_margin) * num_perm - 1e-9))
    rounds = 0
    try:
        shards = _shards(led)
        with distribute.client(cluster) as client:
            # partitions of the band hashes (by hash: a bucket is whole in one partition), each a candidate-pairs
            # task; on a cluster two per worker, in this process one
            parts = 2 * distribute.workers(client) if client is not None else 1
            docs, sinks, pids = _write_bands(shards, work / "bands", b, r, num_perm, batch_rows, progress, client, parts)
            budget.spill_to(con, str(work / "duckdb.tmp"))
            if memory_limit:
                con.execute(f"SET memory_limit = {sql_str(memory_limit)}")
            con.execute("DROP TABLE IF EXISTS _cand")
            cand = 0
            edges = 0
            if docs:
                # a pair found in several bands may be in several partitions: made distinct here
                tasks = [{"bands": str(work / "bands" / f"p{p:05d}" / "*.parquet"),
                          "out": str(work / f"cand_{p:05d}.parquet"), "memory_limit": memory_limit,
                          "temp_dir": str(work / f"duckdb.tmp.{p}")} for p in range(parts)]
                # in this process: on the ledger's connection, under its limit (no second DuckDB beside it)
                step = candidate_pairs if client is not None else functools.partial(candidate_pairs, con=con)
                pids |= {o["pid"] for o in distribute.run_map(
                    step, tasks, c=client, names=[f"candidate pairs of band partition {p + 1}/{parts}" for p in range(parts)])}
                files = ", ".join(sql_str(t["out"]) for t in tasks)
                con.execute(f"CREATE TEMP TABLE _cand AS SELECT DISTINCT root, key FROM read_parquet([{files}])")
                cand = con.execute("SELECT count(*) FROM _cand").fetchone()[0]
        con.execute("CREATE OR REPLACE TEMP TABLE _edges (root BIGINT, key BIGINT)")
        con.execute("CREATE OR REPLACE TEMP TABLE _sig (key BIGINT, minhash UINTEGER[])")

        # documents of pairs near the threshold (shingle hashes, read once), those whose source is gone, and the
        # exact Jaccard of every pair settled on its texts
        con.execute("CREATE OR REPLACE TEMP TABLE _xsh (key BIGINT, sh BIGINT[])")
        con.execute("CREATE OR REPLACE TEMP TABLE _xgone (key BIGINT)")
        con.execute("CREATE OR REPLACE TEMP TABLE _xknown (a BIGINT, b BIGINT, j DOUBLE)")

        def settle(select_pairs: str) -> str:
            """Settle the pairs (a, b) the SQL selects on their exact Jaccard; returns the SQL of those whose
            exact Jaccard reaches the threshold (a, b, j)."""
            con.execute(f"CREATE OR REPLACE TEMP TABLE _unsure AS {select_pairs}")
            _exact_jaccard(led, "_unsure", sinks)
            return (f"SELECT u.a, u.b, k.j FROM (SELECT DISTINCT a, b FROM _unsure) u "
                    f"JOIN _xknown k ON k.a = u.a AND k.b = u.b WHERE k.j >= {threshold}")

        if cand:
            con.register("_sinkmap", pa.table({"filename": [p for _, _, p in sinks],
                                               "ord": pa.array([o for o, _, _ in sinks], pa.int64())}))
            files = ", ".join(sql_str(p) for _, _, p in sinks)
            con.execute(f"""
                INSERT INTO _sig
                SELECT (m.ord << {KEY_SHIFT}) | s.position AS key, s.minhash::UINTEGER[]
                FROM read_parquet([{files}], filename = true) s JOIN _sinkmap m ON m.filename = s.filename
                WHERE ((m.ord << {KEY_SHIFT}) | s.position) IN (SELECT root FROM _cand UNION SELECT key FROM _cand)""")
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _est AS
                SELECT c.root, c.key, {_est_sql(num_perm)} AS est
                FROM _cand c JOIN _sig a ON a.key = c.root JOIN _sig b ON b.key = c.key""")
            con.unregister("_sinkmap")
            if exact_margin > 0:
                # clear on the signatures; near the threshold the estimate (error ~0.035 at 0.8 with 128
                # permutations) cannot tell, so the texts are re-read and the exact Jaccard decides
                con.execute(f"INSERT INTO _edges SELECT root, key FROM _est WHERE est >= {threshold + exact_margin}")
                sure = settle(f"SELECT root AS a, key AS b FROM _est WHERE est >= {threshold - exact_margin} "
                              f"AND est < {threshold + exact_margin}")
                con.execute(f"INSERT INTO _edges SELECT a, b FROM ({sure})")
            else:
                con.execute(f"INSERT INTO _edges SELECT root, key FROM _est WHERE est * {num_perm} >= {need}")
            con.execute("DROP TABLE _est")
            edges = con.execute("SELECT count(*) FROM _edges").fetchone()[0]
            # only the signatures of linked documents are needed from here on
            con.execute("DELETE FROM _sig WHERE key NOT IN (SELECT root FROM _edges UNION SELECT key FROM _edges)")
        _components(con, "_edges", "_pend")
        con.execute("CREATE OR REPLACE TEMP TABLE _comp AS SELECT * FROM _pend")
        # clusters that hold together: each component's representative (its most connected member, the
        # first by key among equals) keeps the members whose similarity to it reaches the threshold; the
        # rest are clustered again among themselves
        con.execute("CREATE OR REPLACE TEMP TABLE _members (key BIGINT, rep BIGINT, similarity DOUBLE, similarity_by VARCHAR, round INTEGER)")
        cur = "_edges"
        while con.execute("SELECT count(*) FROM _pend").fetchall()[0][0]:
            rounds += 1
            _pick_representatives(con, "_pend", cur)
            cur = "_redges"
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _try AS
                SELECT p.key, p.label AS rep, {_est_sql(num_perm)} AS est
                FROM _pend p JOIN _sig a ON a.key = p.label JOIN _sig b ON b.key = p.key
                WHERE p.key <> p.label""")
            if exact_margin > 0:
                con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE _acc AS
                    SELECT key, rep, est AS similarity, 'minhash' AS similarity_by FROM _try WHERE est >= {threshold + exact_margin}""")
                sure = settle(f"SELECT rep AS a, key AS b FROM _try WHERE est >= {threshold - exact_margin} "
                              f"AND est < {threshold + exact_margin}")
                con.execute(f"INSERT INTO _acc SELECT b, a, j, 'exact' FROM ({sure})")
            else:
                con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE _acc AS
                    SELECT key, rep, est AS similarity, 'minhash' AS similarity_by FROM _try WHERE est * {num_perm} >= {need}""")
            con.execute(f"INSERT INTO _members SELECT key, rep, similarity, similarity_by, {rounds} FROM _acc")
            con.execute(f"INSERT INTO _members SELECT DISTINCT rep, rep, 1.0, NULL, {rounds} FROM _acc")
            con.execute("""
                CREATE OR REPLACE TEMP TABLE _rest AS
                SELECT key FROM _pend WHERE key <> label AND key NOT IN (SELECT key FROM _acc)""")
            con.execute("""
                CREATE OR REPLACE TEMP TABLE _redges AS
                SELECT root, key FROM _edges
                WHERE root IN (SELECT key FROM _rest) AND key IN (SELECT key FROM _rest)""")
            _components(con, "_redges", "_pend")
        # documents not in their component's first cluster (another cluster or none)
        split_off = con.execute("SELECT (SELECT count(*) FROM _comp) - (SELECT count(*) FROM _members WHERE round = 1)").fetchall()[0][0]
        con.register("_ordmap", pa.table({"ord": pa.array([o for o, _, _ in sinks], pa.int64()),
                                          "shard_id": [s for _, s, _ in sinks]}))
        with led.transaction():
            con.execute("DELETE FROM document_duplicates")
            con.execute(f"""
                INSERT INTO document_duplicates (shard_id, position, cluster_id, cluster_size, representative, similarity, similarity_by)
                SELECT m.shard_id, l.key & ((1::BIGINT << {KEY_SHIFT}) - 1) AS position, l.rep,
                       count(*) OVER (PARTITION BY l.rep), l.key = l.rep, l.similarity, l.similarity_by
                FROM _members l JOIN _ordmap m ON m.ord = l.key >> {KEY_SHIFT}""")
            clusters, in_clusters = con.execute(
                "SELECT count(DISTINCT cluster_id), count(*) FROM document_duplicates").fetchone()
            seconds = time.perf_counter() - t0
            con.execute("INSERT INTO dedup_runs (run_at, threshold, num_perm, bands, band_rows, documents, candidate_pairs, "
                        "verified_pairs, clusters, duplicates, seconds, split_off, split_rounds) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [datetime.now(timezone.utc), threshold, num_perm, b, r, docs, cand, edges, clusters,
                         in_clusters - clusters, seconds, split_off, rounds])
        con.unregister("_ordmap")
        exact_checked = con.execute("SELECT count(*) FROM _xknown").fetchone()[0] if exact_margin > 0 else 0
        for t in ("_cand", "_edges", "_sig", "_pend", "_comp", "_members", "_try", "_acc", "_rest", "_redges",
                  "_xsh", "_xgone", "_xknown", "_unsure"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    finally:
        budget.restore(con)
        shutil.rmtree(work, ignore_errors=True)
    return {"documents": docs, "bands": b, "rows": r, "candidate_pairs": cand, "verified_pairs": edges,
            "exact_checked_pairs": exact_checked, "split_off": split_off, "split_rounds": rounds,
            "clusters": clusters, "in_clusters": in_clusters, "duplicates": in_clusters - clusters,
            "seconds": seconds, "shards": len(sinks), "task_pids": sorted(pids)}


# -- takedown requests ------------------------------------------------------------------------------------
def _sink_signatures(led, refs: list[tuple[str, int]], num_perm: int) -> list[tuple[str, int, np.ndarray]]:
    """Signatures of the given (shard_id, position) documents, read from their shards' sinks."""
    by_shard: dict[str, set[int]] = {}
    for sid, pos in refs:
        by_shard.setdefault(sid, set()).add(int(pos))
    paths = dict(led.con.execute("SELECT shard_id, annotations_path FROM shards").fetchall())
    out = []
    for sid, wanted in by_shard.items():
        path = paths.get(sid)
        if not path or not Path(path).exists():
            continue
        pf = pq.ParquetFile(path, pre_buffer=False)  # not every column chunk at once (~260 MB per 500k rows)
        if "minhash" not in pf.schema_arrow.names:
            continue
        for pos, sig in _signature_batches(pf, num_perm):
            hit = np.flatnonzero(np.isin(pos, list(wanted)))
            out += [(sid, int(pos[i]), sig[i]) for i in hit]
    return out


def takedown_add(led, request_id: str, *, texts: list[str] | None = None, urls: list[str] | None = None,
                 documents: list[str] | None = None, threshold: float = 0.8, note: str | None = None,
                 source: str | None = None, num_perm: int = 128) -> dict:
    """Record an erasure / copyright request and find what it covers now: documents whose text is a
    near-duplicate (estimated Jaccard >= threshold) of a given text, of a listed URL's document, or of a
    given document (``shard_id:position`` or ``doc_id``), plus the listed URLs themselves. Later scans
    match new shards against the stored signatures too (``match_takedowns``)."""
    from .minhash import signatures

    if not request_id or not request_id.strip():
        raise ProvenanceError("a takedown request needs an id")
    if not (texts or urls or documents):
        raise ProvenanceError("a takedown request needs texts, URLs or documents")
    con = led.con
    if con.execute("SELECT 1 FROM takedown_requests WHERE request_id = ?", [request_id]).fetchall():
        raise ProvenanceError(f"takedown request {request_id!r} exists already")
    items: list[tuple[str | None, np.ndarray | None]] = []
    if texts:
        sig = signatures(pa.array(texts, pa.large_string()), num_perm=num_perm)
        items += [(None, row) for row in sig if not (row == MAX_HASH).all()]
    refs: list[tuple[str, int]] = []
    if urls:
        refs += con.execute("SELECT shard_id, position FROM documents WHERE url IN (SELECT unnest(?::VARCHAR[]))", [urls]).fetchall()
        items += [(u, None) for u in urls]
    for d in documents or []:
        sid, _, pos = d.rpartition(":")
        row = con.execute("SELECT shard_id, position FROM documents WHERE (shard_id = ? AND position = TRY_CAST(? AS BIGINT)) "
                          "OR doc_id = ? LIMIT 1", [sid, pos, d]).fetchall()
        if not row:
            raise ProvenanceError(f"no document {d!r} in the ledger (give shard_id:position or a doc_id)")
        refs.append(row[0])
    items += [(None, sig) for _, _, sig in _sink_signatures(led, refs, num_perm)]
    kind = "text" if texts else "urls" if urls else "document"
    with led.transaction():
        con.execute("INSERT INTO takedown_requests VALUES (?, ?, ?, ?, ?, ?)",
                    [request_id, datetime.now(timezone.utc), kind, source, note, threshold])
        for i, (url, sig) in enumerate(items):
            con.execute("INSERT INTO takedown_items VALUES (?, ?, ?, ?)",
                        [request_id, i, url, None if sig is None else [int(x) for x in sig]])
    n = match_takedowns(led, request_ids=[request_id], num_perm=num_perm)
    n_urls = sum(1 for u, _ in items if u is not None)
    return {"request_id": request_id, "items": len(items), "urls": n_urls, "signatures": len(items) - n_urls,
            "matches": n}


def match_takedowns(led, *, shard_ids: list[str] | None = None, request_ids: list[str] | None = None,
                    num_perm: int = 128, batch_rows: int = 16384) -> int:
    """(Re)compute ``takedown_matches`` for the given shards (default all) and requests (default all)."""
    con = led.con
    reqs = con.execute("SELECT request_id, threshold FROM takedown_requests" +
                       (" WHERE request_id IN (SELECT unnest(?::VARCHAR[]))" if request_ids else ""),
                       [request_ids] if request_ids else []).fetchall()
    if not reqs:
        return 0
    thresholds = dict(reqs)
    items = con.execute("SELECT request_id, url, minhash FROM takedown_items WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
                        [list(thresholds)]).fetchall()
    sig_req = [rid for rid, _, m in items if m is not None]
    sig_mat = np.array([m for _, _, m in items if m is not None], dtype=np.uint64).reshape(-1, num_perm)
    urls = [(rid, u) for rid, u, _ in items if u is not None]
    shards = [(s, p) for s, p in _shards(led) if shard_ids is None or s in set(shard_ids)]
    rows = {"shard_id": [], "position": [], "request_id": [], "similarity": [], "matched_by": []}
    for sid, path in shards:
        if not len(sig_mat):
            break
        pf = pq.ParquetFile(path, pre_buffer=False)  # not every column chunk at once (~260 MB per 500k rows)
        if "minhash" not in pf.schema_arrow.names:
            continue
        for pos, sig in _signature_batches(pf, num_perm, batch_rows):
            empty = (sig == MAX_HASH).all(axis=1)
            for j, rid in enumerate(sig_req):
                est = (sig == sig_mat[j]).mean(axis=1)
                for i in np.flatnonzero((est >= thresholds[rid]) & ~empty):
                    rows["shard_id"].append(sid)
                    rows["position"].append(int(pos[i]))
                    rows["request_id"].append(rid)
                    rows["similarity"].append(float(est[i]))
                    rows["matched_by"].append("minhash")
        pa.default_memory_pool().release_unused()  # see _write_bands
    t = pa.table(rows, schema=pa.schema([("shard_id", pa.string()), ("position", pa.int64()), ("request_id", pa.string()),
                                         ("similarity", pa.float64()), ("matched_by", pa.string())]))
    con.register("_tdm", t)
    con.register("_tdu", pa.table({"request_id": [r for r, _ in urls], "url": [u for _, u in urls]},
                                  schema=pa.schema([("request_id", pa.string()), ("url", pa.string())])))
    scope = ("shard_id IN (SELECT unnest(?::VARCHAR[]))" if shard_ids is not None else "true")
    params = [shard_ids] if shard_ids is not None else []
    with led.transaction():
        con.execute(f"DELETE FROM takedown_matches WHERE request_id IN (SELECT unnest(?::VARCHAR[])) AND {scope}",
                    [list(thresholds)] + params)
        con.execute(f"""
            INSERT INTO takedown_matches
            SELECT shard_id, position, request_id, max(similarity), min(matched_by) FROM (
                SELECT * FROM _tdm
                UNION ALL
                SELECT d.shard_id, d.position, u.request_id, 1.0, 'url' FROM documents d JOIN _tdu u ON u.url = d.url
                WHERE {scope.replace('shard_id', 'd.shard_id')}
            ) GROUP BY shard_id, position, request_id""", params)
    con.unregister("_tdm")
    con.unregister("_tdu")
    return con.execute("SELECT count(*) FROM takedown_matches WHERE request_id IN (SELECT unnest(?::VARCHAR[]))",
                       [list(thresholds)]).fetchone()[0]


__all__ = ["cluster", "takedown_add", "match_takedowns"]
