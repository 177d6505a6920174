"""Load certificate and key files: PEM (any blocks, any order), DER, PKCS#7; keys of every form."""

from __future__ import annotations

import functools
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.utils import CryptographyDeprecationWarning

from mailtls.config.source import describe_os_error, open_regular

MAX_PEM_BYTES = 4 * 1024 * 1024
# Markers only: a regex spanning BEGIN to END rescans the rest of the file from every
# unterminated BEGIN line (1 MB of them took over 20 s); pairing markers is one pass.
_MARKER = re.compile(rb"-----(BEGIN|END) ([A-Z0-9 #]{1,64})-----")
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY")
CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")

# A private key as mailtls keeps it: its public half, all the checks compare with a
# certificate. The private numbers are let go once read (RSA 2048: about 3 KB each, so 62 MB
# on a host of 10,000 domains).
KeyHalf = PublicKeyTypes


@dataclass(frozen=True)
class Block:
    """One item of a file in file order: a certificate, a key, or an encrypted key."""

    kind: str  # "cert", "key", "encrypted-key", "malformed" (a certificate set aside)
    cert: x509.Certificate | None = None
    key: KeyHalf | None = None  # the public half of a private key
    malformed: str = ""  # what breaks X.509 in this certificate; set aside if cert is None
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
    def keys(self) -> tuple[KeyHalf, ...]:
        """The public halves of the private keys the file holds (not encrypted ones)."""
        return tuple(b.key for b in self.blocks if b.key is not None)

    @property
    def forms(self) -> set[str]:
        """The forms of the blocks that are not PEM the daemons read: DER, PKCS#7."""
        return {b.form for b in self.blocks if b.form != "PEM"}

    @property
    def malformed(self) -> tuple[str, ...]:
        return tuple(b.malformed for b in self.blocks if b.malformed)

    @property
    def encrypted(self) -> bool:
        return any(b.kind == "encrypted-key" for b in self.blocks)


def load_file(path: str) -> LoadedFile:
    """Read and parse one file; problems are data, never exceptions."""
    try:
        with open_regular(path) as stream:
            info = os.fstat(stream.fileno())
            if info.st_size > MAX_PEM_BYTES:
                return LoadedFile(path, problem="not-a-certificate", detail="larger than 4 MiB")
            data = read_at_most(stream, info.st_size)
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


def read_at_most(stream: BinaryIO, size: int) -> bytes:
    """At most MAX_PEM_BYTES + 1 bytes, asking for the size the stat said (+1: it may have
    grown since). read(4 MiB) for each file left a hole of 4 MiB less the file in the heap
    once shrunk: 30 MB more memory on 10,000 key files."""
    wanted = size + 1
    data = stream.read(wanted)
    if len(data) == wanted:
        data += stream.read(MAX_PEM_BYTES + 1 - wanted)
    return data


def parse(data: bytes) -> tuple[list[Block], list[str]]:
    """Blocks in file order and a word for each PEM block that could not be parsed."""
    if b"-----BEGIN " in data:
        return _parse_pem(data)
    return _parse_der(data), []


