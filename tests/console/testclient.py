"""Starlette's TestClient, imported without its notice that it would rather drive httpx2
(dealbridge uses httpx; the client works the same with it)."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
