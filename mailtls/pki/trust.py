"""The trust store: the system's CA bundle plus `--ca-file` roots, looked up by subject."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from mailtls.errors import UsageError
from mailtls.pki.load import LoadedFile, load_file

SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass(frozen=True)
class CertPool:
    """Certificates found by subject: trust anchors, or candidate intermediates."""

    certs: tuple[x509.Certificate, ...] = ()
    sources: dict[bytes, str] = field(default_factory=dict)
    by_subject: dict[bytes, list[x509.Certificate]] = field(default_factory=dict)
    set_aside: tuple[tuple[str, str], ...] = ()  # (file, why): malformed certificates left out

    @classmethod
    def of(
        cls,
        items: Iterable[tuple[x509.Certificate, str]],
        set_aside: Iterable[tuple[str, str]] = (),
    ) -> CertPool:
        certs: list[x509.Certificate] = []
        sources: dict[bytes, str] = {}
        by_subject: dict[bytes, list[x509.Certificate]] = {}
        for cert, source in items:
            fingerprint = cert.fingerprint(hashes.SHA256())
            if fingerprint in sources:
                continue
            sources[fingerprint] = source
            certs.append(cert)
            by_subject.setdefault(cert.subject.public_bytes(), []).append(cert)
        return cls(tuple(certs), sources, by_subject, tuple(set_aside))

    def issuers_named(self, name: x509.Name) -> list[x509.Certificate]:
        return self.by_subject.get(name.public_bytes(), [])

    def holds(self, cert: x509.Certificate) -> bool:
        return cert.fingerprint(hashes.SHA256()) in self.sources

    def source_of(self, cert: x509.Certificate) -> str:
        return self.sources.get(cert.fingerprint(hashes.SHA256()), "")


def system_bundle() -> str | None:
    """The CA bundle OpenSSL would use, where this machine has one."""
    import ssl  # here: 5 ms of start-up, and an audit with --no-system-trust does not need it

    for candidate in (ssl.get_default_verify_paths().cafile, *SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def load_pool(paths: Sequence[str], *, required: bool) -> CertPool:
    """Every certificate in these files; `required` turns an unreadable file into exit 2."""
    items: list[tuple[x509.Certificate, str]] = []
    set_aside: list[tuple[str, str]] = []
    for path in paths:
        loaded = load_file(path)
        if loaded.problem and required:
            raise UsageError(f"{path}: {loaded.detail}")
        items.extend((cert, path) for cert in loaded.certs)
        set_aside += malformed_in(loaded)
    return CertPool.of(items, set_aside)


def malformed_in(loaded: LoadedFile) -> list[tuple[str, str]]:
    """Certificates of a file that were set aside as malformed, with why. A zero or negative
    serial does not count: 9 roots of Debian's bundle have one, and they work."""
    return [(loaded.path, b.malformed) for b in loaded.blocks if b.kind == "malformed"]
