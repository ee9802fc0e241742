"""Text a person gives the service: names, tags, notes, filters, ids.

Why a rule at all: PostgreSQL refuses a NUL in text (SQLite stores it), so
the same request must not mean different things on the two backends; other
control characters and the bidirectional overrides print raw in `gradatlas
ls` and in a terminal, where they can hide or reorder what a name says; a
lone surrogate cannot even be encoded for the database. A newline or a tab
is ordinary in notes and in a multi-line filter, nowhere else.

The checks apply to what a client sends now (`CLIENT`, the validation
context of `contracts.errors.validated`), never to a stored spec read back:
a row written before the rule must still run and read back as it was.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler, ValidationInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

CLIENT = {"from_client": True}  # the validation context of a request body
LINE_BREAKS = "\t\n\r"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def first_unsafe(text: str, allow: str = "") -> int | None:
    """The position of the first control, bidi or surrogate character of
    `text` not in `allow`; None when there is none."""
    for match in _UNSAFE.finditer(text):
        if match.group() not in allow:
            return match.start()
    return None



def escaped(text: str) -> str:
    """`text` with every control, bidi or surrogate character written as its
    escape (`\\x1b`, `\\u202e`): how a terminal shows a name stored before the
    rule, without letting it move the cursor or reorder the line."""
    return _UNSAFE.sub(lambda match: match.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)

def unsafe_reason(text: str, allow: str = "") -> str | None:
    """What is wrong with `text`, in words, or None when nothing is."""
    position = first_unsafe(text, allow)
    if position is None:
        return None
    return f"contains the control or bidi character U+{ord(text[position]):04X} at position {position}"


def _checker(allow: str):  # type: ignore[no-untyped-def]
    def check(value: str, info: ValidationInfo) -> str:
        reason = unsafe_reason(value, allow) if (info.context or {}).get("from_client") else None
        if reason is not None:
            raise ValueError(reason)
        return value

    return check


class Documented:
    """JSON Schema keywords for the OpenAPI document only: the rule itself stays
    the validator's, with its own message, and applies only to what a client sends."""

    def __init__(self, **keywords: object) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(core_schema), **self.keywords}


def _safe_pattern(allow: str) -> str:
    """_UNSAFE as an ECMA-262 pattern of the characters a text may hold (lone
    surrogates left out: JSON Schema strings are code points already)."""
    blocked = [c for c in range(0x20) if chr(c) not in allow]
    runs: list[list[int]] = []
    for code in blocked:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    controls = "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)
    return f"^[^{controls}\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$"


# One line of text (a name, a tag) and free text (notes), checked when a client sends them.
Line = Annotated[str, AfterValidator(_checker("")), Documented(pattern=_safe_pattern(""))]
FreeText = Annotated[str, AfterValidator(_checker(LINE_BREAKS)), Documented(pattern=_safe_pattern(LINE_BREAKS))]
TAG_LENGTH = (1, 64)
TAGS_AT_MOST = 32
Tag = Annotated[Line, Documented(minLength=TAG_LENGTH[0], maxLength=TAG_LENGTH[1])]
