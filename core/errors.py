"""The errors a user can act on.

``str(error)`` is shown verbatim (CLI: one line and exit 2; app: ``st.error``), followed by the hint.
Anything that is not a :class:`CoreError` is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable


class CoreError(Exception):
    """An error whose message names what is wrong; ``hint`` says how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def full(self) -> str:
        """Message and hint on one line, for the CLI."""
        return f"{self.message} Hint: {self.hint}" if self.hint else self.message


class NotFound(CoreError):
    """A named thing does not exist."""


class InvalidInput(CoreError):
    """Bad input from a user, a file or a request."""


class Immutable(CoreError):
    """An attempt to change or delete something registered."""


class WorkspaceBusy(CoreError):
    """Another process held the workspace for longer than we waited."""


class SchemaError(CoreError):
    """The workspace file was written by another version of Loopline, or is damaged."""


class Forbidden(CoreError):
    """The acting user's role does not allow the action."""


def expected_one_of(what: str, got: object, allowed: Iterable[str]) -> str:
    """The house message for a value outside a closed set (scikit-learn style)."""
    options = ", ".join(sorted(allowed))
    return f"Unknown {what} {got!r}. Expected one of: {options}."
