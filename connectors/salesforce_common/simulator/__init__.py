"""What the two Salesforce simulators share: both play the same REST API and SOQL dialect.

The Sales Cloud source simulator (:mod:`connectors.sales.salesforce.simulator`) and the Service
Cloud desk simulator (:mod:`connectors.service.servicecloud.simulator`) model different objects
but type their fields, describe them and check filter literals the way the one real platform
does. That behaviour lives once here so the two fakes cannot drift apart:

* :mod:`.field_types`: the field-type families, describe's ``soapType`` and the WHERE-clause
  literal checks (expected literal kind, Salesforce's type-mismatch message, comparison operators);
* :mod:`.responses`: the JSON and ``[{message, errorCode}]`` error answers.
"""
