"""The shipped-model file format: what is saved is what is scored, byte for byte."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from sentiment.features import FeatureSpec, normalize
from sentiment.linear import Head, LinearModel
from tests.support import real_parts


def _model() -> LinearModel:
    vocab = {"w refund": 0, "w thanks": 1, "b no refund": 2}
    matrix = np.array([[4.0, 2.0], [1.0, -3.0], [9.0, 6.0]], dtype=np.float32)
    return LinearModel("toy", FeatureSpec(2, 0, -1), (Head("complaint", ("0", "1"), 0, 1),), vocab, matrix, np.array([-0.5], dtype=np.float32))


def test_scores_follow_the_features_present():
    model = _model()
    complaint = model.predict(normalize("No refund yet"))["complaint"][1]
    thanks = model.predict(normalize("thanks!"))["complaint"][1]
    assert complaint > 0.5 > thanks


def test_save_then_load_gives_same_scores_and_same_bytes(tmp_path):
    model = _model()
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    model.save(first)
    LinearModel.load(first).save(second)
    assert first.read_bytes() == second.read_bytes()
    text = normalize("no refund, thanks")
    assert LinearModel.load(first).logits(text) == pytest.approx(model.logits(text), abs=1e-3)


def test_recall_offsets_come_from_cross_validation_and_are_reproducible():
    real_parts.require(importlib.util.find_spec("sklearn") is not None, "scikit-learn (pip install -e '.[train]')")
    from sentiment.fit import OFFSET_GRID, recall_offsets

    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [30, 120, 60])
    design = rng.normal(size=(len(y), 4)) + np.eye(3, 4)[y] * 0.8
    weights = np.ones(len(y))
    first = recall_offsets(design, y, weights, c=0.05, k=5)
    assert first[0] == 0.0 and all(round(v, 1) in OFFSET_GRID for v in first)
    assert recall_offsets(design, y, weights, c=0.05, k=5).tolist() == first.tolist()
    # with a strong penalty the rare first label is under-predicted; the offsets move toward it
    assert first[1] < 0
    with pytest.raises(ValueError):
        recall_offsets(design[y < 2], y[y < 2], weights[y < 2], c=1.0, k=3)
