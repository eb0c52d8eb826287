"""Offline training of the shipped models (`social-care triage train`); needs the `training` extra.

Reproducible: inputs are de-duplicated and sorted, the solver is deterministic, and models are
written with fixed float precision into gzip files without timestamps, so the same data gives the
same bytes.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sentiment.analyzer import MODELS_DIR as SENTIMENT_MODELS_DIR
from sentiment.features import FeatureSpec
from sentiment.fit import FitSpec, HeadData, fit_linear
from sentiment.linear import LinearModel
from sentiment.vader import DENSE_NAMES, vader_scores
from triage import datasets
from triage.datasets import Labelled, dedup_key
from triage.triager import MODEL_PATH as TRIAGE_MODEL_PATH
from triage.types import QUEUES

logger = logging.getLogger(__name__)

SOURCE_WEIGHTS = {
    "correction": 3.0,
    "care_dev": 1.0,
    "complaints": 1.0,
    "complaints_random": 1.0,
    "airline": 0.15,
    "sms_spam": 0.3,
    "tweeteval": 0.3,
    "bitext": 0.2,
}
HEAD_SOURCE_WEIGHTS: dict[str, dict[str, float]] = {
    "complaint": {"airline": 0.5, "tweeteval": 0.5, "sms_spam": 0.5},
    "queue": {},
    "angry": {},
    "urgent": {},
}
"""Per head, multipliers of SOURCE_WEIGHTS (a missing source keeps its weight)."""
TRIAGE_C = {"complaint": 4.0, "queue": 8.0, "angry": 1.0, "urgent": 1.0}
TRIAGE_SPEC = FeatureSpec(word_max=2, char_min=1, char_max=4)
MAX_FEATURES = 60_000
LICENSES = {
    "labeled/care_dev.jsonl": "as its source tweets (airline: CC BY-NC-SA 4.0; complaints: no license, academic)",
    "complaints/complaints_dev.csv": "no license stated; academic",
    "sentiment/airline_tweets.csv": "CC BY-NC-SA 4.0",
    "spam/sms_spam.tsv": "CC BY 4.0",
    "sentiment/tweeteval_sentiment_val.tsv": "research; Twitter terms",
    "intents/bitext_8k_customer_service.csv": "CDLA-Sharing-1.0",
    "italian/xlmt_italian_train.tsv": "Apache-2.0 repository; SENTIPOLC terms apply (CC BY-NC-SA 3.0 IT)",
    "italian/sentipolc2016_train.csv": "CC BY-NC-SA 3.0 IT",
    "corrections": "the deployment's own agents' labels",
}


@dataclass(frozen=True, slots=True)
class Example:
    """A de-duplicated training text with its merged labels and weight."""

    item: Labelled
    weight: float


def triage_examples(
    root: Path, extra: Sequence[Labelled] = (), exclude: Collection[str] = frozenset()
) -> list[Example]:
    """All labelled texts for the triage heads, merged by dedup key; texts whose key is in `exclude` left out."""
    ordered: list[tuple[Labelled, float]] = []
    for text, sentiment, reason in datasets.airline(root):
        if sentiment == "negative" and reason != "Can't Tell":
            ordered.append((Labelled(text, "airline", "support", 1), SOURCE_WEIGHTS["airline"]))
        elif sentiment == "positive":
            ordered.append((Labelled(text, "airline", "marketing", 0), SOURCE_WEIGHTS["airline"]))
    for label, text in datasets.sms_spam(root):
        if label == "spam":
            ordered.append((Labelled(text, "sms_spam", "other", 0, 0, 0), SOURCE_WEIGHTS["sms_spam"]))
    for _, text in datasets.tweeteval_sentiment(root):
        if not text.startswith("@user"):
            ordered.append((Labelled(text, "tweeteval", "other", 0), SOURCE_WEIGHTS["tweeteval"]))
    for text, intent in datasets.bitext(root):
        queue = "marketing" if intent in ("newsletter_subscription", "review") else "support"
        ordered.append((Labelled(text, "bitext", queue), SOURCE_WEIGHTS["bitext"]))
    for text, complaint, domain in datasets.complaints(root):
        if domain.startswith("random"):
            item = Labelled(text, "complaints", "other", complaint, 0, 0)
            ordered.append((item, SOURCE_WEIGHTS["complaints_random"]))
        else:
            item = Labelled(text, "complaints", "support" if complaint else None, complaint)
            ordered.append((item, SOURCE_WEIGHTS["complaints"]))
    ordered.extend((item, SOURCE_WEIGHTS["care_dev"]) for item in datasets.care_dev(root))
    ordered.extend((item, SOURCE_WEIGHTS["correction"]) for item in extra)
    return merge(ordered, exclude)


def merge(ordered: Iterable[tuple[Labelled, float]], exclude: Collection[str] = frozenset()) -> list[Example]:
    """Merge texts sharing a dedup key: later sources override earlier labels; sorted by key."""
    merged: dict[str, Example] = {}
    for item, weight in ordered:
        key = dedup_key(item.text)
        if not key or key in exclude:
            continue
        old = merged.get(key)
        if old is None:
            merged[key] = Example(item, weight)
            continue
        fields = {
            name: getattr(item, name) if getattr(item, name) is not None else getattr(old.item, name)
            for name in ("queue", "complaint", "angry", "urgent")
        }
        merged[key] = Example(replace(item, **fields), max(weight, old.weight))
    return [merged[key] for key in sorted(merged)]


def _binary(examples: Sequence[Example], name: str) -> np.ndarray:
    return np.array([-1 if getattr(e.item, name) is None else int(getattr(e.item, name)) for e in examples])


def fit_triage(
    examples: Sequence[Example],
    heads: Sequence[str] = ("complaint", "queue", "angry", "urgent"),
    cache: dict[str, tuple[str, ...]] | None = None,
) -> LinearModel:
    """Fit the triage model's heads on merged examples."""
    head_data = []
    for name in heads:
        multipliers = HEAD_SOURCE_WEIGHTS.get(name, {})
        head_weights = np.array([multipliers.get(e.item.source, 1.0) for e in examples])
        if name == "queue":
            y = np.array([-1 if e.item.queue is None else QUEUES.index(e.item.queue) for e in examples])
            head_data.append(HeadData("queue", QUEUES, y, c=TRIAGE_C["queue"], weights=head_weights))
        else:
            head_data.append(
                HeadData(name, ("0", "1"), _binary(examples, name), c=TRIAGE_C[name], balanced=name != "complaint", weights=head_weights)
            )
    fit = FitSpec("triage", TRIAGE_SPEC, min_df=2, max_features=MAX_FEATURES)
    return fit_linear(fit, [e.item.text for e in examples], head_data, weights=[e.weight for e in examples], cache=cache)


