"""Intercom authentication: the access token as a bearer token (FACTS.md §1.2).

A private app's access token, or a public app's OAuth access token, is sent as
``Authorization: Bearer <token>``; neither expires on its own, so there is nothing to refresh.
A refused token answers 401 ``unauthorized`` (see ``errors``).
"""

from __future__ import annotations

import httpx

from connectors.auth import StaticHeaderAuth
from connectors.service.intercom.config import IntercomConfig


def token_auth(config: IntercomConfig) -> httpx.Auth:
    """The bearer header for the configured token (registered for redaction)."""
    return StaticHeaderAuth.bearer(config.access_token.get_secret_value())
