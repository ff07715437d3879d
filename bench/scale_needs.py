"""Needs at scale: embedding texts/s, needs training time, peak RSS and recall of rare planted needs.

Usage: `.venv/bin/python -m bench scale_needs [--texts 10000,100000] [--embed-limit 10000] [--no-write]`.

Each size runs in a fresh process (its peak RSS is the run's): the `rare` world (`needcast.sample_data`) with
`texts` feedback texts in the year of training and two planted needs, each 0.2% of the recent stream or a
ten recent texts where 0.2% is fewer (a need of one text is nobody's need). Sizes up to `embed_limit` are
embedded for real by the configured encoder through a fresh embedding cache (texts/s measured there, on this
machine's device). Above it, only the first `rate_sample` texts are embedded, to measure texts/s, from which
the embedding time of the whole size is extrapolated; the clustering and
emergence run on real-model vectors of a pool: `POOL_PER_TOPIC` texts composed per topic by the same
generator and embedded once (cached in `~/.cache/needcast/bench_embeddings.db`), each text of the world
taking the vector of a random pool text of its topic and language. Such vectors repeat (about 15 times a
year per pool text at 100,000 texts), which real texts do not; the table says which rows used them.
"Needs training" is `training.needs_training.fit_needs` (sample clustering, surges, assignment, labels,
emergence test); the run's MLflow logging adds about a second. Recall and precision are of the last day,
judged as in `bench/needs_quality.py`. Writes `## Needs at scale` in docs/benchmarks.md.
`needs_figures` is what the scale benchmark calls.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SECTION = "## Needs at scale"
NEED_SHARE = 0.002
MIN_PLANTED_RECENT = 10  # the planted share is raised to give a need at least this many recent texts
POOL_PER_TOPIC = 150
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _encoder(cache: Path):
    from needcast.settings import get_settings
    from store.engine import get_engine
    from text.embedding_cache import CachedEncoder
    from text.encoders import TextEncoder

    settings = get_settings()
    cache.parent.mkdir(parents=True, exist_ok=True)
    return CachedEncoder(TextEncoder.load(settings.embedding_model, settings.models_dir),
                         get_engine(f"sqlite:///{cache}"))


def topic_pool(per_topic: int = POOL_PER_TOPIC, seed: int = 11) -> pd.DataFrame:
    """`per_topic` texts of every topic of the rare world, composed as the world composes them: topic, text, ru."""
    import random

    from needcast.sample_data import RARE
    from needcast.sample_texts import compose_text, personal_data

    rnd = random.Random(seed)
    rows = []
    for plan in RARE.topics:
        for _ in range(per_topic):
            english = rnd.random() < RARE.english_share
            text = compose_text(plan.topic, rnd, english=english)
            if rnd.random() < 0.03:
                text = f"{text} {personal_data(rnd, english=english)}"
            rows.append((plan.topic, text, not english))
    return pd.DataFrame(rows, columns=["topic", "text", "ru"])


def pool_vectors(topics: np.ndarray, texts: Sequence[str], seed: int = 0) -> tuple[np.ndarray, int]:
    """Real-model vectors for texts of known topics, drawn from the embedded pool; and the pool's size."""
    from needcast.settings import get_settings

    pool = topic_pool()
    vectors = _encoder(get_settings().models_dir.parent / "bench_embeddings.db").encode(pool["text"].tolist())
    ru = np.array([bool(_CYRILLIC.search(t)) for t in texts])
    rng = np.random.default_rng(seed)
    rows = np.empty(len(texts), dtype=np.int64)
    for (topic, is_ru), members in pool.groupby(["topic", "ru"]).groups.items():
        mine = (topics == topic) & (ru == is_ru)
        rows[mine] = rng.choice(np.asarray(members), mine.sum())
    return vectors[rows], len(pool)


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


