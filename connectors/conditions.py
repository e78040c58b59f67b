"""Filter conditions admins write in a mapping's ``select`` (SOQL, OData ``$filter``, COQL).

A connector puts the condition inside a query of its own (``... AND (<condition>)``), so the
condition must not be able to close that bracket early or leave a string open: that is the one
thing checked here, without knowing the vendor's grammar (the vendor checks field names and
operators when the query runs).
"""

from __future__ import annotations


def balanced(text: str, *, backslash_escapes: bool = False) -> bool:
    """Brackets close in order and every 'string' ends, outside strings only.

    SOQL escapes a quote in a string with a backslash (``backslash_escapes``); OData and COQL
    double it (``''``), which simply closes and reopens the string here."""
    depth, quoted, escaped = 0, False, False
    for char in text:
        if quoted:
            if escaped:
                escaped = False
            elif backslash_escapes and char == "\\":
                escaped = True
            elif char == "'":
                quoted = False
            continue
        if char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def condition_problem(
    condition: str,
    *,
    language: str,
    refused_prefixes: tuple[str, ...],
    example: str,
    backslash_escapes: bool = False,
) -> str | None:
    """What is wrong with the shape of ``condition`` (None: nothing visible before the vendor).

    ``refused_prefixes`` are what admins copy by mistake (``WHERE``, ``$filter=``), compared
    without case."""
    text = condition.strip()
    if not text:
        return "it is empty"
    if text.startswith(("{", "[")):
        return f"it looks like HubSpot's JSON filters; this source takes {language}"
    lowered = text.lower()
    for prefix in refused_prefixes:
        if lowered.startswith(prefix.lower()):
            return f"it starts with {prefix.strip()}; write only the condition, e.g. {example}"
    if not balanced(text, backslash_escapes=backslash_escapes):
        return "it has unbalanced parentheses or an unterminated 'string'"
    return None
