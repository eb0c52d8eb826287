"""Language identification and sentiment (English VADER plus a trained model; Italian trained model)."""
from __future__ import annotations

from sentiment.analyzer import SentimentResult, analyze
from sentiment.language import detect_language

__all__ = ["SentimentResult", "analyze", "detect_language"]
