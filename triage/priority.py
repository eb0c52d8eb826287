"""The transparent additive priority score: each signal adds points and a reason an agent reads."""
from __future__ import annotations

from collections.abc import Iterable

from triage.types import Contribution

PUBLIC_COMPLAINT = 3
COMPLAINT = 1
ANGRY = 2
URGENT = 3
VIP = 3


def reach_points(followers: int | None) -> Contribution | None:
    """Authors with a large audience can turn a complaint into a public problem."""
    if followers is None or followers < 10_000:
        return None
    points = 2 if followers >= 100_000 else 1
    return Contribution("reach", f"{format_count(followers)} followers", points)


def waiting_points(seconds: float) -> Contribution | None:
    """A message gains points the longer it waits: 1 after an hour, 2 after 4 h, 3 after 12 h."""
    hours = seconds / 3600.0
    if hours < 1:
        return None
    points = 3 if hours >= 12 else 2 if hours >= 4 else 1
    return Contribution("waiting", f"waiting {int(hours)} h", points)


def format_count(n: int) -> str:
    """12345 -> '12k', 1_500_000 -> '1.5M'."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if n >= 1_000:
        return f"{n // 1_000}k"
    return str(n)


def total(parts: Iterable[Contribution]) -> int:
    """The score: the sum of the points."""
    return sum(part.points for part in parts)
