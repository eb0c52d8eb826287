"""`social-care triage eval`: the issue's quality figures on the dev data, cross-validated where trained on it.

- complaint macro-F1: 10-fold CV on complaints_dev.csv; each fold's model is trained on every source
  except the texts of its test fold, with the complaint head's C chosen by an inner 3-fold CV on the
  fold's training complaints only (nested CV; the test fold never picks a hyperparameter).
- English sentiment macro-recall: 10-fold CV on the TweetEval validation split (the sentiment head's
  only labelled data; its stacked heads learn from VADER's tweet ratings and TweetEval emotion tweets);
  the head's per-label offsets are chosen by a 5-fold CV inside each fold's training tweets (nested).
- English Pearson r of the analyzer's compound against the human means of VADER's tweet ground truth:
  10-fold CV over those tweets, since the model's `ratings` head is trained on them; each fold's
  model learns without its test tweets.
- Italian macro-F1: the shipped model on the XLM-T Italian validation split (kept out of training).
- queue accuracy and angry / urgent F1: 10-fold CV on care_dev.jsonl through the full decision
  (model, cues and fallbacks), each fold's model trained without its test texts; the confusion
  matrix is printed with the accuracy.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentiment.analyzer import Scorer, analyze, clean
from sentiment.features import normalize
from sentiment.fit import FeatureCache
from sentiment.vader import vader_scores
from triage import datasets, train
from triage.datasets import dedup_key
from triage.triager import COMPLAINT_THRESHOLD, Triager
from triage.types import QUEUES


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure and the issue's target for it."""

    name: str
    value: float
    target: float | None
    detail: str

    def line(self) -> str:
        verdict = "" if self.target is None else ("  ok" if self.value >= self.target else "  BELOW TARGET")
        target = "" if self.target is None else f" (target >= {self.target:.2f})"
        return f"{self.name:<34} {self.value:.3f}{target}{verdict}  [{self.detail}]"


