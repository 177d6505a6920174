"""mailtls: audit and repair the TLS certificate setup of Dovecot and Postfix."""

__version__ = "0.1.0"
