"""Load certificate and key files: PEM (any blocks, any order), DER, PKCS#7; keys of every form."""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from mailtls.config.source import describe_os_error

MAX_PEM_BYTES = 4 * 1024 * 1024
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----\r?\n(.*?)-----END \1-----", re.S)
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY")
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")

PrivateKey = Any  # one of cryptography's private key types


@dataclass(frozen=True)
class Block:
    """One item of a file in file order: a certificate, a key, or an encrypted key."""

    kind: str  # "cert", "key", "encrypted-key"
    cert: x509.Certificate | None = None
    key: PrivateKey = None
    form: str = "PEM"  # or "DER", "PKCS#7": forms OpenSSL's PEM readers in the daemons skip


@dataclass(frozen=True)
class LoadedFile:
    """What one file holds, and why it could not be read if it could not."""

    path: str
    blocks: tuple[Block, ...] = ()
    problem: str | None = None  # file-missing, file-unreadable, not-a-certificate
    detail: str = ""
    mode: int | None = None
    uid: int | None = None
    bad_blocks: tuple[str, ...] = field(default=())
    data: bytes = field(default=b"", repr=False)

    @property
    def certs(self) -> tuple[x509.Certificate, ...]:
        return tuple(b.cert for b in self.blocks if b.cert is not None)

    @property
    def keys(self) -> tuple[PrivateKey, ...]:
        return tuple(b.key for b in self.blocks if b.kind == "key")

    @property
    def forms(self) -> set[str]:
        """The forms of the blocks that are not PEM the daemons read: DER, PKCS#7."""
        return {b.form for b in self.blocks if b.form != "PEM"}

    @property
    def encrypted(self) -> bool:
        return any(b.kind == "encrypted-key" for b in self.blocks)


def load_file(path: str) -> LoadedFile:
    """Read and parse one file; problems are data, never exceptions."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return LoadedFile(path, problem="file-unreadable", detail="not a regular file")
        if info.st_size > MAX_PEM_BYTES:
            return LoadedFile(path, problem="not-a-certificate", detail="larger than 4 MiB")
        with open(path, "rb") as stream:
            data = stream.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        error = describe_os_error(path, exc)
        code = "file-missing" if error.reason == "missing" else "file-unreadable"
        return LoadedFile(path, problem=code, detail=error.detail)
    blocks, bad = parse(data)
    mode, uid = stat.S_IMODE(info.st_mode), info.st_uid
    if not blocks:
        detail = "no certificate or key in it" + (f" ({bad[0]})" if bad else "")
        return LoadedFile(path, (), "not-a-certificate", detail, mode, uid, tuple(bad), data)
    return LoadedFile(path, tuple(blocks), None, "", mode, uid, tuple(bad), data)


def parse(data: bytes) -> tuple[list[Block], list[str]]:
    """Blocks in file order and a word for each PEM block that could not be parsed."""
    # System bundles hold a few old roots cryptography warns about (negative serials): that
    # is not the admin's business, and a warning on stderr would break a quiet hook.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if b"-----BEGIN " in data:
            return _parse_pem(data)
        return _parse_der(data), []


def _parse_pem(data: bytes) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    bad: list[str] = []
    for match in _BLOCK.finditer(data.replace(b"\r\n", b"\n")):
        label, pem = match.group(1), match.group(0) + b"\n"
        try:
            blocks.extend(_pem_block(label, pem))
        except TypeError:  # a key that wants a password
            blocks.append(Block("encrypted-key"))
        except ValueError as exc:
            bad.append(f"a {label.decode()} block that does not parse: {exc}")
    return blocks, bad


def _pem_block(label: bytes, pem: bytes) -> list[Block]:
    if label in _CERT_LABELS:
        pem = pem.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE").replace(b"X509 ", b"")
        return [Block("cert", cert=x509.load_pem_x509_certificate(pem))]
    if label == b"PKCS7":
        certs = pkcs7.load_pem_pkcs7_certificates(pem)
        return [Block("cert", cert=c, form="PKCS#7") for c in certs]
    if label == b"ENCRYPTED PRIVATE KEY" or (label in _KEY_LABELS and b"ENCRYPTED" in pem):
        return [Block("encrypted-key")]
    if label in _KEY_LABELS:
        # Only the public half is compared with the certificate: RSA's consistency check
        # (37 ms per 2048-bit key) tells mailtls nothing it uses.
        key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        return [Block("key", key=key)]
    return []  # parameters, CSRs and the like: not what a server presents


def _parse_der(data: bytes) -> list[Block]:
    loaders: tuple[Callable[[bytes], list[Block]], ...] = (
        lambda d: [Block("cert", cert=x509.load_der_x509_certificate(d), form="DER")],
        lambda d: [
            Block("cert", cert=c, form="DER PKCS#7") for c in pkcs7.load_der_pkcs7_certificates(d)
        ],
        lambda d: [Block("key", key=serialization.load_der_private_key(d, None), form="DER")],
    )
    for loader in loaders:
        try:
            return loader(data)
        except TypeError:  # a DER key that wants a password
            return [Block("encrypted-key", form="DER")]
        except ValueError:
            continue
    return []


class FileCache:
    """Each certificate or key file is read once, however many endpoints name it."""

    def __init__(self) -> None:
        self._files: dict[str, LoadedFile] = {}

    def get(self, path: str) -> LoadedFile:
        if path not in self._files:
            self._files[path] = load_file(path)
        return self._files[path]
