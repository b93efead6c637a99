"""Errors a user can cause, and how the CLI reports them.

Every failure caused by user input (a missing or corrupt file, an unknown key, a bad value, an
unreadable checkpoint) raises a :class:`UserError`. The CLI prints its message as one line and
exits with code 2, before anything in a run directory is written.
"""

from __future__ import annotations


class GenzooError(Exception):
    """Base class of genzoo's own errors; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UserError(GenzooError):
    """Bad input: a file, key, value or checkpoint the user gave. CLI exit code 2.

    ``param`` names the function parameter(s) at fault (comma-separated); the message then
    reads ``"PARAM: message"``, and the CLI names its own flags instead (``--PARAM``).
    """

    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        self.message, self.param = message, param
        super().__init__(f"{param}: {message}" if param else message)

    def for_cli(self) -> str:
        """The message with the parameters as command-line flags (``n`` -> ``--n``)."""
        if not self.param:
            return str(self)
        flags = ", ".join("--" + p.strip().replace("_", "-") for p in self.param.split(","))
        return f"{flags}: {self.message}"


class DataError(UserError):
    """A dataset file is missing, corrupt, truncated or of the wrong shape."""


class ConfigError(UserError):
    """An unknown preset or key, a value of the wrong type or out of range."""


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or that belongs to another method or config."""


class TrainingDiverged(GenzooError):
    """The divergence guard gave up after its allowed number of restarts."""
