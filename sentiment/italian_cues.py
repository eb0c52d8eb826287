"""Customer-care polarity phrases for Italian, added to the Italian model's evidence.

The Italian training tweets are mostly about politics and TV, so care words come out wrong
("servizio" leans positive there, after a TV show); these phrases, written for this project,
put the customer's usual verdicts back.
"""
from __future__ import annotations

from sentiment.phrases import PhraseSet, TextKeys, phrase_list, text_keys

_NEGATIVE = (
    r"pessim\w+", r"vergogn\w+", r"schif\w+", r"truff\w+", r"inaccettabile", r"scandalos\w+",
    r"delus\w+", r"delusione", r"non funziona\w*", r"mai arrivat\w+", r"non (?:è|e') (?:ancora )?arrivat\w+",
    r"nessuno rispond\w+", r"nessuna risposta", r"ancora niente", r"rimbors\w+", r"reclam\w+",
    r"ritardo", r"rott\w+", r"guast\w+", r"disservizi\w*", r"peggior\w*", r"incompetent\w+",
    r"inutil\w+", r"vergognoso", r"ridicol\w+", r"cancellat\w+", r"bloccat\w+", r"addebit\w+",
)
_POSITIVE = (
    r"grazie", r"ottim\w+", r"bravissim\w+", r"bravi", r"gentilissim\w+", r"gentil\w+", r"perfett\w+",
    r"fantastic\w+", r"eccellent\w+", r"velocissim\w+", r"consiglio", r"soddisfatt\w+", r"top",
    r"meraviglios\w+", r"stupend\w+", r"adoro", r"risolto",
)
CUES = PhraseSet((phrase_list("negative", _NEGATIVE), phrase_list("positive", _POSITIVE)))
WEIGHT = 1.5


def cue_counts(text: str, keys: TextKeys | None = None) -> tuple[int, int]:
    """(negative, positive) care phrases found in the text; `keys` are its `text_keys` if known."""
    negative, positive = CUES.counts(text, text_keys(text) if keys is None else keys)
    return negative, positive
