"""A model's JSON form as the standard encoder writes it with sorted keys, made faster.

Deal terms are fingerprinted over ``json.dumps(form, sort_keys=True, separators=(",", ":"))``
of their JSON form (``model_dump(mode="json")``), and stored fingerprints must stay what
they were: the text must stay byte for byte the same. The standard encoder took about 7 us a
deal for it (C, but each dict's items sorted and each string escaped character by character);
pydantic's serializer (``pydantic_core.to_json``, Rust) writes the same form in about 1.5 us.
The two agree except where this module steps in or steps aside:

- key order: pydantic writes a dict in its own order, so the form is rebuilt with its keys in
  sorted order first; a model's keys are fixed, so they are sorted once here (one
  ``itemgetter`` a level, not a sort per dict);
- characters: pydantic leaves DEL and everything beyond ASCII as they are; each is escaped
  afterwards by the standard encoder's own escape (rare: only such texts pay for it);
- numbers: pydantic writes some floats differently (``1e-7`` against ``1e-07``); a model's own
  fields hold none in their JSON form (decimals and dates are text there), and a free-form
  field (deal terms' ``custom``) goes the fast way only when it holds text, booleans, nulls
  and lists of text. Anything else (a number, a nested object, a lone surrogate, which
  pydantic refuses, a form of another shape) is written by the standard encoder.

A validated model's form can also be written from the model's own values
(:meth:`SortedForm.model_text`), without ``model_dump`` making the form first: pydantic's
serializer writes a decimal, a date and a tuple as ``model_dump(mode="json")`` would have
put them in the form (a decimal's text, ISO dates, arrays).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

_STANDARD = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""The reference: what ``json.dumps(sort_keys=True, separators=(",", ":"))`` builds per call."""

_ESCAPED_ONLY_BY_STANDARD = re.compile("[\x7f-\U0010ffff]")
"""Characters the standard encoder escapes (``ensure_ascii``) and pydantic writes as they are
(both escape quotes, backslashes and control characters alike)."""


def _escape(found: re.Match[str]) -> str:
    return json.encoder.encode_basestring_ascii(found.group())[1:-1]  # without its quotes


def standard_text(form: dict[str, Any]) -> bytes:
    """``form`` as the standard encoder writes it: keys sorted, compact, ASCII."""
    return _STANDARD.encode(form).encode()


