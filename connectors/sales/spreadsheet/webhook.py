"""A spreadsheet folder rings its doorbell with dealbridge's own signed webhook.

Spreadsheets have no vendor to notify anyone: the script (or macro, or sync client hook) that
saves a territory's file POSTs to the job's URL, signed as :class:`connectors.webhooks.
SignedWebhook` describes.
"""

from __future__ import annotations

from connectors.webhooks import SignedWebhook

WEBHOOK = SignedWebhook(what="the script saves a file into the territory's folder")
