"""Counted nouns in the lines swapbn prints: "1 figure", "6 runs"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular for exactly one (`count(1, "figure")` is "1 figure")."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
