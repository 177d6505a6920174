"""Loading: PEM in every shape admins make it, DER, PKCS#7, keys of every form; problems as data."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtls.pki.chain import key_fits
from mailtls.pki.load import MAX_PEM_BYTES, load_file, parse, read_at_most
from tests.conftest import FIXTURES

PKI = FIXTURES / "pki"
LEAF = (PKI / "leaf-2026.pem").read_bytes()
CA = (PKI / "issuing-r2.pem").read_bytes()
KEY = (PKI / "leaf-2026.key").read_bytes()


def kinds(path: Path) -> list[str]:
    return [b.kind for b in load_file(str(path)).blocks]


def test_pem_with_crlf_text_around_and_key_first(tmp_path: Path) -> None:
    """docker-mailserver's combined file: key, leaf, chain; CRLF and comments between."""
    text = (
        b"Bag Attributes\r\n"
        + KEY.replace(b"\n", b"\r\n")
        + b"subject=CN=mail\r\n"
        + LEAF
        + b"\n# chain\n"
        + CA
    )
    (tmp_path / "full.pem").write_bytes(text)
    loaded = load_file(str(tmp_path / "full.pem"))
    assert [b.kind for b in loaded.blocks] == ["key", "cert", "cert"]
    assert loaded.certs[0].subject.rfc4514_string() == "CN=mail.example.org"


def test_der_certificate_and_key(tmp_path: Path) -> None:
    cert = x509.load_pem_x509_certificate(LEAF)
    (tmp_path / "leaf.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key = serialization.load_pem_private_key(KEY, None)
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.der").write_bytes(der_key)
    assert kinds(tmp_path / "leaf.der") == ["cert"]
    assert kinds(tmp_path / "key.der") == ["key"]


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_pkcs7_bundle(tmp_path: Path, encoding: serialization.Encoding) -> None:
    certs = [x509.load_pem_x509_certificate(LEAF), x509.load_pem_x509_certificate(CA)]
    (tmp_path / "bundle.p7b").write_bytes(pkcs7.serialize_certificates(certs, encoding))
    assert kinds(tmp_path / "bundle.p7b") == ["cert", "cert"]


@pytest.mark.parametrize(
    "form",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "sec1"],
)
def test_key_forms(tmp_path: Path, form: serialization.PrivateFormat) -> None:
    key = serialization.load_pem_private_key(KEY, None)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    )
    assert kinds(tmp_path / "key.pem") == ["key"]


def test_rsa_pkcs1_key(tmp_path: Path) -> None:
    key = serialization.load_pem_private_key((PKI / "leaf-rsa.key").read_bytes(), None)
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    (tmp_path / "key.pem").write_bytes(pkcs1)
    assert kinds(tmp_path / "key.pem") == ["key"]


@pytest.mark.parametrize("name", ["leaf-2026", "leaf-rsa"])
def test_a_key_is_kept_as_its_public_half(tmp_path: Path, name: str) -> None:
    """The private numbers are let go once read (62 MB on 10,000 RSA domains): the checks
    only compare the public half with the certificate, and it still fits its own."""
    (tmp_path / "key.pem").write_bytes((PKI / f"{name}.key").read_bytes())
    (key,) = load_file(str(tmp_path / "key.pem")).keys
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    assert not hasattr(key, "private_bytes")
    cert = x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())
    assert key_fits(key, cert)
    assert not key_fits(key, x509.load_pem_x509_certificate(CA))


@pytest.mark.parametrize(
    "form", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
def test_encrypted_keys_are_recognised_without_a_prompt(
    tmp_path: Path, form: serialization.PrivateFormat
) -> None:
    key = serialization.load_pem_private_key(KEY, None)
    data = key.private_bytes(
        serialization.Encoding.PEM, form, serialization.BestAvailableEncryption(b"pw")
    )
    (tmp_path / "key.pem").write_bytes(data)
    assert kinds(tmp_path / "key.pem") == ["encrypted-key"]


def test_a_broken_block_beside_good_ones_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_bytes(
        LEAF + b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    loaded = load_file(str(tmp_path / "x.pem"))
    assert len(loaded.certs) == 1
    assert loaded.bad_blocks and "CERTIFICATE" in loaded.bad_blocks[0]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "not-a-certificate"),
        (b"hello\n", "not-a-certificate"),
        (b"\x00" * 64, "not-a-certificate"),
    ],
    ids=["empty", "text", "binary"],
)
def test_files_without_certificates(tmp_path: Path, content: bytes, problem: str) -> None:
    (tmp_path / "x").write_bytes(content)
    assert load_file(str(tmp_path / "x")).problem == problem


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    with (tmp_path / "big.pem").open("wb") as out:
        out.truncate(5 * 1024 * 1024)
    loaded = load_file(str(tmp_path / "big.pem"))
    assert (loaded.problem, loaded.detail) == ("not-a-certificate", "larger than 4 MiB")


