"""Stable identities for what a channel sends, derived from the alert so a retry repeats them.

The outbox queues one row per (alert key, channel) and builds keys per message (content.py:
``conflict:<id>:v<version>:<phase>``), so the key identifies one message and a retry of it.
Follow-ups of the same conflict share ``alert.extra["thread"]``; receivers use it to group
them (email threading, the webhook's ``thread`` field).
"""

from __future__ import annotations

import hashlib

from sync_jobs.alerts.base import Alert


def key_hash(key: str) -> str:
    """32 hex characters of SHA-256 of ``key``: safe in headers, reveals nothing."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def thread_of(alert: Alert) -> str:
    """The conversation this alert belongs to: ``extra["thread"]``, else its own key."""
    thread = alert.extra.get("thread")
    return str(thread) if thread else alert.key
