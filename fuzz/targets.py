"""The atheris targets: each takes fuzzer bytes and may raise only what its input is allowed to
make it raise (a refusal, a configuration error); anything else is a crash libFuzzer keeps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from mailtls.config import dovecot, postfix
from mailtls.config.source import ConfigFileError, ConfigFiles
from mailtls.errors import MailtlsError
from mailtls.fix.aia_http import Refused, parse_url, read_response
from mailtls.pki.load import parse

FOLDER = "/nonexistent/mailtls-fuzz"  # never on disk: globs and stats find nothing there


class MemoryFiles(ConfigFiles):
    """Configuration texts from memory; any other path is missing."""

    def __init__(self, texts: dict[str, str]) -> None:
        super().__init__()
        self.texts = texts

    def _load(self, path: str) -> str | ConfigFileError:
        if path in self.texts:
            return self.texts[path]
        return ConfigFileError(path, "missing", "no such file")


def _halves(data: bytes) -> tuple[str, str]:
    """Two texts from one input: a NUL byte separates them (the readers refuse NUL anyway)."""
    first, _, second = data.partition(b"\0")
    return first.decode("utf-8", "replace"), second.decode("utf-8", "replace")


def pem_der(data: bytes) -> None:
    """The certificate and key loader: PEM when a BEGIN line is there, else DER or PKCS#7.
    Its contract: blocks and words, never an exception."""
    _, bad = parse(data)
    assert all(isinstance(word, str) for word in bad)


def pem_der_names(data: bytes) -> None:
    """What the audit reads first of every certificate the loader returns: cryptography
    parses names lazily, so a certificate that loads may still fail here."""
    blocks, _ = parse(data)
    for block in blocks:
        if block.cert is not None:
            block.cert.subject.rfc4514_string()
            block.cert.issuer.rfc4514_string()


def aia_response(data: bytes) -> None:
    """The AIA HTTP answer reader, the answer cut where the first bytes say; and the URL
    checker on the same bytes as text."""
    cuts = sorted(data[:4])
    body = data[4:]
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    stream = iter([*pieces, b""])
    with contextlib.suppress(Refused):
        read_response(lambda: next(stream, b""))
    with contextlib.suppress(Refused):
        parse_url(body.decode("utf-8", "replace"))


def dovecot_reader(data: bytes) -> None:
    """dovecot.conf and one file it may include (or that includes it)."""
    main, other = _halves(data)
    texts = {f"{FOLDER}/dovecot.conf": main, f"{FOLDER}/conf.d/10-ssl.conf": other}
    with contextlib.suppress(MailtlsError):
        dovecot.read(f"{FOLDER}/dovecot.conf", MemoryFiles(texts), {"HOME": "/root"})


def postfix_reader(data: bytes) -> None:
    """main.cf and master.cf."""
    main, master = _halves(data)
    texts = {f"{FOLDER}/main.cf": main, f"{FOLDER}/master.cf": master}
    with contextlib.suppress(MailtlsError):
        postfix.read(FOLDER, MemoryFiles(texts))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "pem_der": pem_der,
    "pem_der_names": pem_der_names,
    "aia_response": aia_response,
    "dovecot_reader": dovecot_reader,
    "postfix_reader": postfix_reader,
}
