"""Linear models over binary tf-idf n-grams, stored as small gzip JSON files and scored with numpy."""
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

from sentiment.features import FeatureSpec, bigrams, chunk_features

FORMAT = 1
_CACHE_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Head:
    """One prediction target inside a model: its labels and its logit columns."""

    name: str
    labels: tuple[str, ...]
    start: int
    stop: int

    @property
    def binary(self) -> bool:
        return self.stop - self.start == 1


@dataclass(slots=True)
class LinearModel:
    """Heads sharing one vocabulary; row r of `matrix` is [idf², idf·w_1 .. idf·w_K] for feature r."""

    name: str
    spec: FeatureSpec
    heads: tuple[Head, ...]
    vocab: dict[str, int]
    matrix: np.ndarray
    bias: np.ndarray
    dense_names: tuple[str, ...] = ()
    dense_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    meta: dict[str, Any] = field(default_factory=dict)
    _chunk_cache: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict, repr=False)

    def head(self, name: str) -> Head:
        """The head called `name`."""
        for head in self.heads:
            if head.name == name:
                return head
        raise KeyError(name)

    def rows(self, normalized: str) -> np.ndarray:
        """Vocabulary rows of the features present in a normalized text, each once."""
        vocab = self.vocab
        cache = self._chunk_cache
        parts: list[np.ndarray] = []
        tokens: list[str] = []
        for chunk in normalized.split():
            hit = cache.get(chunk)
            if hit is None:
                words, feats = chunk_features(chunk, self.spec)
                found = [vocab[f] for f in feats if f in vocab]
                hit = (words, np.array(found, dtype=np.int32))
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[chunk] = hit
            tokens.extend(hit[0])
            parts.append(hit[1])
        if self.spec.word_max >= 2 and len(tokens) > 1:
            found = [vocab[f] for f in bigrams(tokens) if f in vocab]
            if found:
                parts.append(np.array(found, dtype=np.int32))
        if not parts:
            return np.zeros(0, dtype=np.int32)
        return np.unique(np.concatenate(parts))

    def logits(self, normalized: str, dense: Sequence[float] = ()) -> np.ndarray:
        """Raw scores of every head's columns for one normalized text."""
        rows = self.rows(normalized)
        out = self.bias.astype(np.float64)
        if rows.size:
            summed = self.matrix[rows].sum(axis=0, dtype=np.float64)
            if summed[0] > 0:
                out = out + summed[1:] / math.sqrt(summed[0])
        if self.dense_names:
            out = out + np.asarray(dense, dtype=np.float64) @ self.dense_weights
        return out

    def predict(self, normalized: str, dense: Sequence[float] = ()) -> dict[str, np.ndarray]:
        """Per head: the probability of each label (binary heads: [p(0), p(1)])."""
        raw = self.logits(normalized, dense)
        return {head.name: head_probabilities(raw, head) for head in self.heads}

    def save(self, path: Path) -> None:
        """Write the model as gzip JSON; the same model always gives the same bytes."""
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
            "dense_weights": [[round(float(v), 6) for v in row] for row in self.dense_weights],
            "vocab": sorted(self.vocab, key=self.vocab.__getitem__),
            "matrix_shape": list(self.matrix.shape),
            "matrix_f16": base64.b64encode(self.matrix.astype("<f2").tobytes()).decode("ascii"),
            "meta": self.meta,
        }
        payload = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(payload.encode("utf-8"))

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
        n_out = shape[1] - 1
        weights = np.array(data["dense_weights"], dtype=np.float32).reshape(len(dense_names), n_out)
        return cls(
            name=data["name"],
            spec=FeatureSpec.from_json(data["spec"]),
            heads=tuple(
                Head(h["name"], tuple(h["labels"]), int(h["start"]), int(h["stop"])) for h in data["heads"]
            ),
            vocab={feature: i for i, feature in enumerate(data["vocab"])},
            matrix=matrix.astype(np.float32),
            bias=np.array(data["bias"], dtype=np.float32),
            dense_names=dense_names,
            dense_weights=weights,
            meta=dict(data.get("meta", {})),
        )


def head_probabilities(raw: np.ndarray, head: Head) -> np.ndarray:
    """Turn a head's logits into label probabilities (sigmoid for binary heads, softmax otherwise)."""
    part = raw[head.start : head.stop]
    if head.binary:
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, float(part[0])))))
        return np.array([1.0 - p, p])
    shifted = np.exp(part - part.max())
    return shifted / shifted.sum()
