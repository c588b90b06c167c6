"""One error tree.

Every failure the user can act on is an :class:`Error`; ``str(exc)`` is the one line they see, and it
says what is wrong and what to do. The CLI prints it and exits with ``exit_code``. Anything that is
not an ``Error`` is a bug and is reported as one.

An error about one command-line option says so in ``option`` (``--region``), and its message and hint
name it as ``{option}``: the command line shows the flag, and ``publish --fleet`` shows the fleet file's
key (:meth:`Error.named`), from the same error, without rewriting its text.
"""

from __future__ import annotations


class Error(Exception):
    """An expected failure, with a message meant for the user."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, *, option: str | None = None) -> None:
        self.option = option
        self._template = (message, hint)
        if option is not None:
            message, hint = self.named(option)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def named(self, name: str) -> tuple[str, str | None]:
        """The message and hint with the option called ``name`` (e.g. a fleet file's key, ``region``)."""
        message, hint = self._template
        return message.replace(OPTION, name), hint.replace(OPTION, name) if hint is not None else None

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message

    def to_json(self) -> dict[str, str]:
        body = {"type": type(self).__name__, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return body


# Where a message or hint names the option its error is about.
OPTION = "{option}"


class UsageError(Error):
    """The command line itself is wrong (exit 2, like Typer's own usage errors)."""

    exit_code = 2


class InputError(Error):
    """A key, JWKS, issuer URL, file or other input the user gave is not acceptable (exit 2, as a usage error:
    the fix is on the command line or in a file the user named, not in AWS).

    What AWS or a cluster holds is not input: a conflict with live state is a :class:`ConflictError`, a failed
    call an :class:`AWSError` (exit 1)."""

    exit_code = 2


class SourceError(Error):
    """The key source (the cluster's API server, a file) could not be read."""


class TLSError(Error):
    """An HTTPS endpoint could not be reached, or its certificate chain did not verify."""


class AWSError(Error):
    """An AWS call failed; the message says which one and what to do."""


class ConflictError(Error):
    """Current state disagrees with what the tool is asked to do, and changing it would be unsafe."""


class CheckFailed(Error):
    """A verification found problems (the details are in the report)."""
