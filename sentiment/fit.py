"""Offline fitting of a `LinearModel` with scikit-learn (training extra only; never imported at run time)."""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sentiment.features import FeatureSpec, extract, normalize
from sentiment.linear import Head, LinearModel


@dataclass(frozen=True, slots=True)
class HeadData:
    """Training targets of one head: a label index per text, -1 where the text is not labelled for it.

    `labels` of length one make a regression head (`y` then holds floats, NaN where unlabelled).
    `dense=False` trains the head on n-grams only; `stack` names earlier heads whose raw scores
    become extra dense inputs of this head. `offset_folds` (softmax heads) adds per-label logit
    offsets chosen for macro-recall by a cross-validation of this head on its own training rows.
    """

    name: str
    labels: tuple[str, ...]
    y: np.ndarray
    c: float = 1.0
    balanced: bool = False
    weights: np.ndarray | None = None
    dense: bool = True
    stack: tuple[str, ...] = ()
    class_weights: tuple[float, ...] | None = None
    offset_folds: int = 0

    def mask(self) -> np.ndarray:
        if len(self.labels) == 1:
            return ~np.isnan(self.y)
        return self.y >= 0


@dataclass(slots=True)
class FitSpec:
    """Everything `fit_linear` needs besides the data."""

    name: str
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    min_df: int = 2
    max_features: int | None = None
    dense_names: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


class FeatureCache:
    """Features of texts under global ids, computed once; cross-validation refits reuse them."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self._rows: dict[tuple[FeatureSpec, str], tuple[np.ndarray, np.ndarray]] = {}

    def row(self, text: str, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
        """Sorted global ids of the features of `text` (raw; normalized here) and their counts."""
        key = (spec, text)
        hit = self._rows.get(key)
        if hit is None:
            ids = self.ids
            found = []
            for feature, count in extract(normalize(text), spec).items():
                fid = ids.get(feature)
                if fid is None:
                    fid = ids[feature] = len(self.names)
                    self.names.append(feature)
                found.append((fid, count))
            found.sort()
            hit = self._rows[key] = (
                np.array([fid for fid, _ in found], dtype=np.int64),
                np.array([count for _, count in found], dtype=np.float64),
            )
        return hit


def tfidf(
    texts: Sequence[str], spec: FeatureSpec, min_df: int, max_features: int | None, cache: FeatureCache | None = None
) -> tuple[Any, list[str], np.ndarray]:
    """Tf-idf rows (smooth idf) of `texts`: (csr matrix, vocabulary in column order, idf).

    A text's value for feature f is count_f * idf_f / sqrt(sum over its features g of count_g * idf_g²),
    with counts from `extract` (the number of distinct tokens a feature occurs in): the form
    `LinearModel` computes by summing matrix rows [idf², idf·w]. It is the L2-normalized binary
    tf-idf whenever no character n-gram occurs in two different tokens. The vocabulary is the features in
    at least `min_df` texts, the `max_features` most frequent (ties by name), in name order; the
    same texts always give the same matrix.
    """
    import scipy.sparse as sp

    cache = cache if cache is not None else FeatureCache()
    pairs = [cache.row(text, spec) for text in texts]
    rows = [ids for ids, _ in pairs]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    counts = np.concatenate([c for _, c in pairs]) if pairs else np.zeros(0)
    df = np.bincount(indices, minlength=len(cache.names))
    candidates = np.flatnonzero(df >= min_df)
    names = cache.names
    if max_features is not None and len(candidates) > max_features:
        ranked = sorted(candidates.tolist(), key=lambda i: (-int(df[i]), names[i]))
        candidates = np.array(ranked[:max_features], dtype=np.int64)
    vocab = sorted(names[i] for i in candidates.tolist())
    column = np.full(len(names), -1, dtype=np.int64)
    column[[cache.ids[f] for f in vocab]] = np.arange(len(vocab))
    mapped = column[indices]
    keep = mapped >= 0
    row_of = np.repeat(np.arange(len(texts)), lengths)[keep]
    idf = np.log((1.0 + len(texts)) / (1.0 + df[[cache.ids[f] for f in vocab]].astype(np.float64))) + 1.0
    columns = mapped[keep]
    # Entries in (row, column) order: feature ids follow set iteration order, which changes from one
    # process to the next (string hashing), and the solver's sums must not.
    order = np.lexsort((columns, row_of))
    row_of, columns, kept_counts = row_of[order], columns[order], counts[keep][order]
    kept_idf = idf[columns]
    matrix = sp.csr_matrix((kept_counts * kept_idf, (row_of, columns)), shape=(len(texts), len(vocab)))
    norms = np.sqrt(np.bincount(row_of, weights=kept_counts * kept_idf**2, minlength=len(texts)))
    norms[norms == 0] = 1.0
    matrix = sp.diags(1.0 / norms) @ matrix
    return matrix.tocsr(), vocab, idf


def _balanced(y: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Sample weights times class weights that give every class the same total weight."""
    totals = np.array([weights[y == c].sum() for c in range(n_classes)])
    factors = np.where(totals > 0, weights.sum() / (n_classes * np.maximum(totals, 1e-12)), 0.0)
    return weights * factors[y]


OFFSET_GRID = tuple(round(0.1 * i, 1) for i in range(-10, 11))


