"""Where a form's "next" field may send the user back to: a path on this site only."""

from __future__ import annotations

from urllib.parse import urlsplit


def local_path(raw: str | None) -> str | None:
    """A path on this site to go back to, never another host."""
    parts = urlsplit(raw or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or "\\" in (raw or ""):
        return None
    return raw
