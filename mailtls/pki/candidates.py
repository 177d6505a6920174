"""Where a missing intermediate may be found: `--intermediates`, then files beside the
certificate. Folders are scanned only when a chain lacks an issuer, and once each."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence

from cryptography import x509

from mailtls.config.source import describe_os_error
from mailtls.errors import UsageError
from mailtls.pki.chain import is_ca
from mailtls.pki.load import FileCache, load_file
from mailtls.pki.trust import CertPool, load_pool

# Files beside a certificate that often hold its chain (certbot, acme.sh, CA downloads).
SIBLING_PATTERNS = ("*.pem", "*.crt", "*.cer", "*.ca-bundle", "*.chain", "*CA*")
MAX_SIBLINGS = 200
MAX_FOLDER_ENTRIES = 10_000  # /etc/ssl/certs holds a few hundred

Candidate = tuple[x509.Certificate, str]


class Candidates:
    """Certificates that may be a chain's missing issuer, with the file each came from."""

    def __init__(self, given: Sequence[str], cache: FileCache) -> None:
        files = [path for path in given if not os.path.isdir(path)]
        named = load_pool(files, required=True)  # a FILE named that holds none: exit 2
        items = [(cert, named.source_of(cert)) for cert in named.certs]
        for folder in (path for path in given if os.path.isdir(path)):
            items += _folder_certs(folder)
        self.given = CertPool.of(items)
        self.cache = cache
        self._folders: dict[str, CertPool] = {}

    def issuers_named(self, name: x509.Name, near: str) -> list[Candidate]:
        """Certificates with this subject from --intermediates, then beside `near`."""
        found = [(c, self.given.source_of(c)) for c in self.given.issuers_named(name)]
        siblings = self._folder(os.path.dirname(near))
        found += [(c, siblings.source_of(c)) for c in siblings.issuers_named(name)]
        return found

    def _folder(self, folder: str) -> CertPool:
        if folder not in self._folders:
            items = []
            for path in _siblings(folder):
                items += [(c, path) for c in self.cache.get(path).certs if is_ca(c)]
            self._folders[folder] = CertPool.of(items)
        return self._folders[folder]


def _folder_certs(folder: str) -> list[Candidate]:
    """Certificates in a FOLDER given to --intermediates: a README, a subfolder (/etc/ssl/
    certs/java/), a key or a dangling link there is passed over; an unreadable file is not."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise UsageError(
            f"--intermediates {folder}: {describe_os_error(folder, exc).detail}"
        ) from None
    found: list[Candidate] = []
    for entry in entries[:MAX_FOLDER_ENTRIES]:
        if not entry.is_file():
            continue
        loaded = load_file(entry.path)
        if loaded.problem not in (None, "not-a-certificate", "file-missing"):
            raise UsageError(f"--intermediates {entry.path}: {loaded.detail}")
        found += [(cert, entry.path) for cert in loaded.certs]
    return found


def _siblings(folder: str) -> list[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    found = [
        entry.path
        for entry in entries
        if entry.is_file() and any(fnmatch.fnmatch(entry.name, p) for p in SIBLING_PATTERNS)
    ]
    return found[:MAX_SIBLINGS]
