"""Service Cloud accounts and contacts ring the desk's doorbell through Outbound Messages.

The scheme, its sources and why Outbound Messages are in
:mod:`connectors.salesforce_common.webhook`; here only the objects differ.
"""

from __future__ import annotations

from connectors.salesforce_common.webhook import OutboundMessageVerifier

WEBHOOK = OutboundMessageVerifier(
    objects=("Account", "Contact"),
    why="an agent's edit or a new customer record is seen by the next run at once (the run "
    "refreshes the desk's identity index and matches unmatched deals again)",
)
