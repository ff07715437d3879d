"""Redaction of personal data on hand-labelled real texts: recall and precision per kind, and texts per second.

The labels (tests/fixtures/redaction_labels.json) are character spans of the shared Kursk appeals and NYC 311
texts, no text copied: names on a random sample of 1,500 Kursk appeals and on every NYC text, phones, e-mails
and personal document numbers (passport, SNILS, a person's INN, medical policy, personal account, sick-leave
certificate) on every text. A labelled span counts as found when every letter and digit of it is inside
redacted spans (a surname left beside masked initials is a miss); a redacted span of a kind counts as right
when it overlaps a labelled span. Nothing here prints a text.

    python -m bench redaction [--no-write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.data import SHARED_DATA
from bench.docs import replace_section
from text.redaction import PiiSpan, pii_spans, pii_spans_many

__all__ = ["KINDS", "LABELS", "Score", "labelled_frame", "score"]

LABELS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "redaction_labels.json"
DATA = SHARED_DATA / "citizen_feedback_texts_ru_kursk_en_nyc311.csv.gz"
KINDS = ("name", "phone", "email", "document")
CHUNK = 500
# Redaction kinds that are personal document numbers in the labels' sense.
_DOCUMENT_KINDS = {"passport", "snils", "inn", "policy", "card", "document"}


def _label_kind(kind: str) -> str:
    return "document" if kind in _DOCUMENT_KINDS else kind


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def labelled_frame(data: Path = DATA, labels: Path = LABELS) -> pd.DataFrame:
    """Every shared text with its labelled spans and whether its names were labelled (`names_labelled`)."""
    doc = json.loads(labels.read_text(encoding="utf-8"))
    frame = pd.read_csv(data, usecols=["source", "record_id", "text"]).dropna(subset=["text"])
    frame["sha1"] = frame["text"].map(_sha)
    # A text that occurs twice (the data set has duplicates) carries its labels in both places.
    spans = {(t["source"], t["sha1"]): [tuple(s) for s in t["spans"]] for t in doc["texts"]}
    frame["gold"] = [spans.get(k, []) for k in zip(frame["source"], frame["sha1"], strict=True)]
    sample = set(doc["name_sample"]["kursk_appeals"])
    frame["names_labelled"] = (frame["source"] == "nyc311_publicstuff") | frame["record_id"].isin(sample)
    missing = len(spans) - len(set(spans) & set(zip(frame["source"], frame["sha1"], strict=True)))
    if missing:
        raise ValueError(f"{missing} labelled texts are not in {data.name}: the data set changed")
    return frame.reset_index(drop=True)


@dataclass
class Score:
    kind: str
    labelled: int
    found: int
    redacted: int
    right: int

    @property
    def recall(self) -> float:
        return self.found / self.labelled if self.labelled else float("nan")

    @property
    def precision(self) -> float:
        return self.right / self.redacted if self.redacted else float("nan")


def _covered(text: str, start: int, end: int, spans: list[PiiSpan]) -> bool:
    return all(any(s.start <= i < s.end for s in spans) for i in range(start, end) if text[i].isalnum())


def score(frame: pd.DataFrame, predicted: list[list[PiiSpan]]) -> dict[str, Score]:
    """Recall and precision per labelled kind; names only on the texts whose names were labelled."""
    counts = {k: Score(k, 0, 0, 0, 0) for k in KINDS}
    for text, gold, names_labelled, spans in zip(frame["text"], frame["gold"], frame["names_labelled"], predicted,
                                                  strict=True):
        for start, end, kind in gold:
            counts[kind].labelled += 1
            counts[kind].found += _covered(text, start, end, spans)
        for s in spans:
            kind = _label_kind(s.kind)
            if kind not in counts or (kind == "name" and not names_labelled):
                continue
            counts[kind].redacted += 1
            counts[kind].right += any(gs < s.end and s.start < ge for gs, ge, _ in gold)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found (shared data set absent)")
        return 0
    frame = labelled_frame()
    pii_spans("Иванов Иван Иванович")  # load the dictionary and the NER before timing
    predicted: list[list[PiiSpan]] = []
    seconds: dict[str, float] = defaultdict(float)
    # Chunks of 500 texts, as a file or a request of rows is redacted at ingestion (`redact_many`).
    for source, part in frame.groupby("source", sort=False):
        for start in range(0, len(part), CHUNK):
            t0 = time.perf_counter()
            predicted_chunk = pii_spans_many(part["text"].iloc[start: start + CHUNK].tolist())
            seconds[source] += time.perf_counter() - t0
            predicted.extend(predicted_chunk)
    order = {i: n for n, i in enumerate(i for _, part in frame.groupby("source", sort=False) for i in part.index)}
    predicted = [predicted[order[i]] for i in frame.index]
    total = sum(seconds.values())
    scores = score(frame, predicted)
    patterns_only = score(frame, pii_spans_many(frame["text"].tolist(), ner=False))
    lines = ["| kind | labelled | recall | precision | recall, patterns only | precision, patterns only |",
             "|---|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        s, p = scores[kind], patterns_only[kind]
        lines.append(f"| {kind} | {s.labelled} | {s.recall:.3f} | {s.precision:.3f} | {p.recall:.3f} | "
                     f"{p.precision:.3f} |")
    counts = frame["source"].value_counts()
    speed = ", ".join(f"{src}: {counts[src] / sec:,.0f} texts/s" for src, sec in sorted(seconds.items()))
    body = "\n".join([
        f"`python -m bench redaction` ({datetime.now(UTC):%Y-%m-%d}): `text.redaction.redact_pii` on the shared "
        f"feedback texts ({len(frame):,} texts) against hand labels in `tests/fixtures/redaction_labels.json` "
        "(character spans, no text copied): names on a random sample of 1,500 Kursk appeals and on every NYC "
        "311 text; phones, e-mails and personal document numbers (passport, SNILS, a person's INN, medical "
        "policy, personal account «л/с», sick-leave certificate) on every text. A label is found when all its "
        "letters and digits are masked; a masked span is right when it overlaps a label. \"Patterns only\" "
        "is `redact_pii(text, ner=False)`: without natasha's NER.",
        "",
        *lines,
        "",
        f"Speed, one process, NER on, chunks of {CHUNK}: {len(frame) / total:,.0f} texts/s overall ({speed}); "
        f"22,000 texts a day take {22_000 / (len(frame) / total):,.0f} s. The machine's load at the time: "
        f"{os.getloadavg()[0]:.1f} (1-minute average, {os.cpu_count()} CPUs).",
    ])
    print(body)
    if not args.no_write:
        replace_section("## Redaction of personal data", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