def test_symlink_loop_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    loaded = load_file(str(tmp_path / "loop"))
    assert (loaded.problem, loaded.detail) == ("file-unreadable", "symbolic link loop")


PEM_PIECES = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"-----END PRIVATE KEY-----\n",
        b"-----BEGIN PKCS7-----\n",
        b"-----END PKCS7-----\n",
        b"MIIB\n",
        b"\r\n",
        LEAF[:200],
        LEAF[200:],
        KEY[:100],
        KEY[100:],
        b"\x30\x82\x01",
    ]
)


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(st.binary(max_size=600), st.lists(PEM_PIECES, max_size=12).map(b"".join)))
def test_parse_never_raises(data: bytes) -> None:
    """Any bytes: blocks and words about bad blocks, never an exception."""
    blocks, bad = parse(data)
    assert all(b.kind in ("cert", "key", "encrypted-key") for b in blocks)
    assert all(isinstance(word, str) for word in bad)


BEGIN_LINES = st.sampled_from(
    [
        b"-----BEGIN CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\r\n",
        b"-----BEGIN PRIVATE KEY-----\n",
        b"-----BEGIN PKCS7-----\n",
        b"-----BEGIN X509 CERTIFICATE-----\n",
        b"-----END CERTIFICATE-----\n",
    ]
)


@settings(max_examples=60, deadline=None)
@given(
    repeated=st.lists(st.tuples(BEGIN_LINES, st.integers(1, 40_000)), min_size=1, max_size=3),
    tail=st.lists(PEM_PIECES, max_size=6).map(b"".join),
)
def test_parse_of_huge_unterminated_input_is_bounded(
    repeated: list[tuple[bytes, int]], tail: bytes
) -> None:
    """Up to 3 MB of BEGIN lines without their END, then anything: data back, in linear time."""
    data = b"".join(line * count for line, count in repeated) + tail
    start = time.monotonic()
    blocks, bad = parse(data)
    assert time.monotonic() - start < 2.0
    assert all(b.kind in ("cert", "key", "encrypted-key") for b in blocks)
    assert all(isinstance(word, str) for word in bad)


def test_key_on_a_curve_cryptography_does_not_know_is_a_bad_block() -> None:
    """Found by `make fuzz`: UnsupportedAlgorithm is neither ValueError nor TypeError."""
    data = (Path(__file__).parent / "data" / "key-on-unknown-curve.pem").read_bytes()
    blocks, bad = parse(data)
    assert not any(b.kind == "key" for b in blocks)
    assert any("not supported" in reason for reason in bad)


def test_san_with_a_name_type_cryptography_cannot_read_is_set_aside() -> None:
    """Found by `make fuzz`: x400Address/EDIPartyName raise UnsupportedGeneralNameType, an
    Exception of its own, when the extensions are read."""
    data = (Path(__file__).parent / "data" / "san-x400-address.bin").read_bytes()
    blocks, _ = parse(data)
    assert [b.kind for b in blocks] == ["malformed"]
    assert "not supported" in blocks[0].malformed


class Recorded(io.BytesIO):
    """A stream that notes the sizes asked of read()."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


@pytest.mark.parametrize(
    ("content", "stat_size", "asked"),
    [
        (KEY, len(KEY), [len(KEY) + 1]),  # the usual case: one read of the size known
        (KEY + CA, len(KEY), [len(KEY) + 1, MAX_PEM_BYTES - len(KEY)]),  # grew since the stat
        (KEY, 0, [1, MAX_PEM_BYTES]),  # a file whose stat says 0 (/proc): read to the limit
    ],
)
def test_a_file_is_read_with_its_size_not_a_4_mib_buffer(
    content: bytes, stat_size: int, asked: list[int]
) -> None:
    """read(4 MiB) for each of 10,000 key files left 30 MB of holes in the heap."""
    stream = Recorded(content)
    assert read_at_most(stream, stat_size) == content
    assert stream.asked == asked


def test_a_file_that_grew_past_the_limit_is_cut_as_before() -> None:
    stream = Recorded(b"x" * (MAX_PEM_BYTES + 10))
    assert len(read_at_most(stream, 5)) == MAX_PEM_BYTES + 1


def test_text_that_is_no_der_is_not_handed_to_the_der_loaders() -> None:
    """A configuration file named on the command line is asked whether it is a certificate
    at every start: it is no ASN.1 SEQUENCE, so PKCS#7's loader (4 ms to import) is not
    tried on it; DER itself is still read (test_der_certificate_and_key)."""
    script = (
        "import sys; from mailtls.pki.load import parse;"
        " assert parse(b'protocols = imap\\nssl = required\\n') == ([], []);"
        " assert parse(b'') == ([], []);"
        " print('cryptography.hazmat.primitives.serialization.pkcs7' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr
