"""Small pieces of plain English shared by the texts authors and support read."""

from __future__ import annotations


def join_words(parts: list[str], word: str) -> str:
    """'a', 'a or b', 'a, b or c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"