def folds(n_items: int, labels: Sequence[int], k: int) -> list[np.ndarray]:
    """Deterministic stratified fold assignment: each label's items dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(0)
    assignment = np.zeros(n_items, dtype=int)
    labels_arr = np.asarray(labels)
    for label in sorted(set(labels_arr.tolist())):
        idx = np.flatnonzero(labels_arr == label)
        rng.shuffle(idx)
        assignment[idx] = np.arange(len(idx)) % k
    return [np.flatnonzero(assignment == f) for f in range(k)]


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> float:
    """Mean over labels of F1."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in labels:
        tp = np.sum((t == label) & (p == label))
        fp = np.sum((t != label) & (p == label))
        fn = np.sum((t == label) & (p != label))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def macro_recall(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> float:
    """Mean over labels of recall."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(p[t == label] == label) for label in labels]))


def complaint_figure(root: Path, k: int, cache: FeatureCache) -> Figure:
    rows = datasets.complaints(root)
    y = [c for _, c, _ in rows]
    pred = np.zeros(len(rows), dtype=int)
    chosen: list[float] = []
    for test in folds(len(rows), y, k):
        exclude = {dedup_key(rows[i][0]) for i in test}
        examples = train.triage_examples(root, exclude=exclude)
        test_set = set(test.tolist())
        inner = [(text, label) for i, (text, label, _) in enumerate(rows) if i not in test_set]
        c = train.choose_complaint_c(examples, inner, cache=cache)
        chosen.append(c)
        model = train.fit_triage(examples, heads=("complaint",), cache=cache, c={"complaint": c})
        for i in test:
            pred[i] = int(model.predict(normalize(rows[i][0]))["complaint"][1] >= COMPLAINT_THRESHOLD)
    value = macro_f1(y, pred, (0, 1))
    picks = ", ".join(f"{c:g}" for c in chosen)
    return Figure("complaint macro-F1", value, 0.85, f"complaints_dev.csv, {k}-fold nested CV, n={len(rows)}; C per fold: {picks}")


def english_figures(root: Path, k: int, cache: FeatureCache) -> list[Figure]:
    rows = train.en_rows(root)
    y = [label for label, _ in rows]
    pred = np.zeros(len(rows), dtype=int)
    for test in folds(len(rows), y, k):
        test_set = set(test.tolist())
        extras = train.en_extras(root, exclude={dedup_key(rows[i][1]) for i in test})
        model = train.fit_english([r for i, r in enumerate(rows) if i not in test_set], extras, cache=cache)
        for i in test:
            text = rows[i][1]
            pred[i] = int(model.predict(normalize(text), vader_scores(text).dense())["sentiment"].argmax())
    recall = macro_recall(y, pred, (0, 1, 2))
    per_class = ", ".join(
        f"{name} {np.mean(pred[np.asarray(y) == c] == c):.3f}" for c, name in enumerate(datasets.SENTIMENT_LABELS)
    )

    truth = datasets.vader_ground_truth(root)
    means = [mean for mean, _ in truth]
    ours = np.zeros(len(truth))
    strata = np.digitize(means, (-1.0, 0.0, 1.0))  # folds balanced over the rating range
    for test in folds(len(truth), strata.tolist(), k):
        exclude = {dedup_key(truth[i][1]) for i in test}
        model = train.fit_english(rows, train.en_extras(root, exclude=exclude), cache=cache)
        scorer = Scorer(en=model)
        for i in test:
            ours[i] = scorer.sentiment(truth[i][1], "en", scorer.summed(clean(truth[i][1], None)), vader_scores(truth[i][1])).compound
    r = float(np.corrcoef(means, ours)[0, 1])
    plain = float(np.corrcoef(means, [vader_scores(text).compound for _, text in truth])[0, 1])
    return [
        Figure(
            "English sentiment macro-recall", recall, 0.70,
            f"tweeteval_sentiment_val.tsv, {k}-fold CV, n={len(rows)}; recall {per_class}",
        ),
        Figure(
            "English compound Pearson r", r, 0.88,
            f"vader_tweets_GroundTruth.txt, {k}-fold CV, n={len(truth)}; plain VADER {plain:.3f}",
        ),
    ]


def italian_figure(root: Path) -> Figure:
    rows = datasets.xlmt_italian(root, "val")
    labels = ("negative", "neutral", "positive")
    pred = [labels.index(analyze(text, "it").label) for _, text in rows]
    value = macro_f1([label for label, _ in rows], pred, (0, 1, 2))
    return Figure("Italian sentiment macro-F1", value, 0.65, f"xlmt_italian_val.tsv (held out), n={len(rows)}")


def care_figures(root: Path, k: int, cache: FeatureCache) -> list[Figure]:
    rows = datasets.care_dev(root)
    y = [QUEUES.index(r.queue or "other") for r in rows]
    queue_pred = np.zeros(len(rows), dtype=int)
    angry_pred = np.zeros(len(rows), dtype=int)
    urgent_pred = np.zeros(len(rows), dtype=int)
    for test in folds(len(rows), y, k):
        exclude = {dedup_key(rows[i].text) for i in test}
        triager = Triager(model=train.fit_triage(train.triage_examples(root, exclude=exclude), cache=cache))
        for i in test:
            flags = triager.flags(rows[i].text)
            queue_pred[i] = QUEUES.index(flags.queue)
            angry_pred[i] = int(flags.angry)
            urgent_pred[i] = int(flags.urgent)
    accuracy = float(np.mean(queue_pred == np.asarray(y)))
    detail = f"care_dev.jsonl, {k}-fold CV, n={len(rows)}"
    confusion = np.zeros((len(QUEUES), len(QUEUES)), dtype=int)
    np.add.at(confusion, (np.asarray(y), queue_pred), 1)
    table = "; ".join(
        f"{QUEUES[t]} -> " + " ".join(f"{QUEUES[p]} {confusion[t, p]}" for p in range(len(QUEUES))) for t in range(len(QUEUES))
    )
    return [
        Figure("queue accuracy", accuracy, 0.85, f"{detail}; true -> predicted: {table}"),
        Figure("queue macro-F1", macro_f1(y, queue_pred, (0, 1, 2)), None, detail),
        Figure("angry F1 (positive class)", _f1([r.angry or 0 for r in rows], angry_pred), None, detail),
        Figure("urgent F1 (positive class)", _f1([r.urgent or 0 for r in rows], urgent_pred), None, detail),
    ]


def _f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    tp = np.sum((t == 1) & (p == 1))
    return 0.0 if tp == 0 else float(2 * tp / (2 * tp + np.sum((t == 0) & (p == 1)) + np.sum((t == 1) & (p == 0))))


def evaluate(root: Path, k: int = 10, emit: Callable[[str], None] = print) -> list[Figure]:
    """Measure and print every figure; returns them."""
    cache = FeatureCache()
    figures: list[Figure] = []
    steps: list[Callable[[], list[Figure]]] = [
        lambda: [complaint_figure(root, k, cache)],
        lambda: english_figures(root, k, cache),
        lambda: [italian_figure(root)],
        lambda: care_figures(root, k, cache),
    ]
    for step in steps:
        started = time.perf_counter()
        for figure in step():
            emit(figure.line())
            figures.append(figure)
        emit(f"{'':<34} ({time.perf_counter() - started:.0f} s)")
    return figures