def en_rows(root: Path) -> list[tuple[int, str]]:
    """English sentiment training rows (TweetEval validation split)."""
    return sorted(datasets.tweeteval_sentiment(root), key=lambda row: (row[1], row[0]))


def fit_english(rows: Sequence[tuple[int, str]], cache: dict[str, tuple[str, ...]] | None = None) -> LinearModel:
    """The English sentiment model: n-grams plus VADER's four scores."""
    texts = [text for _, text in rows]
    dense = np.array([vader_scores(text).dense() for text in texts], dtype=np.float64)
    head = HeadData("sentiment", datasets.SENTIMENT_LABELS, np.array([label for label, _ in rows]), c=1.0, balanced=True)
    fit = FitSpec("en", FeatureSpec(2, 1, 4), min_df=2, dense_names=DENSE_NAMES)
    return fit_linear(fit, texts, [head], dense=dense, cache=cache)


def it_rows(root: Path, exclude: Collection[str] = frozenset()) -> list[tuple[int, str]]:
    """Italian sentiment training rows: XLM-T train plus SENTIPOLC, minus anything in `exclude`."""
    merged: dict[str, tuple[int, str]] = {}
    for label, text in datasets.sentipolc(root) + datasets.xlmt_italian(root, "train"):
        key = dedup_key(text)
        if key and key not in exclude:
            merged[key] = (label, text)
    return [merged[key] for key in sorted(merged)]


def fit_italian(rows: Sequence[tuple[int, str]]) -> LinearModel:
    """The Italian sentiment model: word and character n-grams."""
    head = HeadData("sentiment", datasets.SENTIMENT_LABELS, np.array([label for label, _ in rows]), c=4.0, balanced=True)
    fit = FitSpec("it", FeatureSpec(2, 1, 4), min_df=2)
    return fit_linear(fit, [text for _, text in rows], [head])


def italian_dev_keys(root: Path) -> set[str]:
    """Keys of the Italian dev tweets, kept out of training so the eval figure stays honest."""
    return {dedup_key(text) for _, text in datasets.xlmt_italian(root, "val")}


def train_all(root: Path, out_dir: Path | None = None, corrections: Path | None = None) -> list[Path]:
    """Train the three shipped models; write them into the packages, or all into `out_dir`."""
    extra = datasets.corrections(corrections) if corrections is not None else []
    examples = triage_examples(root, extra)
    triage_model = fit_triage(examples)
    triage_model.meta.update(
        datasets={k: v for k, v in LICENSES.items() if k not in ("italian/xlmt_italian_train.tsv", "italian/sentipolc2016_train.csv") and (k != "corrections" or extra)},
        examples=len(examples),
    )
    en_model = fit_english(en_rows(root))
    en_model.meta.update(datasets={"sentiment/tweeteval_sentiment_val.tsv": LICENSES["sentiment/tweeteval_sentiment_val.tsv"], "vaderSentiment lexicon": "MIT"})
    it_model = fit_italian(it_rows(root, italian_dev_keys(root)))
    it_model.meta.update(
        datasets={k: LICENSES[k] for k in ("italian/xlmt_italian_train.tsv", "italian/sentipolc2016_train.csv")}
    )
    targets = {
        "triage": TRIAGE_MODEL_PATH if out_dir is None else out_dir / "triage.json.gz",
        "en": SENTIMENT_MODELS_DIR / "en.json.gz" if out_dir is None else out_dir / "en.json.gz",
        "it": SENTIMENT_MODELS_DIR / "it.json.gz" if out_dir is None else out_dir / "it.json.gz",
    }
    for name, model in (("triage", triage_model), ("en", en_model), ("it", it_model)):
        model.save(targets[name])
        logger.info("wrote %s", targets[name])
    return list(targets.values())
