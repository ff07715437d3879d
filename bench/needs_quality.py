"""Emerging-needs quality: topic NMI on real Kursk appeals, and detection on the generated worlds.

Usage: `.venv/bin/python bench/needs_quality.py [--rows 1000] [--worlds sample,alt] [--seeds 7] [--step 2]
[--no-write]`.

(a) Topics vs the human `category_group` of the first `rows` Kursk appeals that have one (texts cut to
1000 characters): every clustering option of `training.topics` next to TF-IDF+SVD(200)+KMeans(17) and
e5+KMeans(17). (b) Detection on each generated world: the needs pipeline (`training.needs_training.
fit_needs`, topics refitted with the previous ids each time) run as of every `step`-th day from the first
planted start to the end. An item is planted when most of its examples are ids of a planted topic in
its segment. Recall and precision are those of the last day; delay is the first day a planted topic is
reported minus its start; "false" counts non-planted items over all days. Embeddings are cached in
`~/.cache/needcast/bench_embeddings.db`. Prints markdown and writes it under `## Emerging needs` in
`docs/benchmarks.md` (only that section is replaced). Never prints feedback texts.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bench.data import SHARED_DATA

if TYPE_CHECKING:
    from text.embedding_cache import CachedEncoder

ROOT = Path(__file__).resolve().parents[1]
DATA = SHARED_DATA / "citizen_feedback_texts_ru_kursk_en_nyc311.csv.gz"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Emerging needs"
Encode = Callable[[list[str]], np.ndarray]


def cached_encoder(cache: Path | None = None) -> CachedEncoder:
    """The configured encoder behind the product's embedding cache in the SQLite file `cache`
    (default: `bench_embeddings.db` beside the models)."""
    from needcast.settings import get_settings
    from store.engine import get_engine
    from text.embedding_cache import CachedEncoder
    from text.encoders import TextEncoder

    settings = get_settings()
    cache = cache or settings.models_dir.parent / "bench_embeddings.db"
    cache.parent.mkdir(parents=True, exist_ok=True)
    return CachedEncoder(TextEncoder.load(settings.embedding_model, settings.models_dir),
                         get_engine(f"sqlite:///{cache}"))


def kursk(rows: int) -> tuple[list[str], np.ndarray]:
    df = pd.read_csv(DATA, dtype=str)
    df = df[(df["source"] == "kursk_appeals") & df["category_group"].fillna("").str.strip().ne("")]
    df = df[df["text"].notna()].head(rows)
    return [t[:1000] for t in df["text"]], df["category_group"].to_numpy()


def topic_nmi(rows: int, encode: Encode) -> list[dict]:
    """NMI, topic count, silhouette and seconds of each clustering option on the Kursk appeals."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import normalized_mutual_info_score as nmi
    from threadpoolctl import threadpool_limits

    from training.topics import TopicConfig, fit_topics

    texts, groups = kursk(rows)
    x = encode(texts)
    out = []
    with threadpool_limits(1):
        started = time.perf_counter()
        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)  # as bench/embedding_quality.py
        svd = TruncatedSVD(200, random_state=0).fit_transform(tfidf)
        pred = KMeans(17, n_init=10, random_state=0).fit_predict(svd)
        out.append({"method": "TF-IDF+SVD(200) + KMeans k=17 (baseline)", "k": 17, "nmi": nmi(groups, pred),
                    "silhouette": float("nan"), "seconds": time.perf_counter() - started})
        started = time.perf_counter()
        pred = KMeans(17, n_init=10, random_state=0).fit_predict(x)
        out.append({"method": "e5 + KMeans k=17 (baseline)", "k": 17, "nmi": nmi(groups, pred),
                    "silhouette": float("nan"), "seconds": time.perf_counter() - started})
    options = {
        "e5 + k-means, k by silhouette alone": TopicConfig(method="kmeans", texts_per_topic=10**9),
        "e5 + Ward, k by silhouette alone": TopicConfig(texts_per_topic=10**9),
        "e5 + k-means, k by silhouette, >= n/50 topics": TopicConfig(method="kmeans"),
        "**e5 + Ward, k by silhouette, >= n/50 topics (default)**": TopicConfig(),
        "e5 + HDBSCAN on PCA-20, noise to nearest": TopicConfig(method="hdbscan", min_topic_size=10),
    }
    for name, config in options.items():
        started = time.perf_counter()
        fit = fit_topics(x, config=config)
        out.append({"method": name, "k": len(fit.topics.ids), "nmi": nmi(groups, fit.assignments),
                    "silhouette": fit.silhouette, "seconds": time.perf_counter() - started})
    return out


