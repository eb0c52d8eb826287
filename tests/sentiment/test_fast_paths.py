"""The fast run-time paths give exactly what the plain definitions give."""
from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from sentiment.features import FeatureIndex, FeatureSpec, extract, normalize
from sentiment.linear import Head, LinearModel, ModelSet
from sentiment.phrases import PhraseSet, anchor, phrase_list, text_keys
from tests.support import real_parts

TEXTS = [
    "@united my bag is STILL missing!!! 3 hours at the gate, worst airline ever http://t.co/x",
    "Il mio ordine non è mai arrivato, servizio pessimo. Rimborso?",
    "not bad but " * 50,
    "x" * 5000,
    "😡" * 40 + " angry 😂🙏",
    "a\ud800b c\x00d \t\n e",
    "",
    "   ",
    "ab cd ab cd ab",
    "supercalifragilisticexpialidocious" * 3 + " ok",
    "can't won't l'altro dell'anno #tag @user 12345 ...!!!",
]


def _vocab(spec: FeatureSpec) -> dict[str, int]:
    features = sorted(set().union(*(extract(normalize(t), spec) for t in TEXTS[:-2])))
    # keep two thirds, so that some features of the texts are out of vocabulary
    return {f: i for i, f in enumerate(f for k, f in enumerate(features) if k % 3)}


def test_features_count_the_distinct_tokens_a_feature_occurs_in():
    counts = extract(normalize("the cat, the cat THE hat"), FeatureSpec(2, 1, 2))
    assert counts["w the"] == 1  # the token "the" three times
    assert counts["at"] == 2  # in "cat" and "hat"
    assert counts["t"] == 3  # in "the", "cat" and "hat"
    assert counts[" ,"] == 1 and "t," not in counts  # n-grams stay inside a token
    assert counts["b the cat"] == 1  # a repeated bigram counts once
    assert counts["b , the"] == 1
    assert extract(normalize("no no no no"), FeatureSpec(2, 1, 4)) == extract(normalize("no no"), FeatureSpec(2, 1, 4))


@pytest.mark.parametrize("spec", [FeatureSpec(2, 1, 4), FeatureSpec(1, 2, 3), FeatureSpec(2, 0, -1)])
def test_feature_index_finds_exactly_the_vocabulary_features_of_a_text(spec):
    vocab = _vocab(spec)
    index = FeatureIndex(vocab, spec)
    assert index.known or spec.word_max == 0
    for text in TEXTS + [" ".join(TEXTS)]:
        normalized = normalize(text)
        expected = sorted(vocab[f] for f, count in extract(normalized, spec).items() if f in vocab for _ in range(count))
        assert index.members(index.rows(normalized)).tolist() == expected, text[:40]


def test_expanded_rows_sum_to_the_rows_they_stand_for():
    spec = FeatureSpec(2, 1, 4)
    vocab = _vocab(spec)
    index = FeatureIndex(vocab, spec)
    matrix = np.random.default_rng(1).random((len(vocab), 3)).astype(np.float32)
    expanded = index.expand(matrix)
    for text in TEXTS:
        rows = index.rows(normalize(text))
        direct = matrix[index.members(rows)].sum(axis=0, dtype=np.float64)
        assert expanded[rows].sum(axis=0) == pytest.approx(direct, rel=1e-9, abs=1e-9)


def test_training_features_are_what_a_saved_model_scores():
    real_parts.require(importlib.util.find_spec("sklearn") is not None, "scikit-learn (pip install -e '.[train]')")
    from sentiment.fit import FitSpec, HeadData, fit_linear, tfidf

    texts = [t for t in TEXTS if t.strip()] * 2
    spec = FeatureSpec(2, 1, 4)
    y = np.array([i % 2 for i in range(len(texts))])
    model = fit_linear(FitSpec("toy", spec, min_df=2), texts, [HeadData("h", ("0", "1"), y)])
    sparse, _, _ = tfidf(texts, spec, 2, None)
    for i, text in enumerate(texts):
        expected = sparse[i] @ (model.matrix[:, 1:] / model.matrix[:, :1] ** 0.5) + model.bias
        assert model.logits(normalize(text)) == pytest.approx(np.asarray(expected).ravel(), rel=1e-3, abs=1e-3)


def test_a_model_set_scores_like_its_models_one_by_one():
    spec = FeatureSpec(2, 1, 4)
    vocab = _vocab(spec)
    rng = np.random.default_rng(0)
    models = []
    for name, width in (("a", 2), ("b", 4)):
        keep = {f: i for i, f in enumerate(f for k, f in enumerate(vocab) if (k + width) % 4)}
        matrix = rng.random((len(keep), width)).astype(np.float32)
        heads = (Head("h", ("0", "1"), 0, 1),) if width == 2 else (Head("h", ("x", "y", "z"), 0, 3),)
        models.append(LinearModel(name, spec, heads, keep, matrix, rng.random(width - 1).astype(np.float32)))
    both = ModelSet(models)
    for text in TEXTS:
        normalized = normalize(text)
        summed = both.summed(normalized)
        for model in models:
            assert both.logits(model.name, summed) == pytest.approx(model.logits(normalized), rel=1e-5, abs=1e-6)


CUE_PHRASES = [r"charged (?:me )?twice", r"fuck\w*", r"no (?:hotel|bed)", r"rimbors\w+", r"can'?t log ?in", r"wtf", r"è"]


def test_anchors_are_the_literal_start_of_a_phrase():
    assert anchor(r"charged (?:me )?twice") == "cha"
    assert anchor(r"no (?:hotel|bed)") == "no"
    assert anchor(r"crap+y?") == "cra"
    assert anchor(r"can'?t log ?in") == "can"
    for bad in (r"(?:boarding|leaving) now", r"f+u+c+k", r"ab\w*"):
        with pytest.raises(ValueError):
            anchor(bad)


