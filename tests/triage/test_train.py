"""`social-care triage train`: reproducible bytes, and agents' corrections change the model."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sentiment.features import normalize
from sentiment.linear import LinearModel
from tests.support import real_parts
from triage.cli import main



@pytest.fixture(autouse=True)
def _scikit_learn() -> None:
    """Training needs scikit-learn (the test extra installs it); in CI its absence fails the test."""
    import importlib.util

    real_parts.require(importlib.util.find_spec("sklearn") is not None, "scikit-learn (pip install -e '.[train]')")

SUPPORT = ["my order never arrived", "refund still missing", "app crashes on login", "package lost again", "bag not delivered", "charged twice for one order"]
MARKETING = ["love your new collection", "great ad campaign", "do you sponsor events", "thanks for the lovely flight", "when is the sale", "your shop looks amazing"]
OTHER = ["lol my cat is asleep", "traffic is bad today", "who won the game", "new phone who dis", "pizza tonight", "rainy monday again"]


def _tiny_data(root: Path) -> None:
    for sub in ("labeled", "complaints", "sentiment", "spam", "intents", "italian"):
        (root / sub).mkdir(parents=True)
    with (root / "labeled" / "care_dev.jsonl").open("w") as f:
        for i, text in enumerate(SUPPORT):
            f.write(json.dumps({"id": f"s{i}", "text": text, "queue": "support", "complaint": 1, "angry": i % 2, "urgent": i % 3 == 0}) + "\n")
        for i, text in enumerate(MARKETING + OTHER):
            f.write(json.dumps({"id": f"m{i}", "text": text, "queue": "marketing" if i < 6 else "other", "complaint": 0, "angry": 0, "urgent": 0}) + "\n")
    with (root / "complaints" / "complaints_dev.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "complaint", "domain"])
        for i, text in enumerate(SUPPORT + MARKETING + OTHER):
            w.writerow([i, text + " !", int(i < 6), "random_tweet" if i >= 12 else "apparel"])
    with (root / "sentiment" / "airline_tweets.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["airline_sentiment", "negativereason", "airline", "text"])
        for text in SUPPORT:
            w.writerow(["negative", "Late Flight", "X", "@air " + text])
        for text in MARKETING:
            w.writerow(["positive", "", "X", "@air " + text])
    (root / "spam" / "sms_spam.tsv").write_text("Label\tSMS\n" + "".join(f"spam\tWIN a prize now {i}\n" for i in range(4)))
    with (root / "intents" / "bitext_8k_customer_service.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["flags", "utterance", "category", "intent"])
        for text in SUPPORT:
            w.writerow(["B", "help " + text, "ORDER", "track_order"])
    sentiment = "label\ttext\n" + "".join(
        f"{label}\t{text}\n" for label, texts in ((0, SUPPORT), (2, MARKETING), (1, OTHER)) for text in texts
    )
    (root / "sentiment" / "tweeteval_sentiment_val.tsv").write_text(sentiment)
    ratings = "".join(
        f"{i}\t{score}\t{text} {i}\n" for i, (score, texts) in enumerate(((-2.5, SUPPORT), (2.5, MARKETING), (0.0, OTHER))) for text in texts
    )
    (root / "sentiment" / "vader_tweets_GroundTruth.txt").write_text(ratings)
    (root / "emotion").mkdir()
    emotion = "label\ttext\n" + "".join(f"{label}\t{text}\n" for label, texts in ((0, SUPPORT), (1, MARKETING)) for text in texts)
    (root / "emotion" / "tweeteval_emotion_train.tsv").write_text(emotion)
    italian = "label\ttext\n" + "".join(
        f"{label}\t{text} {i}\n" for i in range(3) for label, text in ((0, "che schifo di servizio"), (1, "oggi piove a roma"), (2, "bellissima giornata grazie"))
    )
    (root / "italian" / "xlmt_italian_train.tsv").write_text(italian)
    (root / "italian" / "xlmt_italian_val.tsv").write_text("label\ttext\n0\tservizio pessimo\n")
    with (root / "italian" / "sentipolc2016_train.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["idtwitter", "subj", "opos", "oneg", "iro", "lpos", "lneg", "top", "text"])
        w.writerow([1, 1, 0, 1, 0, 0, 1, 1, "governo pessimo"])
        w.writerow([2, 1, 1, 0, 0, 1, 0, 1, "governo ottimo"])


def test_training_is_reproducible_and_learns_from_corrections(tmp_path, capsys):
    data = tmp_path / "data"
    _tiny_data(data)
    first, second, corrected = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["train", "--data-dir", str(data), "--out", str(first)]) == 0
    assert main(["train", "--data-dir", str(data), "--out", str(second)]) == 0
    for name in ("triage.json.gz", "en.json.gz", "it.json.gz"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    fixes = tmp_path / "corrections.jsonl"
    fixes.write_text("".join(json.dumps({"text": f"pizza tonight {i}", "queue": "support", "complaint": True}) + "\n" for i in range(3)))
    assert main(["train", "--data-dir", str(data), "--out", str(corrected), "--corrections", str(fixes)]) == 0
    before = LinearModel.load(first / "triage.json.gz").predict(normalize("pizza tonight 1"))
    after = LinearModel.load(corrected / "triage.json.gz").predict(normalize("pizza tonight 1"))
    assert after["queue"][0] > before["queue"][0]
    assert after["complaint"][1] > before["complaint"][1]
    assert "wrote" in capsys.readouterr().out


def test_a_broken_corrections_file_is_refused_with_its_line(tmp_path, capsys):
    data = tmp_path / "data"
    _tiny_data(data)
    fixes = tmp_path / "corrections.jsonl"
    fixes.write_text('{"text": "ok", "queue": "support"}\n{"text": "bad", "queue": "sales"}\n')
    assert main(["train", "--data-dir", str(data), "--out", str(tmp_path / "o"), "--corrections", str(fixes)]) == 2
    assert ":2:" in capsys.readouterr().err
