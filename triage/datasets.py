"""Readers for the training and dev data in `../shared/data` and for agents' stored corrections."""
from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "SOCIAL_CARE_DATA_DIR"
SENTIMENT_LABELS = ("negative", "neutral", "positive")


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the argument, else $SOCIAL_CARE_DATA_DIR, else ../shared/data from the repo root."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Labelled:
    """A text with the triage labels it has (None where a source says nothing)."""

    text: str
    source: str
    queue: str | None = None
    complaint: int | None = None
    angry: int | None = None
    urgent: int | None = None


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        yield from csv.DictReader(handle)


def _tsv(path: Path) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        next(handle)
        for line in handle:
            label, _, text = line.rstrip("\r\n").partition("\t")
            rows.append((int(label), text))
    return rows


def care_dev(root: Path) -> list[Labelled]:
    """The hand-labelled queue / complaint / angry / urgent set (labeled/care_dev.jsonl)."""
    out = []
    with (root / "labeled" / "care_dev.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            out.append(
                Labelled(row["text"], "care_dev", row["queue"], row["complaint"], row["angry"], row["urgent"])
            )
    return out


def complaints(root: Path) -> list[tuple[str, int, str]]:
    """(text, complaint 0/1, domain) rows of complaints/complaints_dev.csv."""
    return [
        (r["text"], int(r["complaint"]), r["domain"])
        for r in _csv_rows(root / "complaints" / "complaints_dev.csv")
    ]


def airline(root: Path) -> list[tuple[str, str, str]]:
    """(text, sentiment, negative reason) rows of the US airline tweets (CC BY-NC-SA)."""
    return [
        (r["text"], r["airline_sentiment"], r["negativereason"])
        for r in _csv_rows(root / "sentiment" / "airline_tweets.csv")
    ]


def sms_spam(root: Path) -> list[tuple[str, str]]:
    """(label, text) rows of the SMS spam collection."""
    rows = []
    with (root / "spam" / "sms_spam.tsv").open(encoding="utf-8", errors="replace") as handle:
        next(handle)
        for line in handle:
            label, _, text = line.rstrip("\r\n").partition("\t")
            rows.append((label, text))
    return rows


def bitext(root: Path) -> list[tuple[str, str]]:
    """(utterance, intent) rows of the Bitext customer-service sample."""
    return [(r["utterance"], r["intent"]) for r in _csv_rows(root / "intents" / "bitext_8k_customer_service.csv")]


def tweeteval_sentiment(root: Path) -> list[tuple[int, str]]:
    """(0 negative / 1 neutral / 2 positive, text) rows of the TweetEval sentiment validation split."""
    return _tsv(root / "sentiment" / "tweeteval_sentiment_val.tsv")


def vader_ground_truth(root: Path) -> list[tuple[float, str]]:
    """(mean human rating -4..4, text) rows of VADER's tweet ground truth."""
    rows = []
    path = root / "sentiment" / "vader_tweets_GroundTruth.txt"
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) >= 3:
                rows.append((float(parts[1]), parts[2]))
    return rows


def tweeteval_emotion(root: Path, split: str = "train") -> list[tuple[int, str]]:
    """(0 anger / 1 joy / 2 optimism / 3 sadness, text) rows of a TweetEval emotion split."""
    return _tsv(root / "emotion" / f"tweeteval_emotion_{split}.tsv")


def xlmt_italian(root: Path, split: str) -> list[tuple[int, str]]:
    """(0/1/2, text) rows of the XLM-T Italian split `train` or `val`."""
    return _tsv(root / "italian" / f"xlmt_italian_{split}.tsv")


def sentipolc(root: Path) -> list[tuple[int, str]]:
    """(0 negative / 1 neutral / 2 positive, text) from SENTIPOLC 2016; mixed-polarity tweets dropped."""
    out = []
    for r in _csv_rows(root / "italian" / "sentipolc2016_train.csv"):
        pos, neg = int(r["opos"]), int(r["oneg"])
        if pos and neg:
            continue
        out.append((2 if pos else 0 if neg else 1, r["text"]))
    return out


_KEY_STRIP_RE = re.compile(r"@\w+|https?://\S+|\W+")


def dedup_key(text: str) -> str:
    """A key under which retweets and copies of a tweet collide (mentions, links and punctuation ignored)."""
    return _KEY_STRIP_RE.sub("", text.lower())[:80]


def corrections(path: Path) -> list[Labelled]:
    """Agents' corrections, JSON lines {text, queue?, complaint?, angry?, urgent?}; bad lines are errors."""
    out = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = row["text"]
                if not isinstance(text, str):
                    raise TypeError("text must be a string")
                queue = row.get("queue")
                if queue is not None and queue not in ("support", "marketing", "other"):
                    raise ValueError(f"unknown queue {queue!r}")
                flags = {k: (None if row.get(k) is None else int(bool(row[k]))) for k in ("complaint", "angry", "urgent")}
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{number}: {err}") from err
            out.append(Labelled(text, "correction", queue, **flags))
    return out
