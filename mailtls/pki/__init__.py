"""Certificates and keys: loading, trust store, path facts."""
