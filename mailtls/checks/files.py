"""File checks: what an endpoint's files hold, whether its key is there, fits and is private."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cryptography import x509

from mailtls.checks.registry import CODES, finding
from mailtls.models import Endpoint, Finding
from mailtls.pki.chain import is_ca, issued_by, key_fits, self_signed
from mailtls.pki.load import FileCache, KeyHalf, LoadedFile

MAX_CHAIN_CERTS = 100


@dataclass
class Served:
    """One key and the certificates the daemon sends with it, as the files hold them."""

    cert_path: str
    key_path: str | None
    certs: list[x509.Certificate] = field(default_factory=list)
    keys: list[KeyHalf] = field(default_factory=list)  # public halves of the private keys
    key_encrypted: bool = False
    unordered: bool = False  # PKCS#7 holds a set of certificates: their order means nothing
    # `*_tls_chain_files`: the file each certificate came from (the key's file is cert_path)
    cert_files: list[str] = field(default_factory=list)

    def leaf_index(self) -> int:
        """The server's own certificate: the one its key fits, else the first that is no CA."""
        for index, cert in enumerate(self.certs):
            if any(key_fits(key, cert) for key in self.keys):
                return index
        return next((i for i, c in enumerate(self.certs) if not is_ca(c)), 0)


def served_groups(endpoint: Endpoint, cache: FileCache) -> tuple[list[Served], list[Finding]]:
    """The key/chain groups an endpoint presents, and what is wrong with its files."""
    groups, findings = _groups(endpoint, cache)
    for group in groups:
        if len(group.certs) > MAX_CHAIN_CERTS:
            findings.append(
                finding(
                    "chain-too-long",
                    f"{group.cert_path} serves {len(group.certs)} certificates; OpenSSL verifies"
                    f" at most {MAX_CHAIN_CERTS} (its default verify depth), most clients fewer",
                    endpoint=endpoint,
                    path=group.cert_path,
                )
            )
    return groups, findings


def _groups(endpoint: Endpoint, cache: FileCache) -> tuple[list[Served], list[Finding]]:
    findings: list[Finding] = []
    if endpoint.chain_files:
        return _chain_groups(endpoint, cache, findings), findings
    if endpoint.cert_file is None:
        return [], findings
    cert = cache.get(endpoint.cert_file)
    if cert.problem:
        findings.append(_file_problem(endpoint, cert))
        return [], findings
    findings += _malformed(endpoint, cert)
    group = Served(endpoint.cert_file, endpoint.key_file, list(cert.certs))
    if not group.certs and any(b.kind == "malformed" for b in cert.blocks):
        return [], findings  # malformed-cert said why
    group.unordered = any("PKCS#7" in form for form in cert.forms)
    findings += _not_pem(endpoint, cert)
    if not group.certs:
        findings.append(
            finding(
                "not-a-certificate",
                f"{cert.path} holds a key but no certificate",
                endpoint=endpoint,
                path=cert.path,
            )
        )
        return [], findings
    key = cache.get(endpoint.key_file) if endpoint.key_file else None
    if key is not None:
        group.keys, group.key_encrypted = list(key.keys), key.encrypted
        if key.path != cert.path:
            findings += _not_pem(endpoint, key)
    return [group], findings


def _not_pem(endpoint: Endpoint, loaded: LoadedFile) -> list[Finding]:
    """Dovecot and Postfix read certificates and keys with OpenSSL's PEM readers: a DER or
    PKCS#7 file that mailtls can parse is still a file the daemon cannot load."""
    if not loaded.forms:
        return []
    forms = " and ".join(sorted(loaded.forms))
    if any(b.kind == "cert" and b.form != "PEM" for b in loaded.blocks):
        return [
            finding(
                "not-pem",
                f"{loaded.path} holds {forms}, not PEM: Dovecot says 'There is no valid PEM"
                " certificate' and Postfix cannot load it either",
                endpoint=endpoint,
                path=loaded.path,
                hint="mailtls fix writes the same certificates as PEM",
            )
        ]
    return [
        finding(
            "key-not-pem",
            f"{loaded.path} holds a {forms} key, not PEM: neither Dovecot nor Postfix can load it",
            endpoint=endpoint,
            path=loaded.path,
            hint=f"openssl pkey -inform DER -in {loaded.path} -out KEY.pem (then point the"
            " configuration at KEY.pem, mode 0600)",
        )
    ]


def _file_problem(endpoint: Endpoint, loaded: LoadedFile) -> Finding:
    assert loaded.problem is not None
    return finding(
        loaded.problem, f"{loaded.path}: {loaded.detail}", endpoint=endpoint, path=loaded.path
    )


def _malformed(endpoint: Endpoint, loaded: LoadedFile) -> list[Finding]:
    """A certificate that breaks X.509: set aside (or, a bad serial, kept) and said."""
    return [
        finding("malformed-cert", f"{loaded.path}: {note}", endpoint=endpoint, path=loaded.path)
        for note in loaded.malformed
    ]


