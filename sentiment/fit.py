"""Offline fitting of a `LinearModel` with scikit-learn (training extra only; never imported at run time)."""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentiment.features import FeatureSpec, extract, normalize
from sentiment.linear import Head, LinearModel


@dataclass(frozen=True, slots=True)
class HeadData:
    """Training targets of one head: a label index per text, -1 where the text is not labelled for it."""

    name: str
    labels: tuple[str, ...]
    y: np.ndarray
    c: float = 1.0
    balanced: bool = False
    weights: np.ndarray | None = None


@dataclass(slots=True)
class FitSpec:
    """Everything `fit_linear` needs besides the data."""

    name: str
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    min_df: int = 2
    max_features: int | None = None
    dense_names: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def _analyzer(spec: FeatureSpec, cache: dict[str, tuple[str, ...]] | None):
    def analyze(text: str) -> tuple[str, ...]:
        if cache is None:
            return tuple(sorted(extract(normalize(text), spec)))
        hit = cache.get(text)
        if hit is None:
            hit = cache[text] = tuple(sorted(sys.intern(f) for f in extract(normalize(text), spec)))
        return hit

    return analyze


def fit_linear(
    fit: FitSpec,
    texts: Sequence[str],
    heads: Sequence[HeadData],
    weights: Sequence[float] | None = None,
    dense: np.ndarray | None = None,
    cache: dict[str, tuple[str, ...]] | None = None,
) -> LinearModel:
    """Fit one vocabulary on all texts and one logistic regression per head; export as a LinearModel.

    `cache` memoizes the features of each text, for cross-validation that refits on overlapping data.
    """
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        analyzer=_analyzer(fit.spec, cache),
        binary=True,
        min_df=fit.min_df,
        max_features=fit.max_features,
        dtype=np.float64,
    )
    sparse = vectorizer.fit_transform(texts)
    vocabulary: Mapping[str, int] = vectorizer.vocabulary_
    idf = vectorizer.idf_
    n_dense = len(fit.dense_names)
    if n_dense:
        assert dense is not None and dense.shape == (len(texts), n_dense)
        design = sp.hstack([sparse, sp.csr_matrix(dense)]).tocsr()
    else:
        design = sparse.tocsr()
    sample_weight = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=np.float64)

    columns: list[np.ndarray] = []
    biases: list[float] = []
    out_heads: list[Head] = []
    start = 0
    for head in heads:
        mask = head.y >= 0
        model = LogisticRegression(
            C=head.c,
            max_iter=5000,
            class_weight="balanced" if head.balanced else None,
        )
        head_weight = sample_weight if head.weights is None else sample_weight * head.weights
        model.fit(design[mask], head.y[mask], sample_weight=head_weight[mask])
        if list(model.classes_) != list(range(len(head.labels))):
            raise ValueError(f"head {head.name}: every label needs training examples")
        coef = model.coef_
        columns.extend(coef)
        biases.extend(float(b) for b in model.intercept_)
        stop = start + coef.shape[0]
        out_heads.append(Head(head.name, head.labels, start, stop))
        start = stop

    weight_matrix = np.vstack(columns).T  # (features + dense, outputs)
    n_sparse = sparse.shape[1]
    sparse_weights = weight_matrix[:n_sparse]
    matrix = np.hstack([(idf**2)[:, None], idf[:, None] * sparse_weights]).astype(np.float32)
    order = sorted(vocabulary, key=vocabulary.__getitem__)
    return LinearModel(
        name=fit.name,
        spec=fit.spec,
        heads=tuple(out_heads),
        vocab={feature: i for i, feature in enumerate(order)},
        matrix=matrix,
        bias=np.array(biases, dtype=np.float32),
        dense_names=fit.dense_names,
        dense_weights=weight_matrix[n_sparse:].astype(np.float32).reshape(n_dense, weight_matrix.shape[1]),
        meta=dict(fit.meta),
    )