def recall_offsets(design: Any, y: np.ndarray, weights: np.ndarray, c: float, k: int) -> np.ndarray:
    """Per-label logit offsets (the first label's 0) that maximize macro-recall over a k-fold CV.

    Each fold's logistic regression is fitted on the other folds only (the same design, C and
    sample weights), so the offsets are chosen on predictions for texts the model did not see;
    ties go to the offsets nearest zero. Folds are stratified and seeded, so the choice is
    reproducible.
    """
    from sklearn.linear_model import LogisticRegression

    n_labels = int(y.max()) + 1
    if n_labels < 3:
        raise ValueError("offsets are for softmax heads of three or more labels")
    rng = np.random.default_rng(0)
    fold = np.zeros(len(y), dtype=int)
    for label in range(n_labels):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        fold[idx] = np.arange(len(idx)) % k
    logits = np.zeros((len(y), n_labels))
    for f in range(k):
        test = fold == f
        model = LogisticRegression(C=c, max_iter=5000)
        model.fit(design[~test], y[~test], sample_weight=weights[~test])
        logits[test] = model.decision_function(design[test])
    best_key: tuple[float, float] | None = None
    best = np.zeros(n_labels)
    for combo in itertools.product(OFFSET_GRID, repeat=n_labels - 1):
        offsets = np.array((0.0, *combo))
        pred = (logits + offsets).argmax(axis=1)
        recall = float(np.mean([np.mean(pred[y == label] == label) for label in range(n_labels)]))
        key = (round(recall, 9), -float(np.abs(offsets).sum()))
        if best_key is None or key > best_key:
            best_key, best = key, offsets
    return best


def fit_linear(
    fit: FitSpec,
    texts: Sequence[str],
    heads: Sequence[HeadData],
    weights: Sequence[float] | None = None,
    dense: np.ndarray | None = None,
    cache: FeatureCache | None = None,
) -> LinearModel:
    """Fit one vocabulary on all texts and one linear model per head; export as a LinearModel.

    Classification heads are logistic regressions (class weights balanced over the weighted
    samples when asked); regression heads are ridge regressions with alpha = 1 / c. `cache`
    memoizes the features of each text, for cross-validation that refits on overlapping data.
    """
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression, Ridge

    sparse, vocab_order, idf = tfidf(texts, fit.spec, fit.min_df, fit.max_features, cache)
    n_sparse = sparse.shape[1]
    n_dense = len(fit.dense_names)
    if n_dense:
        assert dense is not None and dense.shape == (len(texts), n_dense)
        dense_part = np.asarray(dense, dtype=np.float64)
    else:
        dense_part = np.zeros((len(texts), 0))
    sample_weight = np.ones(len(texts)) if weights is None else np.asarray(weights, dtype=np.float64)

    stack_index: dict[str, list[int]] = {}
    stack_columns: list[int] = []
    n_outputs = 0
    for head in heads:
        for name in head.stack:
            if name not in stack_index:
                raise ValueError(f"head {head.name}: stacked head {name} must come earlier")
            stack_columns.extend(c for c in stack_index[name] if c not in stack_columns)
        width = 1 if len(head.labels) <= 2 else len(head.labels)
        stack_index[head.name] = list(range(n_outputs, n_outputs + width))
        n_outputs += width
    sparse_w = np.zeros((n_sparse, n_outputs))
    dense_w = np.zeros((n_dense + len(stack_columns), n_outputs))
    biases = np.zeros(n_outputs)
    raw_base = np.zeros((len(texts), n_outputs))  # sparse part + bias of every column, for stacking
    out_heads: list[Head] = []
    start = 0
    for head in heads:
        mask = head.mask()
        blocks = [sparse]
        if head.dense and n_dense:
            blocks.append(sp.csr_matrix(dense_part))
        stacked = [stack_columns.index(c) for name in head.stack for c in stack_index[name]]
        if stacked:
            blocks.append(sp.csr_matrix(raw_base[:, [stack_columns[i] for i in stacked]]))
        design = sp.hstack(blocks).tocsr() if len(blocks) > 1 else sparse
        head_weight = sample_weight if head.weights is None else sample_weight * head.weights
        if len(head.labels) == 1:
            model = Ridge(alpha=1.0 / head.c, solver="auto")
            model.fit(design[mask], head.y[mask], sample_weight=head_weight[mask])
            coef = np.atleast_2d(model.coef_)
            intercept = np.atleast_1d(model.intercept_)
        else:
            y = head.y.astype(int)
            w = head_weight[mask]
            if head.balanced:
                w = _balanced(y[mask], w, len(head.labels))
            if head.class_weights is not None:
                w = w * np.asarray(head.class_weights, dtype=np.float64)[y[mask]]
            model = LogisticRegression(C=head.c, max_iter=5000)
            model.fit(design[mask], y[mask], sample_weight=w)
            if list(model.classes_) != list(range(len(head.labels))):
                raise ValueError(f"head {head.name}: every label needs training examples")
            coef, intercept = model.coef_, model.intercept_
            if head.offset_folds:
                intercept = intercept + recall_offsets(design[mask], y[mask], w, head.c, head.offset_folds)
        stop = start + coef.shape[0]
        sparse_w[:, start:stop] = coef[:, :n_sparse].T
        at = n_sparse
        if head.dense and n_dense:
            dense_w[:n_dense, start:stop] = coef[:, at : at + n_dense].T
            at += n_dense
        for i in stacked:
            dense_w[n_dense + i, start:stop] = coef[:, at]
            at += 1
        biases[start:stop] = intercept
        raw_base[:, start:stop] = sparse @ coef[:, :n_sparse].T + intercept
        out_heads.append(Head(head.name, head.labels, start, stop))
        start = stop

    matrix = np.hstack([(idf**2)[:, None], idf[:, None] * sparse_w]).astype(np.float32)
    return LinearModel(
        name=fit.name,
        spec=fit.spec,
        heads=tuple(out_heads),
        vocab={feature: i for i, feature in enumerate(vocab_order)},
        matrix=matrix,
        bias=biases.astype(np.float32),
        dense_names=fit.dense_names,
        dense_weights=dense_w.astype(np.float32),
        meta=dict(fit.meta),
        stack=tuple(stack_columns),
    )
