"""What both Salesforce connectors share: the same platform and REST API on either side.

The territories' Sales Cloud source (:mod:`connectors.sales.salesforce`) and the contact
center's Service Cloud target (:mod:`connectors.service.servicecloud`) log in the same way, get
the same error bodies and count against the same kind of rolling 24-hour API allocation. One
copy of that lives here, rather than in one vendor folder imported by the other, because
neither side owns it:

* :mod:`.config`: the OAuth flows and the org-level settings (URL, API version, throttle waits);
* :mod:`.auth`: the grants as a ``TokenProvider`` (client credentials, JWT bearer, refresh token);
* :mod:`.errors`: the ``errorCode`` table, ``REQUEST_LIMIT_EXCEEDED`` (the spent daily
  allocation as ``BudgetExhausted``, the concurrent limit as a wait) and ``Sforce-Limit-Info``.
"""
