"""Service Cloud accounts and contacts ring the desk's doorbell through Outbound Messages.

The scheme, its sources and why Outbound Messages are in
:mod:`connectors.salesforce_common.webhook`; here only the objects differ.
"""

from __future__ import annotations

from connectors.salesforce_common.webhook import OutboundMessageVerifier
from connectors.service.servicecloud.payloads import ACCOUNT, CONTACT

WEBHOOK = OutboundMessageVerifier(
    objects=("Account", "Contact"),
    why="an agent's edit of a field dealbridge wrote is held as a conflict by the next run, "
    "which reads the records the message names at once",
    kinds={"Account": ACCOUNT, "Contact": CONTACT},
)
