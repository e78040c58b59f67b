"""Salesforce opportunities ring their territory's doorbell through Outbound Messages.

The scheme, its sources and why Outbound Messages are in
:mod:`connectors.salesforce_common.webhook`; here only the objects differ.
"""

from __future__ import annotations

from connectors.salesforce_common.webhook import OutboundMessageVerifier

WEBHOOK = OutboundMessageVerifier(
    objects=("Opportunity",),
    why="a rep's saved opportunity reaches the agent's note within seconds, not at the next poll",
)
