"""Linear models over tf-idf n-grams, stored as small gzip JSON files and scored with numpy.

One text is scored in one pass: its features are looked up once (`FeatureIndex`: the vocabulary's
words as precomputed rows, other tokens' n-grams through dicts), the matching rows of the weight
matrix are summed once, and every head's logits follow. A
`ModelSet` does the same for several models at once (the triage model and a sentiment model share
their features), so a message's n-grams are extracted and looked up a single time.

Heads can be *stacked*: a model lists base head columns whose raw scores (sparse part plus bias)
are appended to the dense inputs of its later heads, e.g. the English sentiment head reads the
score of a head trained on the human ratings of VADER's tweets.
"""
from __future__ import annotations

import base64
import gzip
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sentiment.features import FeatureIndex, FeatureSpec

FORMAT = 2


@dataclass(frozen=True, slots=True)
class Head:
    """One prediction target inside a model: its labels and its logit columns.

    One label means a regression head (its column is the predicted value); two labels a binary
    head with one logit column; more a softmax over one column per label.
    """

    name: str
    labels: tuple[str, ...]
    start: int
    stop: int

    @property
    def binary(self) -> bool:
        return self.stop - self.start == 1 and len(self.labels) == 2

    @property
    def regression(self) -> bool:
        return len(self.labels) == 1


@dataclass(slots=True)
class LinearModel:
    """Heads sharing one vocabulary; row r of `matrix` is [idf², idf·w_1 .. idf·w_K] for feature r.

    The dense inputs of the heads are `dense_names` (given by the caller) followed by the raw
    scores of the `stack` columns; `dense_weights` has one row per dense input.
    """

    name: str
    spec: FeatureSpec
    heads: tuple[Head, ...]
    vocab: dict[str, int]
    matrix: np.ndarray
    bias: np.ndarray
    dense_names: tuple[str, ...] = ()
    dense_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    meta: dict[str, Any] = field(default_factory=dict)
    stack: tuple[int, ...] = ()
    _index: FeatureIndex | None = field(default=None, repr=False, compare=False)
    _expanded: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def outputs(self) -> int:
        return int(self.matrix.shape[1]) - 1

    def head(self, name: str) -> Head:
        """The head called `name`."""
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    def summed(self, normalized: str) -> np.ndarray:
        """The sum of the matrix rows of a normalized text's features (see `FeatureIndex`)."""
        if self._index is None or self._expanded is None:
            self._index = FeatureIndex(self.vocab, self.spec)
            self._expanded = self._index.expand(self.matrix)
        return self._index.summed_rows(normalized, self._expanded)

    def logits(self, normalized: str, dense: Sequence[float] = ()) -> np.ndarray:
        """Raw scores of every head's columns for one normalized text."""
        return self.finish(self.summed(normalized), dense)

    def finish(self, summed: np.ndarray, dense: Sequence[float] = ()) -> np.ndarray:
        """Logits from the summed matrix rows [Σidf², Σidf·w...] of a text and its dense inputs."""
        norm = float(summed[0])
        out = summed[1:] * (1.0 / math.sqrt(norm)) if norm > 0 else np.zeros(len(self.bias))
        out += self.bias
        n_dense = self.dense_weights.shape[0]
        if n_dense:
            inputs = [*dense, *out.take(self.stack).tolist()] if self.stack else list(dense)
            if len(inputs) != n_dense:
                raise ValueError(f"model {self.name}: {n_dense} dense inputs expected, got {len(inputs)}")
            out += np.dot(inputs, self.dense_weights)
        return out

    def predict(self, normalized: str, dense: Sequence[float] = ()) -> dict[str, np.ndarray]:
        """Per head: the probability of each label (binary heads: [p(0), p(1)]; regression: [value])."""
        raw = self.logits(normalized, dense)
        return {head.name: head_probabilities(raw, head) for head in self.heads}

    def save(self, path: Path) -> None:
        """Write the model as gzip JSON; the same model always gives the same bytes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(self.to_bytes())

    def to_bytes(self) -> bytes:
        """The JSON form (before gzip)."""
        data = {
            "format": FORMAT,
            "name": self.name,
            "spec": self.spec.as_json(),
            "heads": [
                {"name": h.name, "labels": list(h.labels), "start": h.start, "stop": h.stop}
                for h in self.heads
            ],
            "bias": [round(float(b), 6) for b in self.bias],
            "dense_names": list(self.dense_names),
            "stack": list(self.stack),
            "dense_weights": [[round(float(v), 6) for v in row] for row in self.dense_weights],
            "vocab": sorted(self.vocab, key=self.vocab.__getitem__),
            "matrix_shape": list(self.matrix.shape),
            "matrix_f16": base64.b64encode(self.matrix.astype("<f2").tobytes()).decode("ascii"),
            "meta": self.meta,
        }
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a model written by `save`."""
        with gzip.open(path, "rb") as gz:
            data = json.loads(gz.read().decode("utf-8"))
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearModel:
        """Build a model from its decoded JSON form."""
        if data.get("format") != FORMAT:
            raise ValueError(f"unsupported model format {data.get('format')!r}")
        shape = tuple(data["matrix_shape"])
        matrix = np.frombuffer(base64.b64decode(data["matrix_f16"]), dtype="<f2").reshape(shape)
        dense_names = tuple(data["dense_names"])
        stack = tuple(int(i) for i in data.get("stack", ()))
        n_out = shape[1] - 1
        weights = np.array(data["dense_weights"], dtype=np.float64).reshape(len(dense_names) + len(stack), n_out)
        return cls(
            name=data["name"],
            spec=FeatureSpec.from_json(data["spec"]),
            heads=tuple(
                Head(h["name"], tuple(h["labels"]), int(h["start"]), int(h["stop"])) for h in data["heads"]
            ),
            vocab={feature: i for i, feature in enumerate(data["vocab"])},
            matrix=matrix.astype(np.float32),
            bias=np.array(data["bias"], dtype=np.float64),
            dense_names=dense_names,
            dense_weights=weights,
            meta=dict(data.get("meta", {})),
            stack=stack,
        )


