"""The floor for a Python tool: a plain loop with `cryptography` over the host's files.

    python benchmarks/floor.py PAIRS ROOT

PAIRS holds one `certificate-file<TAB>key-file` line per file pair. For each: read and parse
every certificate, verify each signature (each certificate by the next; the last by the root
of that name, if any), load the key (RSA without the slow private-key validation, as mailtls
may, since only the public half is compared) and compare it with the leaf's public key.
Nothing is cached between pairs. Prints the counts, so a broken run shows.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization


def check(
    cert_path: str, key_path: str, roots: dict[x509.Name, x509.Certificate]
) -> tuple[bool, bool]:
    """(the chain reaches a root by valid signatures, the key matches the leaf)."""
    certs = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(
        Path(key_path).read_bytes(), None, unsafe_skip_rsa_key_validation=True
    )
    matches = key.public_key() == certs[0].public_key()
    try:
        for cert, issuer in itertools.pairwise(certs):
            cert.verify_directly_issued_by(issuer)
        root = roots.get(certs[-1].issuer)
        if root is None:
            return False, matches
        certs[-1].verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError):
        return False, matches
    return True, matches


def main(pairs_file: str, root_file: str) -> None:
    roots = {c.subject: c for c in x509.load_pem_x509_certificates(Path(root_file).read_bytes())}
    trusted = untrusted = mismatched = 0
    for line in Path(pairs_file).read_text().splitlines():
        cert_path, key_path = line.split("\t")
        chain_ok, key_ok = check(cert_path, key_path, roots)
        trusted += chain_ok
        untrusted += not chain_ok
        mismatched += not key_ok
    print(f"{trusted} trusted, {untrusted} not trusted, {mismatched} keys not matching")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
