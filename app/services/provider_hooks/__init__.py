"""Sending providers' webhooks (bounces, complaints), one module per provider, found by
looking in this package: a new provider is a new module defining `PROVIDER`, no list.

Each module checks its provider's signature scheme against the secret the workspace
stored, and reads the provider's payload into `Delivery` reports that
`app.services.delivery_events` records.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.core.registry import discover
from app.services.provider_hooks.base import Provider


def _discover() -> dict[str, Provider]:
    return {
        provider.name: provider for provider in discover(__name__, __path__, "PROVIDER", Provider)
    }


PROVIDERS: Mapping[str, Provider] = _discover()
"""Every provider by the name its webhook URL carries (`/hooks/<name>/<token>`)."""