class ModelSet:
    """Several models with the same feature spec scored from one look-up of a text's features.

    The models' vocabularies are merged into one; the merged matrix holds each model's columns side
    by side (zero where a feature is not in a model), so one row gather and one sum serve them all.
    """

    def __init__(self, models: Sequence[LinearModel]) -> None:
        if not models:
            raise ValueError("a ModelSet needs at least one model")
        spec = models[0].spec
        if any(m.spec != spec for m in models):
            raise ValueError("models in a ModelSet must share their feature spec")
        self.spec = spec
        self.models = {m.name: m for m in models}
        vocab: dict[str, int] = {}
        for model in models:
            for feature in model.vocab:
                if feature not in vocab:
                    vocab[feature] = len(vocab)
        self.vocab = vocab
        widths = [m.matrix.shape[1] for m in models]
        matrix = np.zeros((len(vocab), sum(widths)), dtype=np.float64)
        self.blocks: dict[str, tuple[int, int]] = {}
        start = 0
        for model, width in zip(models, widths):
            order = sorted(model.vocab, key=model.vocab.__getitem__)
            index = np.fromiter((vocab[f] for f in order), dtype=np.intp, count=len(order))
            matrix[index, start : start + width] = model.matrix
            self.blocks[model.name] = (start, start + width)
            start += width
        self.index = FeatureIndex(vocab, spec)
        self.matrix = self.index.expand(matrix)  # float64, C order: what `FeatureIndex.summed_rows` sums

    def summed(self, normalized: str) -> np.ndarray:
        """The sum of the merged matrix rows of the text's features (all models' columns)."""
        return self.index.summed_rows(normalized, self.matrix)

    def logits(self, name: str, summed: np.ndarray, dense: Sequence[float] = ()) -> np.ndarray:
        """Model `name`'s logits from `summed` (see `summed`)."""
        start, stop = self.blocks[name]
        return self.models[name].finish(summed[start:stop], dense)

    def predict(self, name: str, summed: np.ndarray, dense: Sequence[float] = ()) -> dict[str, np.ndarray]:
        """Model `name`'s per-head probabilities from `summed`."""
        model = self.models[name]
        raw = self.logits(name, summed, dense)
        return {head.name: head_probabilities(raw, head) for head in model.heads}


def head_probabilities(raw: np.ndarray, head: Head) -> np.ndarray:
    """Turn a head's logits into label probabilities (sigmoid for binary heads, softmax otherwise)."""
    part = raw[head.start : head.stop]
    if head.regression:
        return np.array([float(part[0])])
    if head.binary:
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, float(part[0])))))
        return np.array([1.0 - p, p])
    values = part.tolist()
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return np.array([e / total for e in exps])