class SortedForm:
    """The JSON form of one model class less one of its fields (``leave_out``), written with
    sorted keys as :func:`standard_text` writes it: ``keys`` are the model's fields, ``nested``
    the fields holding a model (with that model's fields), ``free`` the one field holding a
    free-form object (or None)."""

    def __init__(
        self,
        keys: Iterable[str],
        nested: Mapping[str, Iterable[str]],
        free: str | None,
        leave_out: str,
        models: Mapping[str, type[BaseModel]] | None = None,
    ) -> None:
        self.keys = tuple(sorted(key for key in keys if key != leave_out))
        self.leave_out = leave_out
        self._last_key = f',"{leave_out}":'.encode()
        self._values = _getter(self.keys)
        self._nested = [
            (name, inner, _getter(inner))
            for name, inner in ((n, tuple(sorted(k))) for n, k in nested.items())
        ]
        self._free = free
        models = models or {}
        self._model = models.get("")
        """The model class whose instances :meth:`model_text` writes (key ``""`` of
        ``models``; the others name the class each ``nested`` field holds)."""
        self._nested_models = [
            (name, inner, values, models.get(name)) for name, inner, values in self._nested
        ]

    def text(self, form: dict[str, Any]) -> bytes:
        """``form`` without its key ``leave_out``, exactly as :func:`standard_text` writes it."""
        leave_out = self.leave_out
        ordered = self._ordered(form)
        if ordered is not None:
            raw = _written(ordered)
            if raw is not None:
                return raw
        return standard_text({key: value for key, value in form.items() if key != leave_out})

    def model_text(self, model: BaseModel) -> bytes | None:
        """:meth:`text` of ``model.model_dump(mode="json")``, written from the model's own
        values (about half the cost: no form is built first); None when this way cannot tell
        (a subclass, a nested value of another class, a free-form value of another kind, a
        lone surrogate): the caller then dumps the model and calls :meth:`text`.

        ``model`` must be validated (as a mapping makes deal terms): its values are then of
        the field types, each written as its JSON form holds it."""
        if self._model is None or type(model) is not self._model:
            return None
        ordered = self._model_ordered(model)
        return None if ordered is None else _written(ordered)

    def model_texts(self, model: BaseModel) -> tuple[bytes, bytes] | None:
        """The model's whole JSON text and :meth:`model_text`'s, from one serialization
        (stage 1 stores the one and fingerprints the other, for every deal it reads); None
        as for :meth:`model_text`, or when ``leave_out`` holds no datetime.

        The whole text is :meth:`model_text`'s form with ``leave_out`` added as its last key
        (sorted keys, then ``leave_out``; non-ASCII escaped): it decodes to the model's JSON
        form (``model_dump(mode="json")``), as pydantic's own text of the model does. A
        datetime's text holds no quote, so the last ``,"<leave_out>":`` in the text is that
        key's own, and the text cut there and closed is :meth:`model_text`'s, byte for byte
        (any earlier occurrence is inside a value: a custom term of that name)."""
        if self._model is None or type(model) is not self._model or not self.keys:
            return None
        last = model.__dict__[self.leave_out]
        if type(last) is not datetime:
            return None
        ordered = self._model_ordered(model)
        if ordered is None:
            return None
        ordered[self.leave_out] = last
        whole = _written(ordered)
        if whole is None:
            return None
        return whole, whole[: whole.rindex(self._last_key)] + b"}"

    def _model_ordered(self, model: BaseModel) -> dict[str, Any] | None:
        """The model's values under its sorted keys (nested models' too), or None when this
        way cannot tell (see :meth:`model_text`)."""
        ordered = dict(zip(self.keys, self._values(model.__dict__)))  # noqa: B905 - its fields
        for name, inner, values, kind in self._nested_models:
            value = ordered[name]
            if kind is None or type(value) is not kind:
                return None
            ordered[name] = dict(zip(inner, values(value.__dict__)))  # noqa: B905 - its fields
        return ordered if self._sort_free(ordered) else None

    def _ordered(self, form: dict[str, Any]) -> dict[str, Any] | None:
        """``form`` less ``leave_out`` with every key in sorted order, or None when it is not
        of this model's shape or holds a value pydantic may write differently."""
        if len(form) != len(self.keys) + 1 or self.leave_out not in form:
            return None
        try:
            ordered = dict(zip(self.keys, self._values(form)))  # noqa: B905 - same length
            for name, inner, values in self._nested:
                value = ordered[name]
                if type(value) is not dict or len(value) != len(inner):
                    return None
                ordered[name] = dict(zip(inner, values(value)))  # noqa: B905 - same length
        except KeyError:
            return None
        return ordered if self._sort_free(ordered) else None

    def _sort_free(self, ordered: dict[str, Any]) -> bool:
        """Put the free-form field's keys in sorted order; False when it holds a value the
        two encoders may write differently."""
        if self._free is not None:
            free = ordered[self._free]
            if free:
                if type(free) is not dict or not all(_plain(k, v) for k, v in free.items()):
                    return False
                ordered[self._free] = {key: free[key] for key in sorted(free)}
        return True


def _written(ordered: dict[str, Any]) -> bytes | None:
    """``ordered`` (keys in sorted order) as the standard encoder writes it, by pydantic's
    serializer; None for a lone surrogate (JSON can carry it, UTF-8 cannot)."""
    try:
        raw = to_json(ordered)
    except ValueError:
        return None
    if raw.isascii() and b"\x7f" not in raw:
        return raw
    return _ESCAPED_ONLY_BY_STANDARD.sub(_escape, raw.decode()).encode()


def _getter(keys: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(keys) < 2:  # ``itemgetter`` of one key answers the value, not a tuple
        return lambda form: tuple(form[key] for key in keys)
    return itemgetter(*keys)


_PLAIN = frozenset({str, bool, type(None)})


def _plain(key: Any, value: Any) -> bool:
    """Whether a free-form entry is one both encoders write alike (text key; text, boolean,
    null or a list of texts)."""
    if type(key) is not str:
        return False
    if type(value) in _PLAIN:
        return True
    return type(value) is list and all(type(item) is str for item in value)
