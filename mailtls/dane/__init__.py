"""DANE (RFC 6698, 7671, 7672): the TLSA records a chain answers to, and which of them match."""
