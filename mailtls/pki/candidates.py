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
from mailtls.pki.load import FileCache, LoadedFile, load_file
from mailtls.pki.trust import CertPool, load_pool, malformed_in

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
        set_aside = list(named.set_aside)
        for folder in (path for path in given if os.path.isdir(path)):
            for loaded in _folder_files(folder):
                items += [(cert, loaded.path) for cert in loaded.certs]
                set_aside += malformed_in(loaded)
        self.given = CertPool.of(items, set_aside)
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
            items, set_aside = [], []
            for path in _siblings(folder):
                items += [(c, path) for c in self.cache.get(path).certs if is_ca(c)]
                set_aside += malformed_in(self.cache.get(path))
            self._folders[folder] = CertPool.of(items, set_aside)
        return self._folders[folder]

    def set_aside(self) -> list[tuple[str, str]]:
        """Malformed certificates met in --intermediates and in the folders searched."""
        pools = [self.given, *self._folders.values()]
        return [item for pool in pools for item in pool.set_aside]


def _folder_files(folder: str) -> list[LoadedFile]:
    """Certificates in a FOLDER given to --intermediates: a README, a subfolder (/etc/ssl/
    certs/java/), a key or a dangling link there is passed over; an unreadable file is not."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise UsageError(
            f"--intermediates {folder}: {describe_os_error(folder, exc).detail}"
        ) from None
    found: list[LoadedFile] = []
    for entry in entries[:MAX_FOLDER_ENTRIES]:
        if not entry.is_file():
            continue
        loaded = load_file(entry.path)
        if loaded.problem not in (None, "not-a-certificate", "file-missing"):
            raise UsageError(f"--intermediates {entry.path}: {loaded.detail}")
        found.append(loaded)
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
