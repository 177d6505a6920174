"""Plan a fix (pure): which bytes go into which file, checked before anything is written."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from mailtls.checks.leaf import dns_names
from mailtls.models import CertInfo
from mailtls.pki.chain import fingerprint, key_fits
from mailtls.pki.load import CERT_LABELS, KeyHalf, parse, pem_spans
from mailtls.pki.verify import server_verifier

_LINE_END = re.compile(rb"[ \t]*(?:\r?\n)?")


@dataclass(frozen=True)
class FileChange:
    """New bytes for one file, and what they change."""

    path: str  # the file written: a symlink's target
    configured: str  # the path the configuration names
    old: bytes
    new: bytes
    endpoints: tuple[str, ...]
    before: tuple[CertInfo, ...]
    after: tuple[CertInfo, ...]
    added_from: tuple[str, ...]  # where each new intermediate came from
    holds_key: bool


@dataclass(frozen=True)
class Refusal:
    """A file mailtls will not change, and why."""

    path: str
    endpoints: tuple[str, ...]
    reason: str


def rewrite(old: bytes, chain: list[x509.Certificate]) -> bytes:
    """`old` with its certificate blocks replaced by `chain`, at the place of the first one.
    Keys and text outside the certificate blocks stay where they are; CRLF files stay CRLF."""
    if b"-----BEGIN " not in old:
        old = b""  # DER or DER PKCS#7: nothing but those certificates, written anew as PEM
    spans = [
        (start, _LINE_END.match(old, end).end())  # type: ignore[union-attr]  # always matches
        for label, start, end in pem_spans(old)
        if label in CERT_LABELS or label == b"PKCS7"  # the daemons cannot read PKCS#7: replaced
    ]
    new_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    if b"\r\n" in old:
        new_pem = new_pem.replace(b"\n", b"\r\n")
    if not spans:
        separator = b"" if not old or old.endswith(b"\n") else b"\n"
        return old + separator + new_pem
    out = [old[: spans[0][0]], new_pem]
    for (_, end), (start, _) in zip(spans, [*spans[1:], (len(old), 0)], strict=True):
        out.append(old[end:start])
    return b"".join(out)


def check_result(
    new: bytes,
    leaf: x509.Certificate,
    keys: list[KeyHalf],
    store: verification.Store | None,
    at: dt.datetime,
) -> str | None:
    """Why `new` must not be written, or None: it parses, starts with the same leaf, fits the
    key, and validates against the trust store."""
    blocks, bad = parse(new)
    certs = [b.cert for b in blocks if b.cert is not None]
    if bad or not certs:
        return "the new file does not parse"
    if fingerprint(certs[0]) != fingerprint(leaf):
        return "the new file does not start with the same leaf"
    if keys and not any(key_fits(k, leaf) for k in keys):
        return "the key does not belong to the certificate (key-mismatch): fix that first"
    names = dns_names(leaf)
    if store is None or not names:
        return "no trust store or no DNS name to validate the new chain with"
    try:
        server_verifier(store, at, names[0]).verify(certs[0], certs[1:])
    except verification.VerificationError as error:
        return f"the new chain does not validate: {error}"
    return None


# Renewal clients rewrite these files at every renewal: fixing them in place would be undone.
LINEAGES = (
    # certbot: /etc/letsencrypt, or any --config-dir named letsencrypt (an image, a test)
    ("certbot", re.compile(r"^(?P<dir>.*/letsencrypt/(?:live|archive)/[^/]+)/"), "fullchain.pem"),
    ("acme.sh", re.compile(r"^(?P<dir>.*/\.acme\.sh/[^/]+)/"), "fullchain.cer"),
    ("dehydrated", re.compile(r"^(?P<dir>.*/dehydrated/certs/[^/]+)/"), "fullchain.pem"),
)


def lineage(path: str) -> tuple[str, str] | None:
    """(renewal client, its full-chain file) when `path` lives in a renewal lineage."""
    for tool, pattern, fullchain in LINEAGES:
        for candidate in (path, os.path.realpath(path)):
            match = pattern.match(candidate)
            if match:
                folder = match.group("dir")
                head, sep, tail = folder.rpartition("/archive/")
                if tool == "certbot" and sep:  # archive/NAME/certN.pem: live/NAME follows renewals
                    folder = f"{head}/live/{tail}"
                return tool, os.path.join(folder, fullchain)
    return None