def one_size(texts: int, embed_limit: int, rate_sample: int = 1000, folder: Path | None = None,
             seed: int = 7) -> dict:
    """Generate, embed (or draw pool vectors), fit and judge one size; run it in a fresh process."""
    from needcast.sample_data import RECENT_DAYS, generate_world
    from text.encoders import TextEncoder
    from training.needs_training import NeedsConfig, fit_needs, prepare_feedback

    config = NeedsConfig()
    recent_texts = texts * RECENT_DAYS / 365
    share = max(NEED_SHARE, MIN_PLANTED_RECENT / recent_texts)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        started = time.perf_counter()
        files = generate_world(Path(tmp), world="rare", seed=seed, feedback_texts=texts, need_share=share)
        generate_s = time.perf_counter() - started
        feedback = pd.read_csv(files.feedback, parse_dates=["created_at"])
        topic_of = pd.read_csv(files.topics_file).set_index("id")["topic"]
        docs = prepare_feedback(feedback, None, config.days_used)
        as_of = docs["created_at"].max().normalize()
        recent_ids = set(docs.loc[docs["created_at"] > as_of - pd.Timedelta(days=RECENT_DAYS), "id"])
        row = {"texts": len(docs), "need_share": share, "generate_s": generate_s,
               "planted_recent": [len(recent_ids & set(p["ids"])) for p in files.planted]}
        real = len(docs) <= embed_limit
        encoder = _encoder(Path(tmp) / "cache.db")  # fresh: every text is embedded
        texts_in = docs["text"].tolist()
        if not real:  # texts/s on the first `rate_sample` texts only
            texts_in = texts_in[:rate_sample]
        started = time.perf_counter()
        vectors = encoder.encode(texts_in)
        inner = encoder.encoder
        assert isinstance(inner, TextEncoder)
        row |= {"embed_s": time.perf_counter() - started, "embedded": encoder.misses,
                "device": f"{inner.backend} on {inner.device}"}
        if real:
            x, row["vectors"] = vectors, "real model"
        else:
            x, pool = pool_vectors(topic_of.reindex(docs["id"]).to_numpy(), docs["text"].tolist())
            row["vectors"] = f"pool of {pool} real-model vectors"
        started = time.perf_counter()
        snapshot = fit_needs(docs, x, as_of, config).snapshot
        row["fit_s"] = time.perf_counter() - started
        row["recall"], row["precision"] = _judge(snapshot.emerging, files.planted)
        row["reported"] = len(snapshot.emerging)
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    row["load"] = os.getloadavg()[0]  # other work on the machine stretches every figure above
    return row


def needs_figures(text_counts: Sequence[int] = (10_000, 100_000), embed_limit: int = 10_000,
                  rate_sample: int = 1000, folder: Path | None = None) -> list[dict]:
    """Per size: texts, embedding texts/s and seconds, needs fit and training seconds, peak RSS (MB) and the
    recall / precision of the rare planted needs. Above `embed_limit` texts the embedding seconds are
    extrapolated from the texts/s of `rate_sample` texts embedded in that run (`embed_extrapolated`).
    Worlds are written under `folder` (default: the system's temporary folder). `needs_table` renders rows."""
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for n in text_counts:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(one_size, (int(n), embed_limit, rate_sample, folder)))
    for r in rows:
        r["embed_texts_per_s"] = r["embedded"] / r["embed_s"]
        r["embed_extrapolated"] = r["embedded"] < r["texts"]
        if r["embed_extrapolated"]:
            r["embed_s"] = r["texts"] / r["embed_texts_per_s"]
        r["train_s"] = r["embed_s"] + r["fit_s"]
    return rows


def needs_table(rows: list[dict], command: str = ".venv/bin/python -m bench scale_needs") -> str:
    """The rows of `needs_figures` as the markdown of the `## Needs at scale` section."""
    lines = [f"`{command}` — {pd.Timestamp.now():%Y-%m-%d}", "",
             "The `rare` world: two planted needs in a year of feedback; training reads the last 365 days. "
             "Embedding seconds marked * are extrapolated from the texts/s measured on the first texts of that run "
             "(the rest was not embedded); their clustering and emergence ran on pool vectors of the real model "
             "(see the module). The load average is the machine's at the end of the size's run: on 2 shared "
             "cores under load every figure stretches (texts/s on a quiet machine: `## Embedding speed`).", "",
             "| texts | planted share (recent texts) | vectors | embedding texts/s | embedding s | needs fit s "
             "| training s | peak RSS MB | recall | precision | load average |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        star = "*" if r["embed_extrapolated"] else ""
        lines.append(
            f"| {r['texts']:,} | {100 * r['need_share']:.2g}% ({', '.join(map(str, r['planted_recent']))}) "
            f"| {r['vectors']}{', ' + r['device'] if r['device'] else ''} | {r['embed_texts_per_s']:.1f} "
            f"| {r['embed_s']:.0f}{star} | {r['fit_s']:.1f} | {r['train_s']:.0f}{star} | {r['peak_rss_mb']:.0f} "
            f"| {r['recall']:.2f} | {r['precision']:.2f} | {r['load']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", default="10000,100000", help="feedback texts a year, comma-separated")
    ap.add_argument("--embed-limit", type=int, default=10_000, help="largest size embedded for real")
    ap.add_argument("--rate-sample", type=int, default=1000, help="texts embedded for texts/s above the limit")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = needs_figures([int(t) for t in args.texts.split(",")], args.embed_limit, args.rate_sample)
    command = " ".join([".venv/bin/python -m bench scale_needs", *sys.argv[1:]])
    text = needs_table(rows, command)
    print(SECTION + "\n\n" + text)
    if not args.no_write:
        from bench.docs import replace_section

        replace_section(SECTION, text)


if __name__ == "__main__":
    main()
