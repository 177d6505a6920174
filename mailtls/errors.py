"""The errors mailtls raises on purpose; each one maps to an exit code."""

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class MailtlsError(Exception):
    """A problem a person can act on; the CLI prints it on one line and exits 2."""

    exit_code = EXIT_ERROR


class UsageError(MailtlsError):
    """The command line asks for something that cannot be done."""


class ConfigError(MailtlsError):
    """A configuration that cannot be read, or that the daemon itself would reject."""
