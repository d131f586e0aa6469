"""The one exception family of vigil.

User-facing errors carry a message that says what was wrong and what to do; the CLI prints it
on one line without a traceback.
"""


class VigilError(Exception):
    """Base class of every error vigil raises on purpose."""

    exit_code: int = 1


class ConfigError(VigilError):
    """A setting has a value vigil cannot use."""

    exit_code = 2


class DatabaseUnavailableError(VigilError):
    """The configured database cannot be reached."""


class BrokerUnavailableError(VigilError):
    """The configured message broker cannot be reached."""


class FormatError(VigilError):
    """A log format string or format name is not understood."""

    exit_code = 2


class RuleError(VigilError):
    """A rule file is invalid."""

    exit_code = 2


class InputError(VigilError):
    """Input the user pointed vigil at cannot be read."""

    exit_code = 2
