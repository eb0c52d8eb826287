"""Offline training of the shipped models (`social-care triage train`); needs the `training` extra.

Reproducible: inputs are de-duplicated and sorted, the solver is deterministic, and models are
written with fixed float precision into gzip files without timestamps, so the same data gives the
same bytes.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sentiment.analyzer import MODELS_DIR as SENTIMENT_MODELS_DIR
from sentiment.features import FeatureSpec
from sentiment.fit import FeatureCache, FitSpec, HeadData, fit_linear
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
TRIAGE_C = {"complaint": 8.0, "queue": 8.0, "angry": 1.0, "urgent": 1.0}
"""Inverse regularization per head; the complaint head's is chosen by cross-validation (COMPLAINT_C_GRID)."""
BALANCED = {"complaint": True, "queue": False, "angry": True, "urgent": True}
"""Heads whose classes are weighted to equal total weight (so a 0.5 threshold balances the errors)."""
COMPLAINT_C_GRID = (4.0, 8.0, 16.0)
INBOX_SOURCES = frozenset({"care_dev", "correction"})
BITEXT_MARKETING = frozenset({"newsletter_subscription", "review", "place_order", "delivery_options", "check_payment_methods"})
"""Bitext intents that ask for no fix: feedback, the newsletter, and questions before buying (a sales
lead, per the labelling guideline); every other intent is about something the customer already has."""
COMPLAINT_INNER_FOLDS = 3
TRIAGE_SPEC = FeatureSpec(word_max=2, char_min=1, char_max=4)
MAX_FEATURES = 60_000
LICENSES = {
    "labeled/care_dev.jsonl": "as its source tweets (airline: CC BY-NC-SA 4.0; complaints: no license, academic)",
    "complaints/complaints_dev.csv": "no license stated; academic",
    "sentiment/airline_tweets.csv": "CC BY-NC-SA 4.0",
    "spam/sms_spam.tsv": "CC BY 4.0",
    "sentiment/tweeteval_sentiment_val.tsv": "research; Twitter terms",
    "sentiment/vader_tweets_GroundTruth.txt": "MIT (vaderSentiment)",
    "emotion/tweeteval_emotion_train.tsv": "research; Twitter terms",
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
        queue = "marketing" if intent in BITEXT_MARKETING else "support"
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
    cache: FeatureCache | None = None,
    c: Mapping[str, float] | None = None,
) -> LinearModel:
    """Fit the triage model's heads on merged examples; `c` overrides TRIAGE_C per head."""
    costs = {**TRIAGE_C, **(c or {})}
    head_data = []
    for name in heads:
        multipliers = HEAD_SOURCE_WEIGHTS.get(name, {})
        head_weights = np.array([multipliers.get(e.item.source, 1.0) for e in examples])
        if name == "queue":
            y = np.array([-1 if e.item.queue is None else QUEUES.index(e.item.queue) for e in examples])
            weights = np.array([e.weight for e in examples]) * head_weights
            head_data.append(
                HeadData(
                    "queue", QUEUES, y, c=costs["queue"], weights=head_weights, balanced=BALANCED["queue"],
                    class_weights=queue_prior_weights(examples, y, weights),
                )
            )
        else:
            head_data.append(
                HeadData(name, ("0", "1"), _binary(examples, name), c=costs[name], balanced=BALANCED[name], weights=head_weights)
            )
    fit = FitSpec("triage", TRIAGE_SPEC, min_df=2, max_features=MAX_FEATURES)
    return fit_linear(fit, [e.item.text for e in examples], head_data, weights=[e.weight for e in examples], cache=cache)


def queue_prior_weights(examples: Sequence[Example], y: np.ndarray, weights: np.ndarray) -> tuple[float, ...] | None:
    """Class weights that give the queue head the queue mix of the hand-labelled inbound messages.

    Most queue labels come from other corpora (airline tweets, Bitext, spam, random tweets) whose
    mix of support / marketing / other differs from a brand's inbox; weighting each class by
    (share among care_dev and corrections) / (weighted share among all training texts) corrects the
    prior (label shift) while every corpus still teaches the wording. None without labelled inbox data.
    """
    inbox = np.array([e.item.source in INBOX_SOURCES for e in examples]) & (y >= 0)
    if inbox.sum() < 30:
        return None
    target = np.bincount(y[inbox], minlength=len(QUEUES)).astype(np.float64)
    labelled = y >= 0
    train_share = np.bincount(y[labelled], weights=weights[labelled], minlength=len(QUEUES))
    if np.any(target == 0) or np.any(train_share == 0):
        return None
    factors = (target / target.sum()) / (train_share / train_share.sum())
    return tuple(float(f) for f in factors)


def choose_complaint_c(
    examples: Sequence[Example],
    rows: Sequence[tuple[str, int]],
    k: int = COMPLAINT_INNER_FOLDS,
    grid: Sequence[float] = COMPLAINT_C_GRID,
    cache: FeatureCache | None = None,
) -> float:
    """The complaint head's C with the best macro-F1 in a k-fold CV over `rows` (text, 0/1).

    Each inner fold leaves its texts out of `examples`; ties go to the smaller C. Only the data
    given is used, so inside an outer cross-validation fold the outer test texts stay unseen.
    """
    from sentiment.features import normalize
    from triage.evaluate import folds, macro_f1
    from triage.triager import COMPLAINT_THRESHOLD

    y = [label for _, label in rows]
    preds = {c: np.zeros(len(rows), dtype=int) for c in grid}
    for test in folds(len(rows), y, k):
        exclude = {dedup_key(rows[i][0]) for i in test}
        kept = [e for e in examples if dedup_key(e.item.text) not in exclude]
        for c in grid:
            model = fit_triage(kept, heads=("complaint",), cache=cache, c={"complaint": c})
            for i in test:
                preds[c][i] = int(model.predict(normalize(rows[i][0]))["complaint"][1] >= COMPLAINT_THRESHOLD)
    scores = {c: macro_f1(y, preds[c], (0, 1)) for c in grid}
    best = max(grid, key=lambda c: (scores[c], -c))
    logger.info("complaint C by %d-fold CV: %s -> %s", k, {c: round(v, 4) for c, v in scores.items()}, best)
    return best