def _chain_groups(endpoint: Endpoint, cache: FileCache, findings: list[Finding]) -> list[Served]:
    """Postfix `*_tls_chain_files`: each key is followed by its certificate and chain."""
    groups: list[Served] = []
    for path in endpoint.chain_files:
        loaded = cache.get(path)
        if loaded.problem:
            findings.append(_file_problem(endpoint, loaded))
            continue
        findings += _not_pem(endpoint, loaded)
        findings += _malformed(endpoint, loaded)
        for block in loaded.blocks:
            if block.kind in ("key", "encrypted-key"):
                groups.append(Served(path, path, key_encrypted=block.kind == "encrypted-key"))
                if block.key is not None:
                    groups[-1].keys.append(block.key)
            elif block.cert is not None:
                if not groups:  # certificates before any key: no key serves them
                    groups.append(Served(path, None))
                groups[-1].certs.append(block.cert)
                groups[-1].cert_files.append(path)
    return [g for g in groups if g.certs or g.keys]


def set_aside_findings(set_aside: Iterable[tuple[str, str]], served: set[str]) -> list[Finding]:
    """malformed-cert-ignored, once per certificate, for files that are not served (a served
    file's malformed certificates are malformed-cert)."""
    code = CODES["malformed-cert-ignored"]
    return [
        Finding(code.code, code.severity, f"{path}: {note}; passed over", path=path)
        for path, note in dict.fromkeys(set_aside)
        if path not in served
    ]


def key_findings(endpoint: Endpoint, group: Served, cache: FileCache) -> Iterator[Finding]:
    """key-missing, key-encrypted, key-mismatch, key-permissions for one served group."""
    if group.key_encrypted:
        yield finding(
            "key-encrypted",
            f"{group.key_path}: the private key is encrypted; the daemon must be given its"
            " passphrase at every start (Postfix cannot be)",
            endpoint=endpoint,
            path=group.key_path,
        )
        return
    if not group.keys and endpoint.service == "file" and group.key_path is None:
        return  # a certificate file checked alone: its key is checked only when given
    if not group.keys:
        where = group.key_path or group.cert_path
        problem = cache.get(where).detail if group.key_path else ""
        said = f"key file {where}: {problem}" if problem else f"{where} holds no private key"
        yield finding("key-missing", said, endpoint=endpoint, path=where)
        return
    fits = any(key_fits(k, c) for k in group.keys for c in group.certs)
    if group.certs and not fits:
        yield finding(
            "key-mismatch",
            f"{group.key_path} does not hold the key of {group.certs[0].subject.rfc4514_string()}"
            " (the daemon refuses to start or fails every handshake)",
            endpoint=endpoint,
            path=group.key_path,
        )
    if group.key_path:
        yield from _permission_findings(endpoint, cache.get(group.key_path))


def _permission_findings(endpoint: Endpoint, loaded: LoadedFile) -> Iterator[Finding]:
    if loaded.mode is None:
        return
    if loaded.mode & 0o077 or loaded.uid != 0:
        owner = "root" if loaded.uid == 0 else f"uid {loaded.uid}"
        yield finding(
            "key-permissions",
            f"{loaded.path} is mode {loaded.mode:04o}, owned by {owner}: a private key should be"
            " 0600 (or 0400) and owned by root",
            endpoint=endpoint,
            path=loaded.path,
            hint=f"chown root:root {loaded.path} && chmod 600 {loaded.path}",
        )


def complete_from_ca_file(endpoint: Endpoint, group: Served, cache: FileCache) -> list[Finding]:
    """Postfix serving a leaf alone: OpenSSL completes the chain from `smtpd_tls_CAfile` at
    each handshake (its automatic chain building runs only when the certificate file holds
    no chain certificates). Dovecot does not: with the intermediate only in `ssl_ca`, it
    sends the leaf alone. `group.certs` becomes what Postfix sends."""
    if endpoint.service != "postfix" or not endpoint.ca_file or len(group.certs) != 1:
        return []
    pool = cache.get(endpoint.ca_file).certs
    added: list[x509.Certificate] = []
    current = group.certs[0]
    while not self_signed(current) and len(added) < len(pool):
        parent = next((c for c in pool if c not in added and issued_by(current, c)), None)
        if parent is None:
            break
        added.append(parent)
        current = parent
    if not added:
        return []
    group.certs += added
    return [
        finding(
            "chain-from-cafile",
            f"{group.cert_path} holds the leaf alone; Postfix sends"
            f" {len(added)} more certificate(s) from its CA file {endpoint.ca_file} (OpenSSL"
            " builds the chain from it at each handshake): the chain breaks if that file"
            " changes; put the chain in the certificate file",
            endpoint=endpoint,
            path=group.cert_path,
        )
    ]