def detection(world: str, seed: int, step: int, encode: Encode, method: str = "agglomerative",
              verbose: bool = False) -> dict:
    """Recall, precision, delays and false items of the needs pipeline stepped over one world's last weeks."""
    from needcast.sample_data import generate_world
    from training.needs_training import NeedsConfig, fit_needs, prepare_feedback
    from training.topics import TopicConfig

    config = NeedsConfig(topics=TopicConfig(method=method))
    with tempfile.TemporaryDirectory() as tmp:
        files = generate_world(Path(tmp), world=world, seed=seed)
        feedback = pd.read_csv(files.feedback, parse_dates=["created_at"])
        topic_of = pd.read_csv(files.topics_file).set_index("id")["topic"]
    planted = {(p["segment"], p["topic"]): (pd.Timestamp(p["start"]), set(p["ids"])) for p in files.planted}
    end = feedback["created_at"].max().normalize()
    first = min(start for start, _ in planted.values())
    span = config.emergence.recent_days + config.emergence.baseline_days + (end - first).days + 1
    docs = prepare_feedback(feedback, end, span)
    started = time.perf_counter()
    x = encode(docs["text"].tolist())
    embed_s = time.perf_counter() - started
    previous, seen, false_items, steady_items, fit_s = None, {}, 0, 0, 0.0
    days = list(pd.date_range(first, end, freq=f"{step}D"))
    days += [end] if days[-1] != end else []
    for day in days:
        keep = (docs["created_at"] < day + pd.Timedelta(days=1)).to_numpy()
        started = time.perf_counter()
        fit, _, snap = fit_needs(docs[keep].reset_index(drop=True), x[keep], day, config, previous)
        fit_s += time.perf_counter() - started
        previous = fit.topics
        hits, good = set(), 0
        for item in snap.emerging:
            shown = [e["id"] for e in item["examples"]]
            match = [key for key, (_, ids) in planted.items()
                     if key[0] == item["segment"] and 2 * sum(i in ids for i in shown) > len(shown)]
            hits.update(match)
            good += bool(match)
            lead = topic_of.reindex(shown).value_counts().index[0]
            steady_items += lead in files.truth["steady"]
            if verbose and not match:
                print(f"  {world} {day.date()} not planted: {item['segment']} «{item['label']}» "
                      f"{item['recent_count']}/{item['baseline_count']} q={item['q_value']:.2g} led by {lead}")
            for key in match:
                seen.setdefault(key, day)
        false_items += len(snap.emerging) - good
    reported = len(snap.emerging)
    return {
        "world": f"{world} (seed {seed})", "method": method, "texts": len(docs), "planted": len(planted),
        "recall": len(hits) / len(planted), "precision": good / reported if reported else float("nan"),
        "reported": reported, "delays": {key[1]: (seen[key] - start).days if key in seen else None
                                         for key, (start, _) in planted.items()},
        "false_items": false_items, "steady_items": steady_items, "steps": len(days),
        "embed_s": embed_s, "fit_s_per_day": fit_s / len(days),
    }


def markdown(nmi_rows: list[dict], detect_rows: list[dict], rows: int, step: int, command: str) -> str:
    lines = [SECTION, "", f"`{command}` — {pd.Timestamp.now():%Y-%m-%d}", ""]
    if nmi_rows:
        lines += [f"Topics vs the human topic groups of {rows} real Kursk appeals (NMI; higher is better):", "",
                  "| method | topics | NMI | silhouette | seconds |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {r['method']} | {r['k']} | {r['nmi']:.3f} | {r['silhouette']:.3f} | {r['seconds']:.1f} |"
                  for r in nmi_rows]
        lines.append("")
    if detect_rows:
        lines += [f"Detection of planted emerging needs, as of every {step} days from the first planted start "
                  "(recall and precision of the last day; delay in days after the start):", "",
                  "| world | topics | texts | planted | recall | precision | delay per planted topic "
                  "| false items (all days) | led by a steady topic | s per daily fit |",
                  "|---|---|---:|---:|---:|---:|---|---:|---:|---:|"]
        for r in detect_rows:
            delays = ", ".join(f"{t}: {d if d is not None else 'missed'}" for t, d in r["delays"].items())
            lines.append(f"| {r['world']} | {r['method']} | {r['texts']} | {r['planted']} | {r['recall']:.2f} "
                         f"| {r['precision']:.2f} | {delays} | {r['false_items']} of {r['steps']} days "
                         f"| {r['steady_items']} | {r['fit_s_per_day']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace (or append) the `## Emerging needs` section of docs/benchmarks.md, leaving the rest."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    old = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: text + "\n", old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(new, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--worlds", default="sample,alt")
    ap.add_argument("--seeds", default="7")
    ap.add_argument("--step", type=int, default=2)
    ap.add_argument("--methods", default="agglomerative,kmeans", help="clusterings for the detection runs")
    ap.add_argument("--verbose", action="store_true", help="list the non-planted items (labels, no texts)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    encoder = cached_encoder()
    nmi_rows = []
    if DATA.exists():
        nmi_rows = topic_nmi(args.rows, encoder.encode)
    else:
        print(f"skipped (a): {DATA} not found (the shared real-data folder is not next to the project)")
    detect_rows = [detection(w, int(s), args.step, encoder.encode, m, args.verbose) for s in args.seeds.split(",")
                   for w in args.worlds.split(",") if w for m in args.methods.split(",")]
    command = " ".join([".venv/bin/python bench/needs_quality.py", *sys.argv[1:]])
    text = markdown(nmi_rows, detect_rows, args.rows, args.step, command)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