def test_phrase_sets_match_exactly_where_their_regex_matches():
    phrases = [p for p in CUE_PHRASES if p != r"è"]
    lists = [phrase_list(f"cue{i}", [p]) for i, p in enumerate(phrases)] + [phrase_list("all", phrases)]
    cues = PhraseSet(lists)
    samples = TEXTS + [
        "They CHARGED me TWICE", "chargedtwice", "no hotel tonight", "nohotel", "FUCKING hell", "un rimborso",
        "I can't login", "cant log in!", "wtf?", "xwtf", "no bed", "No Hotel",
    ]
    for text in samples:
        expected = tuple(item.name for item in lists if item.pattern.search(text))
        assert cues.matches(text) == expected, text
        assert cues.matches(text, text_keys(text)) == expected
        counts = tuple(len(item.pattern.findall(text)) for item in lists)
        assert cues.counts(text) == counts


def test_phrase_patterns_are_whole_word_and_case_insensitive():
    (item,) = PhraseSet([phrase_list("x", [r"scam+"])]).lists
    assert item.pattern.search("What a SCAMMM")
    assert not item.pattern.search("scampi")
    assert isinstance(item.pattern, re.Pattern)


def test_vader_fast_path_scores_exactly_like_vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from sentiment.vader import polarity_scores

    plain = SentimentIntensityAnalyzer()
    samples = TEXTS + [
        "😡", "😡😡 so angry", "a😡b 😡 😡😡 c", " 😂 ", "great 😂🙏!", "©2020 ® ok", "kind of good", "It was KIND OF bad",
        "not great, but the staff were AMAZING!!!", "no problem at all", "I don't really love it :)", "never ever again :(",
        "the best at least", "Bravo è stato è perfetto 👍", "perché😡😡 ©️ ok", "naïve 👍🏽", "\u00a0😍\u00a0", "😂" * 12,
    ]
    for text in samples:
        assert polarity_scores(text) == plain.polarity_scores(text), text[:40]


def test_feature_index_refuses_character_ngrams_it_would_not_cut():
    with pytest.raises(ValueError, match="longer than 4"):
        FeatureIndex({"abcde": 0}, FeatureSpec(2, 1, 5))


def _compiled_index(spec: FeatureSpec) -> FeatureIndex:
    index = FeatureIndex(_vocab(spec), spec)
    real_parts.require(index.compiled, "the compiled n-gram look-up (pip install -e . builds sentiment/_ngram_index.c)")
    return index


@pytest.mark.parametrize("spec", [FeatureSpec(2, 1, 4), FeatureSpec(1, 2, 3), FeatureSpec(2, 0, -1)])
def test_the_compiled_lookup_finds_the_rows_of_the_python_lookup(spec):
    index = _compiled_index(spec)
    odd = ["@@user ##tag @ #", "'tis l'' ''", "İstanbul ſ ß ﬁ", "a\u0301 e\u0301\u0301", "١٢٣ x_y", "\u2028\u00a0 \x0b x"]
    for text in TEXTS + odd + [" ".join(TEXTS)]:
        for form in (text, normalize(text)):
            assert sorted(index.rows(form)) == sorted(index.python_rows(form)), form[:40]


def test_the_compiled_lookup_matches_python_on_every_text_of_the_data():
    from sentiment.analyzer import clean
    from triage import datasets
    from triage.triager import Triager

    root = datasets.data_dir()
    real_parts.require(root.is_dir(), f"the datasets in {root}")
    index = Triager()._scorer.models.index
    real_parts.require(index.compiled, "the compiled n-gram look-up (pip install -e . builds sentiment/_ngram_index.c)")
    texts = [row.text for row in datasets.care_dev(root)] + [text for _, text in datasets.tweeteval_sentiment(root)]
    texts += [text for text, _, _ in datasets.complaints(root)] + [text for _, text in datasets.xlmt_italian(root, "val")]
    texts += [text for text, _, _ in datasets.airline(root)]
    for text in texts:
        normalized = clean(text, None)
        assert sorted(index.rows(normalized)) == sorted(index.python_rows(normalized)), text[:60]


def test_the_compiled_lookup_refuses_bad_tables():
    from sentiment.features import NgramIndex

    real_parts.require(NgramIndex is not None, "the compiled n-gram look-up (pip install -e . builds sentiment/_ngram_index.c)")
    with pytest.raises(TypeError):
        NgramIndex({1: 2}, {}, {}, 1, 4, 2, 40)
    with pytest.raises(ValueError):
        NgramIndex({}, {}, {}, 1, 4, 2, 1000)
    with pytest.raises(TypeError):
        NgramIndex({}, {}, {}, 1, 4, 2, 40).rows(b"bytes")
    with pytest.raises(RuntimeError):
        NgramIndex.__new__(NgramIndex).rows("never initialized")
    index = NgramIndex({"a": 0}, {}, {}, 1, 4, 2, 40)
    with pytest.raises(IndexError):
        index.sum("a", np.zeros((0, 2)), np.zeros(2))
    with pytest.raises(ValueError):
        index.sum("a", np.zeros((3, 2), dtype=np.float32), np.zeros(2))


def test_summed_rows_are_the_same_with_and_without_the_compiled_lookup():
    index = _compiled_index(FeatureSpec(2, 1, 4))
    matrix = index.expand(np.random.default_rng(2).random((index.size, 3)).astype(np.float32))
    compiled = [index.summed_rows(normalize(text), matrix) for text in TEXTS]
    index._compiled = None
    for text, expected in zip(TEXTS, compiled):
        assert index.summed_rows(normalize(text), matrix) == pytest.approx(expected, rel=1e-12, abs=1e-12)
