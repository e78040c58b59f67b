"""Imported by the fork server after the modules it preloads (``launch.PRELOAD``): builds the
process-wide caches every helper would otherwise build itself before its first request, so
each helper forked from the server inherits them.

Today that is the verified TLS context every connector client shares
(``connectors.http.verified_tls``: the whole CA bundle parsed, about 20 ms of CPU). It is keyed
by ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``: a helper whose lead runs with other values (the
helper takes on the lead's environment first) builds its own, as before.
"""

from __future__ import annotations

from connectors.http import verified_tls

verified_tls()