def en_rows(root: Path) -> list[tuple[int, str]]:
    """English sentiment training rows (TweetEval validation split)."""
    return sorted(datasets.tweeteval_sentiment(root), key=lambda row: (row[1], row[0]))


@dataclass(frozen=True, slots=True)
class EnglishExtras:
    """Labelled English texts that train the stacked heads of the English sentiment model."""

    ratings: tuple[tuple[float, str], ...]
    """Mean human rating (-4..4) and text: VADER's tweet ground truth."""
    emotion: tuple[tuple[int, str], ...]
    """0 negative (anger, sadness) / 1 positive (joy, optimism) and text: TweetEval emotion train."""


def en_extras(root: Path, exclude: Collection[str] = frozenset()) -> EnglishExtras:
    """The stacked heads' data, sorted, minus texts whose dedup key is in `exclude`; a missing file gives none."""
    ratings_path = root / "sentiment" / "vader_tweets_GroundTruth.txt"
    emotion_path = root / "emotion" / "tweeteval_emotion_train.tsv"
    raw_ratings = datasets.vader_ground_truth(root) if ratings_path.is_file() else []
    raw_emotion = datasets.tweeteval_emotion(root, "train") if emotion_path.is_file() else []
    ratings = sorted((m, t) for m, t in raw_ratings if dedup_key(t) not in exclude)
    emotion = sorted((0 if label in (0, 3) else 1, t) for label, t in raw_emotion if dedup_key(t) not in exclude)
    return EnglishExtras(tuple(ratings), tuple(emotion))


EN_C = {"ratings": 1.0, "emotion": 1.0, "sentiment": 0.3}
EN_OFFSET_FOLDS = 5
"""Folds of the CV, over the sentiment head's own training tweets, that picks its per-label offsets."""


def fit_english(
    rows: Sequence[tuple[int, str]], extras: EnglishExtras, cache: FeatureCache | None = None
) -> LinearModel:
    """The English sentiment model: n-grams, VADER's four scores and two stacked heads.

    `ratings` (ridge regression on the human means of VADER's tweets, scaled to -1..1) and
    `emotion` (negative vs positive TweetEval emotion tweets) learn from their own texts only; their
    scores are inputs of the `sentiment` head, which learns from `rows` alone (class-balanced), with
    per-label offsets picked for macro-recall by a 5-fold CV over `rows` (never other texts).
    """
    texts = [t for _, t in rows] + [t for _, t in extras.ratings] + [t for _, t in extras.emotion]
    n_rows, n_ratings, n_emotion = len(rows), len(extras.ratings), len(extras.emotion)
    y_sent = np.concatenate([[label for label, _ in rows], np.full(n_ratings + n_emotion, -1)]).astype(int)
    y_ratings = np.concatenate(
        [np.full(n_rows, np.nan), [m / 4.0 for m, _ in extras.ratings], np.full(n_emotion, np.nan)]
    )
    y_emotion = np.concatenate([np.full(n_rows + n_ratings, -1), [e for e, _ in extras.emotion]]).astype(int)
    heads = []
    if n_ratings:
        heads.append(HeadData("ratings", ("value",), y_ratings, c=EN_C["ratings"], dense=False))
    if len(set(y_emotion[y_emotion >= 0].tolist())) == 2:
        heads.append(HeadData("emotion", ("negative", "positive"), y_emotion, c=EN_C["emotion"], balanced=True, dense=False))
    stack = tuple(h.name for h in heads)
    heads.append(
        HeadData(
            "sentiment", datasets.SENTIMENT_LABELS, y_sent, c=EN_C["sentiment"], balanced=True, stack=stack,
            offset_folds=EN_OFFSET_FOLDS if n_rows >= 10 * EN_OFFSET_FOLDS else 0,
        )
    )
    dense = np.array([vader_scores(text).dense() for text in texts], dtype=np.float64)
    fit = FitSpec("en", FeatureSpec(2, 1, 4), min_df=2, dense_names=DENSE_NAMES)
    return fit_linear(fit, texts, heads, dense=dense, cache=cache)


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
    complaint_rows = [(text, label) for text, label, _ in datasets.complaints(root)]
    cache = FeatureCache()
    complaint_c = choose_complaint_c(examples, complaint_rows, cache=cache) if len(complaint_rows) >= 30 else TRIAGE_C["complaint"]
    triage_model = fit_triage(examples, cache=cache, c={"complaint": complaint_c})
    triage_model.meta.update(
        datasets={k: v for k, v in LICENSES.items() if k not in ("italian/xlmt_italian_train.tsv", "italian/sentipolc2016_train.csv") and (k != "corrections" or extra)},
        examples=len(examples),
        complaint_c=complaint_c,
    )
    en_model = fit_english(en_rows(root), en_extras(root))
    en_model.meta.update(
        datasets={
            k: LICENSES[k]
            for k in ("sentiment/tweeteval_sentiment_val.tsv", "sentiment/vader_tweets_GroundTruth.txt", "emotion/tweeteval_emotion_train.tsv")
        }
        | {"vaderSentiment lexicon": "MIT"}
    )
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
