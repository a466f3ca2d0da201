"""What both scenarios check with: a result of the expected type, or a
condition that holds; anything else ends the run with a non-zero status."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def expect(value: object, kind: type[T], what: str) -> T:
    """A generated call returns its success model, a Problem or None (an
    undocumented status); anything but `kind` ends the run."""
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(message)
