"""Waiting for htmx in browser tests: an element swapped in (or a page just loaded) answers
its triggers only once htmx has processed it, so acting sooner is a race under CI load."""

from __future__ import annotations

from playwright.sync_api import Locator

_BOUND = (
    "element => new Promise(done => { const bound = () => "
    "element['htmx-internal-data'] ? done() : setTimeout(bound, 20); bound(); })"
)


def wait_until_bound(element: Locator) -> None:
    """Return once htmx has bound this element's own hx-trigger."""
    element.evaluate(_BOUND)
