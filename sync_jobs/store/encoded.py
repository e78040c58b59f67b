"""A JSON object that comes with its text already made.

The state store writes a JSON column's value as ``json.dumps`` would make its text. A caller
that has the text anyway, or can make it faster (pydantic's serializer runs in Rust, about a
third of ``json.dumps``' cost for a deal's terms), hands both over in one
:class:`EncodedJson`: the store writes the text as it is, and everything else (a dry run's
overlay, tests, SQLAlchemy's own JSON type) sees the plain dict it always saw. A value
only written (never read as an object first) may come as its text alone, a :class:`JsonText`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json


class EncodedJson(dict[str, Any]):
    """A JSON object (the dict) and a JSON text of it (``text``) that decodes to an equal dict.

    Treated as read-only: the text is not made again if the dict is changed afterwards."""

    __slots__ = ("text",)

    def __init__(self, value: dict[str, Any], text: str) -> None:
        super().__init__(value)
        self.text = text


def model_json(model: BaseModel) -> EncodedJson:
    """``model``'s JSON form (``model_dump(mode="json")``) with its text from the same
    serializer (keys in the same order, no spaces, non-ASCII characters as they are).

    The text is pydantic's of the form (``to_json``), the same as ``model_dump_json()`` makes
    of the model, at about half the cost: the form holds only JSON's own types, so the
    serializer has no model to walk again.

    A text holding a lone surrogate (``"\\ud800"``, which JSON can carry but UTF-8 cannot)
    makes pydantic's encoder refuse; the standard encoder escapes it, as it always did."""
    value = model.model_dump(mode="json")
    try:
        text = to_json(value).decode()
    except ValueError:
        text = json.dumps(value)
    return EncodedJson(value, text)


class JsonText(str):
    """The JSON text of a value that nothing reads back as an object before the store writes
    it (as it is): made by pydantic's serializer alone, without the dict ``model_dump``
    builds first (:func:`model_text`)."""

    __slots__ = ()


def model_text(model: BaseModel) -> JsonText:
    """``model``'s JSON text, as :func:`model_json` makes it (a text holding a lone
    surrogate from the standard encoder)."""
    try:
        # ``model_dump_json()``'s own call, without its Python wrapper (stage 1 makes one
        # text a deal it reads, the match pass one a deal it decides).
        return JsonText(model.__pydantic_serializer__.to_json(model).decode())
    except ValueError:
        return JsonText(json.dumps(model.model_dump(mode="json")))
