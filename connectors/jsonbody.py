"""A vendor's JSON answer as Python values: pydantic-core's parser where it can, the standard
library where it cannot.

Every answer a connector reads is decoded here once (``VendorClient.decode``): a Salesforce
page of 2,000 deals, an export page of 1,000 organizations, a ``show_many`` of 100 records,
a job status with 100 results. ``pydantic_core.from_json`` (pydantic's own Rust parser, no
new dependency) decodes those in about two thirds of the CPU of ``json.loads``, keys shared
through its cache. It refuses a few bodies ``json.loads`` reads (lone surrogate escapes,
byte-order-marked or UTF-16/32 bodies); those go to ``json.loads``, as does every body that
is not JSON at all, so each body decodes to exactly what ``json.loads`` gives, or fails with
its error. (orjson was measured too: faster still, but it reads integers past 64 bits as
floats, which ``json.loads`` keeps exact.)
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import from_json


def decode_json(body: bytes) -> Any:
    """``json.loads(body)``, parsed by pydantic-core whenever it accepts the body."""
    try:
        return from_json(body, cache_strings="keys")
    except ValueError:
        return json.loads(body)
