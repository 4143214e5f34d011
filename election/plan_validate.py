"""The plan file's type checks: each failure is one PlanError sentence naming the file and the field."""

from __future__ import annotations

import difflib
from typing import Any

from election.errors import ElectionError


class PlanError(ElectionError, ValueError):
    """A plan file is wrong; the message is one sentence fit for the operator."""


class Validator:
    """Type checks that raise one-sentence PlanErrors naming file and field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, f: str, message: str) -> None:
        at = f" {f}:" if f else ""
        raise PlanError(f"{self.where}:{at} {message}.")

    def mapping(self, raw: Any, f: str, required: set[str] = frozenset(),  # type: ignore[assignment]
                optional: set[str] | None = None) -> dict:
        what = f or "the plan"
        if not isinstance(raw, dict):
            self.fail(f, f"{what} must be a mapping of keys to values, not {kind(raw)}")
        if optional is not None:
            allowed = set(required) | set(optional)
            for key in raw:
                if key not in allowed:
                    hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                    self.fail(f"{f}.{key}" if f else str(key), "unknown key"
                              + (f" (did you mean '{hint[0]}'?)" if hint else
                                 f" (allowed: {', '.join(sorted(allowed))})"))
        for key in sorted(required):
            if key not in raw or raw[key] is None:
                self.fail(f"{f}.{key}" if f else key, "this key is required")
        return raw

    def string(self, raw: Any, f: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            self.fail(f, f"must be a non-empty string, not {kind(raw)}")
        return raw.strip()

    def string_list(self, raw: Any, f: str) -> list[str]:
        if not isinstance(raw, list):
            self.fail(f, f"must be a list, not {kind(raw)}")
        return [self.string(x, f"{f}[{i}]") for i, x in enumerate(raw)]

    def integer(self, raw: Any, f: str, lo: int, hi: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.fail(f, f"must be a whole number, not {kind(raw)}")
        if not lo <= raw <= hi:
            self.fail(f, f"{raw} is out of range; it must be between {lo} and {hi}")
        return raw

    def choice(self, raw: Any, f: str, allowed: tuple[str, ...]) -> str:
        if raw not in allowed:
            self.fail(f, f"'{raw}' is not one of {', '.join(allowed)}")
        return raw


def kind(raw: Any) -> str:
    if raw is None:
        return "nothing"
    return {bool: "true/false", int: "a number", float: "a number", str: f"the text '{raw}'",
            list: "a list", dict: "a mapping"}.get(type(raw), type(raw).__name__)
