"""Needs at scale: embedding texts/s, needs training time, peak RSS and recall of rare planted needs.

Usage: `.venv/bin/python -m bench scale_needs [--texts 10000,100000] [--hold-seconds 540] [--threads 1]
[--cache-dir DIR] [--no-write]`.

Each size runs in a fresh process (its peak RSS is the run's): the `rare` world (`needcast.sample_data`) with
`texts` feedback texts in the year of training and two planted needs, each 0.2% of the recent stream or ten
recent texts where 0.2% is fewer (a need of one text is nobody's need). Every text is embedded by the
configured encoder through the product's embedding cache (`text.embedding_cache.CachedEncoder`), kept in a
SQLite file per size under `--cache-dir`, so the embedding is resumable: with `--hold-seconds` a run stops
embedding after about that many seconds (at a committed batch) and the next run of the same command carries
on where it stopped; a killed run loses at most the batch in progress. The cold embedding of each run (texts
embedded, seconds, load averages) is appended to a ledger beside the cache, and the figures sum it over runs.
Once every text is cached, the run reads all vectors back (warm) and fits: "needs fit" is
`training.needs_training.fit_needs` (sample clustering, surges, assignment, labels, emergence test; the
run's MLflow logging adds about a second). Recall and precision are of the last day, judged as in
`bench/needs_quality.py`. Writes `## Needs at scale` in docs/benchmarks.md when every size is complete.
`needs_figures` is what the scale benchmark calls (without a time limit).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

SECTION = "## Needs at scale"
NEED_SHARE = 0.002
MIN_PLANTED_RECENT = 10  # the planted share is raised to give a need at least this many recent texts
SEED = 7
CACHE_DIR = Path(tempfile.gettempdir()) / "needcast-bench" / "scale_needs"
"""Default home of the per-size embedding caches: outside the checkout, kept between runs."""


def cache_files(cache_dir: Path, texts: int, seed: int = SEED) -> tuple[Path, Path]:
    """The embedding cache (SQLite) of one size and the ledger of its cold embedding runs (JSON lines)."""
    stem = Path(cache_dir) / f"rare-{texts}-seed{seed}"
    return stem.with_suffix(".db"), stem.with_suffix(".runs.jsonl")


def _judge(emerging: list[dict], planted: list[dict]) -> tuple[float, float]:
    """Recall of the planted needs and precision of the items, as `bench/needs_quality.py` judges them."""
    ids = {(p["segment"], p["topic"]): set(p["ids"]) for p in planted}
    hits, good = set(), 0
    for item in emerging:
        shown = [e["id"] for e in item["examples"]]
        match = [key for key, members in ids.items()
                 if key[0] == item["segment"] and 2 * sum(i in members for i in shown) > len(shown)]
        hits.update(match)
        good += bool(match)
    return len(hits) / len(ids), (good / len(emerging) if emerging else float("nan"))


def _embed_until(encoder, texts: list[str], deadline: float | None, ledger: Path, run: dict) -> int:
    """Embed `texts` through the cache, a committed batch at a time, until done or `deadline` (time.time).

    `run` (this process's cold embedding: texts, seconds, load averages, peak RSS) is rewritten as the
    ledger's last line after every batch, so a killed run's ledger still holds what it embedded. Returns how
    many of `texts` (from the first) are cached.
    """
    step = encoder.commit_texts
    with ledger.open("a", encoding="utf-8") as f:
        f.write(json.dumps(run) + "\n")
    for start in range(0, len(texts), step):
        if deadline is not None and time.time() > deadline:
            return start
        misses = encoder.misses
        began = time.perf_counter()
        encoder.encode(texts[start : start + step])
        if encoder.misses > misses:  # a batch all read from the cache costs a lookup, not embedding time
            run["embedded"] += encoder.misses - misses
            run["seconds"] += time.perf_counter() - began
            run["load_end"] = os.getloadavg()[0]
            run["peak_rss_mb"] = _peak_rss_mb()
            lines = ledger.read_text(encoding="utf-8").splitlines()
            ledger.write_text("\n".join([*lines[:-1], json.dumps(run)]) + "\n", encoding="utf-8")
    return len(texts)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _ledger(ledger: Path) -> list[dict]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()]


def one_size(texts: int, cache_dir: Path, deadline: float | None = None, threads: int | None = None,
             folder: Path | None = None, seed: int = SEED) -> dict:
    """Generate, embed through the size's cache (until `deadline`, a `time.time()`), once complete fit and judge.

    Run it in a fresh process: `threads` (ONNX Runtime / torch intra-op threads) is read when the encoder
    loads, and the peak RSS is the process's.
    """
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # `text.encoders.cpu_threads` reads it at load
    from bench.needs_quality import cached_encoder
    from needcast.sample_data import RECENT_DAYS, generate_world
    from text.encoders import TextEncoder, cpu_threads
    from training.needs_training import NeedsConfig, fit_needs, prepare_feedback

    config = NeedsConfig()
    recent_texts = texts * RECENT_DAYS / 365
    share = max(NEED_SHARE, MIN_PLANTED_RECENT / recent_texts)
    cache, ledger = cache_files(cache_dir, texts, seed)
    if not cache.exists():
        ledger.unlink(missing_ok=True)  # the ledger describes this cache's filling, not an older one's
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        began = time.perf_counter()
        files = generate_world(Path(tmp), world="rare", seed=seed, feedback_texts=texts, need_share=share)
        generate_s = time.perf_counter() - began
        feedback = pd.read_csv(files.feedback, parse_dates=["created_at"])
    docs = prepare_feedback(feedback, None, config.days_used)
    as_of = docs["created_at"].max().normalize()
    recent_ids = set(docs.loc[docs["created_at"] > as_of - pd.Timedelta(days=RECENT_DAYS), "id"])
    row = {"texts": len(docs), "distinct": docs["text"].nunique(), "need_share": share, "generate_s": generate_s,
           "planted_recent": [len(recent_ids & set(p["ids"])) for p in files.planted], "threads": cpu_threads()}
    encoder = cached_encoder(cache)
    inner = encoder.encoder
    assert isinstance(inner, TextEncoder)
    row["device"] = f"{inner.backend} on {inner.device}"
    run = {"pid": os.getpid(), "at": pd.Timestamp.now("UTC").isoformat(timespec="seconds"),
           "threads": row["threads"], "embedded": 0, "seconds": 0.0, "load_start": os.getloadavg()[0],
           "peak_rss_mb": 0.0}
    run["load_end"] = run["load_start"]
    texts_in = docs["text"].tolist()
    row["done"] = _embed_until(encoder, texts_in, deadline, ledger, run)
    row["complete"] = row["done"] == len(texts_in)
    runs = [r for r in _ledger(ledger) if r["embedded"]]
    row |= {"runs": runs, "embedded": sum(r["embedded"] for r in runs),
            "embed_s": sum(r["seconds"] for r in runs)}
    if row["complete"]:
        began = time.perf_counter()
        reader = cached_encoder(cache)
        x = reader.encode(texts_in)  # every vector from the cache: what a retrain on this feedback pays
        row["warm_s"] = time.perf_counter() - began
        assert reader.misses == 0, "texts left to embed after a complete run"
        began = time.perf_counter()
        snapshot = fit_needs(docs, x, as_of, config).snapshot
        row["fit_s"] = time.perf_counter() - began
        row["recall"], row["precision"] = _judge(snapshot.emerging, files.planted)
        row["reported"] = len(snapshot.emerging)
    row["peak_rss_mb"] = _peak_rss_mb()
    row["load"] = os.getloadavg()[0]  # other work on the machine stretches every figure above
    return row


def needs_figures(text_counts: Sequence[int] = (10_000, 100_000), cache_dir: Path | None = None,
                  hold_seconds: float | None = None, threads: int | None = None,
                  folder: Path | None = None) -> list[dict]:
    """Per size: texts, cold embedding texts/s and seconds (summed over the runs that filled its cache), warm
    read, needs fit and training seconds, peak RSS (MB), recall / precision of the rare planted needs.

    Caches live under `cache_dir` (default `folder / "embeddings"` when `folder` is given, else `CACHE_DIR`);
    a size whose embedding did not finish within `hold_seconds` (for all sizes together) comes back with
    `complete` False, and the sizes after it are not run.
    Worlds are written under `folder` (default: the system's temporary folder). `needs_table` renders rows.
    """
    cache_dir = Path(cache_dir) if cache_dir else (Path(folder) / "embeddings" if folder else CACHE_DIR)
    deadline = None if hold_seconds is None else time.time() + hold_seconds
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for n in text_counts:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(one_size, (int(n), cache_dir, deadline, threads, folder)))
        if not rows[-1]["complete"]:
            break  # the time of this hold is spent
    for r in rows:
        r["embed_texts_per_s"] = r["embedded"] / r["embed_s"] if r["embed_s"] else float("nan")
        if r["complete"]:
            r["train_s"] = r["warm_s"] + r["fit_s"]
    return rows


def needs_table(rows: list[dict], command: str = ".venv/bin/python -m bench scale_needs") -> str:
    """The rows of `needs_figures` (complete sizes) as the markdown of the `## Needs at scale` section."""
    lines = [f"`{command}` (repeated until every size is embedded) — {pd.Timestamp.now():%Y-%m-%d}", "",
             "The `rare` world: two planted needs in a year of feedback; training reads the last 365 days. Every "
             "text is embedded by the real model through the product's embedding cache, resumed over several "
             "runs of the command (`runs`); cold embedding figures sum those runs (distinct texts embedded per "
             "second, with the 1-minute load average at each run's start and end: other work on the 2 shared "
             "cores stretches them). Training is then the warm run: every vector read back from the cache, "
             "plus the needs fit. Peak RSS is the largest of the runs.", "",
             "| texts (distinct) | planted share (recent texts) | encoder, threads | runs | cold embedding texts/s "
             "| cold embedding s | load averages | warm read s | needs fit s | training s (warm) | peak RSS MB "
             "| recall | precision | load average at fit |",
             "|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if not r["complete"]:
            continue
        loads = ", ".join(f"{x['load_start']:.1f}-{x['load_end']:.1f}" for x in r["runs"])
        threads = "/".join(sorted({str(x["threads"]) for x in r["runs"]}))
        lines.append(
            f"| {r['texts']:,} ({r['distinct']:,}) | {100 * r['need_share']:.2g}% "
            f"({', '.join(map(str, r['planted_recent']))}) | {r['device']}, {threads} "
            f"| {len(r['runs'])} | {r['embed_texts_per_s']:.1f} | {r['embed_s']:.0f} | {loads} "
            f"| {r['warm_s']:.1f} | {r['fit_s']:.1f} | {r['train_s']:.0f} "
            f"| {max([r['peak_rss_mb'], *(x.get('peak_rss_mb', 0) for x in r['runs'])]):.0f} "
            f"| {r['recall']:.2f} | {r['precision']:.2f} | {r['load']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", default="10000,100000", help="feedback texts a year, comma-separated")
    ap.add_argument("--hold-seconds", type=float, default=None,
                    help="stop embedding after about this many seconds (all sizes together); the next run resumes")
    ap.add_argument("--threads", type=int, default=None, help="inference threads (default: every core)")
    ap.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="where the per-size caches are kept")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    sizes = [int(t) for t in args.texts.split(",")]
    rows = needs_figures(sizes, args.cache_dir, args.hold_seconds, args.threads)
    for r in rows:
        done = (f"complete, needs fit {r['fit_s']:.1f} s, recall {r['recall']:.2f}, precision {r['precision']:.2f}"
                if r["complete"] else "run again to resume")
        print(f"{r['texts']:,} texts: {r['done']:,} cached, {r['embedded']:,} embedded in "
              f"{r['embed_s']:.0f} s over {len(r['runs'])} runs ({r['embed_texts_per_s']:.1f} texts/s, load "
              f"{r['load']:.1f}, peak RSS {r['peak_rss_mb']:.0f} MB): {done}", flush=True)
    if len(rows) < len(sizes) or not all(r["complete"] for r in rows):
        return 3
    options = [a for a in sys.argv[1:] if a != "--no-write"]
    text = needs_table(rows, " ".join([".venv/bin/python -m bench scale_needs", *options]))
    print(SECTION + "\n\n" + text)
    if not args.no_write:
        from bench.docs import replace_section

        replace_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