def pem_spans(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(label, start, end) of each `-----BEGIN L-----` line ... `-----END L-----` block, in
    one pass. As OpenSSL reads PEM, a BEGIN line inside a block starts it again: the last
    BEGIN of a label before its END opens the block."""
    opened: dict[bytes, int] = {}
    for marker in _MARKER.finditer(data):
        label = marker.group(2)
        if marker.group(1) == b"BEGIN":
            if data.startswith(b"\n", marker.end()) or data.startswith(b"\r\n", marker.end()):
                opened[label] = marker.start()
        elif label in opened:
            yield label, opened[label], marker.end()
            opened.clear()


def _parse_pem(data: bytes) -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    bad: list[str] = []
    text = data.replace(b"\r\n", b"\n")
    for label, start, end in pem_spans(text):
        pem = text[start:end] + b"\n"
        try:
            blocks.extend(_pem_block(label, pem))
        except TypeError:  # a key that wants a password
            blocks.append(Block("encrypted-key"))
        except (ValueError, UnsupportedAlgorithm) as exc:  # e.g. a key on a curve not known
            bad.append(f"a {label.decode()} block that does not parse: {_first_line(exc)}")
    return blocks, bad


def _pem_block(label: bytes, pem: bytes) -> list[Block]:
    if label in CERT_LABELS:
        pem = pem.replace(b"TRUSTED CERTIFICATE", b"CERTIFICATE").replace(b"X509 ", b"")
        return [pem_certificate(pem)]
    if label == b"PKCS7":
        return [replace(b, form="PKCS#7") for b in _pkcs7(_pkcs7_loaders()[0], pem)]
    if label == b"ENCRYPTED PRIVATE KEY" or (label in _KEY_LABELS and b"ENCRYPTED" in pem):
        return [Block("encrypted-key")]
    if label in _KEY_LABELS:
        return [Block("key", key=_load_key(serialization.load_pem_private_key, pem))]
    return []  # parameters, CSRs and the like: not what a server presents


def _certificate(loader: Callable[[bytes], x509.Certificate], data: bytes) -> Block:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # checked below
            cert = loader(data)
    except x509.InvalidVersion as exc:
        return Block("malformed", malformed=f"a certificate of version {exc.parsed_version + 1}")
    return checked(cert)


@functools.lru_cache(maxsize=4096)
def pem_certificate(pem: bytes) -> Block:
    """One PEM certificate, parsed and read through once per run: an intermediate is in every
    fullchain.pem it issued (8,000 of the 18,000 certificates of a 10,000-domain host)."""
    return _certificate(x509.load_pem_x509_certificate, pem)


def _pkcs7_loaders() -> tuple[Callable[[bytes], list[x509.Certificate]], ...]:
    """PEM's and DER's; imported when a file needs them (4 ms of every start: it loads the
    email package)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    return pkcs7.load_pem_pkcs7_certificates, pkcs7.load_der_pkcs7_certificates


def _pkcs7(loader: Callable[[bytes], list[x509.Certificate]], data: bytes) -> list[Block]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return [checked(cert) for cert in loader(data)]


def der_certificate(der: bytes) -> Block:
    """One DER certificate as a probed server sent it: a certificate, or set aside and said."""
    try:
        return _certificate(x509.load_der_x509_certificate, der)
    except ValueError as exc:
        return Block(
            "malformed", malformed=f"a certificate that does not parse: {_first_line(exc)}"
        )


def checked(cert: x509.Certificate) -> Block:
    """A certificate read through now: cryptography parses extensions and keys lazily, and a
    broken one must be set aside here, not raise in a check. A zero or negative serial
    (9 roots of Debian's bundle have one) is kept, with a note, and no warning on stderr."""
    with warnings.catch_warnings():
        # cryptography warns of a bad serial at each parse of the certificate, not only at load
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            cert.extensions  # noqa: B018  # parsed at first access
            cert.public_key()
            cert.signature_hash_algorithm  # noqa: B018
            name_strings(cert)
        except x509.DuplicateExtension as exc:
            note = f"{_named(cert)}: a duplicate extension {exc.oid.dotted_string}"
            return Block("malformed", malformed=note)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            return Block("malformed", malformed=f"{_named(cert)}: {_first_line(exc)}")
        except x509.UnsupportedGeneralNameType as exc:  # x400Address, EDIPartyName in a SAN
            return Block("malformed", malformed=f"{_named(cert)}: {_first_line(exc)}")
    if serial_number(cert) <= 0:
        note = f"{_named(cert)}: a serial number that is zero or negative (RFC 5280: positive)"
        return Block("cert", cert=cert, malformed=note)
    return Block("cert", cert=cert)


@functools.lru_cache(maxsize=1 << 16)
def name_strings(cert: x509.Certificate) -> tuple[str, str]:
    """Subject and issuer as RFC 4514 text: read through at load, shown in the report."""
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def serial_number(cert: x509.Certificate) -> int:
    """The serial, without cryptography's warning on stderr when it is not positive."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return cert.serial_number


def _named(cert: x509.Certificate) -> str:
    try:
        return f"the certificate for {cert.subject.rfc4514_string()}"
    except ValueError:
        return "a certificate"


def _first_line(exc: Exception) -> str:
    """cryptography's parse errors hold a Rust debug dump: its first words say enough."""
    return str(exc).split("\n")[0][:120]


def _load_key(loader: Callable[..., PrivateKeyTypes], data: bytes) -> KeyHalf:
    # mailtls only compares a key's public half with the certificate: the RSA consistency
    # check it skips proves primes, which took 29.5 s on a 16384-bit key.
    return loader(data, None, unsafe_skip_rsa_key_validation=True).public_key()


def _parse_der(data: bytes) -> list[Block]:
    if not data.startswith(b"\x30"):
        # A certificate, a PKCS#7 ContentInfo and every key form are ASN.1 SEQUENCEs: no
        # loader could read this (a configuration file asked whether it is a certificate).
        return []
    loaders: tuple[Callable[[bytes], list[Block]], ...] = (
        lambda d: [replace(_certificate(x509.load_der_x509_certificate, d), form="DER")],
        lambda d: [replace(b, form="DER PKCS#7") for b in _pkcs7(_pkcs7_loaders()[1], d)],
        lambda d: [Block("key", key=_load_key(serialization.load_der_private_key, d), form="DER")],
    )
    for loader in loaders:
        try:
            return loader(data)
        except TypeError:  # a DER key that wants a password
            return [Block("encrypted-key", form="DER")]
        except (ValueError, UnsupportedAlgorithm):
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
