"""Configuration readers: find every certificate and key Dovecot and Postfix load."""
