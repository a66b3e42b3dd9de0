"""Validation shared by the identity value objects."""

from __future__ import annotations

import re

_ID_PART = re.compile(r"^[\w\-\.]+$")


def check_part(kind: str, field: str, value: object) -> str:
    """Return ``value`` if it is a valid identity part, else raise ``ValueError`` naming it."""
    if not isinstance(value, str) or not _ID_PART.match(value):
        raise ValueError(f"invalid {kind} {field} {value!r}: expected letters, digits, '_', '-' or '.'")
    return value


def split_pair(kind: str, text: str) -> tuple[str, str]:
    """Split ``"a/b"`` into its two parts, or raise ``ValueError`` naming the text."""
    first, sep, second = text.partition("/") if isinstance(text, str) else ("", "", "")
    if not sep:
        raise ValueError(f"invalid {kind} {text!r}: expected the form 'type/key'")
    return first, second
