"""Every finding code mailtls can emit, with its severity and whether `fix` can repair it."""

from __future__ import annotations

from dataclasses import dataclass

from mailtls.models import Endpoint, Finding, Severity

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    fixable: bool
    summary: str


_CODES = [
    # files
    Code("file-missing", E, False, "a certificate file the configuration names does not exist"),
    Code("file-unreadable", E, False, "a certificate or key file cannot be read"),
    Code("not-a-certificate", E, False, "a file holds no certificate (garbage, CSR, wrong file)"),
    Code("key-missing", E, False, "no private key where the configuration says it is"),
    Code("key-mismatch", E, False, "the private key does not belong to the certificate"),
    Code("key-permissions", W, False, "the private key is readable by others or not owned by root"),
    Code("key-encrypted", E, False, "the private key needs a passphrase the daemon may not have"),
    Code("not-pem", E, True, "a DER or PKCS#7 certificate file: the daemons read only PEM"),
    Code("key-not-pem", E, False, "a DER key file: the daemons read only PEM"),
    Code("cert-dir-writable", W, False, "another user can write the certificate's folder"),
    # fix (said by `mailtls fix` about a file it left alone)
    Code("changed-during-fix", W, False, "the file changed while fix ran (a renewal): left alone"),
    Code("cert-symlink-unsafe", W, False, "a symlinked file leads into a folder others can write"),
    Code("malformed-cert", E, False, "a certificate that does not parse as X.509 (set aside)"),
    Code(
        "malformed-cert-ignored",
        INFO,
        False,
        "a malformed certificate beside or trusted, passed over",
    ),
    Code("chain-too-long", E, False, "more certificates than any client verifies (over 100)"),
    # chain
    Code("missing-intermediate", E, True, "the file lacks the intermediate that signs the leaf"),
    Code("chain-from-cafile", INFO, False, "Postfix completes a leaf-only file from its CA file"),
    Code("leaf-not-first", E, True, "the file's first certificate is not the server's own"),
    Code("chain-order", W, True, "the leaf is first but its issuers are out of order"),
    Code("root-in-chain", INFO, True, "the root is served; clients ignore it, it only costs bytes"),
    Code("unrelated-cert", W, True, "a served certificate is not on the leaf's path"),
    Code("duplicate-cert", INFO, True, "the same certificate is served twice"),
    Code("expired-intermediate", E, True, "an intermediate on the served path has expired"),
    Code("expired-cross-sign", W, True, "a cross-sign that, or whose root, has expired is served"),
    Code("cross-sign-served", INFO, False, "a live cross-sign is served beside the trusted path"),
    Code("expired-root", E, False, "the path ends at a trusted root that has expired"),
    Code("shadowed-path", E, True, "OpenSSL takes a served issuer that leads nowhere first"),
    Code("intermediate-expires-before-leaf", W, False, "the chain dies before the leaf does"),
    Code("untrusted-root", E, False, "the chain ends at a root the trust store does not hold"),
    Code("bad-signature", E, True, "a served issuer has the right name but did not sign"),
    Code("untrusted-chain", E, False, "path validation fails for another reason (says which)"),
    # leaf
    Code("cert-expired", E, False, "the certificate has expired"),
    Code("cert-not-yet-valid", E, False, "the certificate is not valid yet"),
    Code("cert-expiring", W, False, "the certificate expires soon"),
    Code("name-mismatch", E, False, "a name the endpoint serves is not in the certificate"),
    Code("weak-key", E, False, "RSA under 2048 bits, ECDSA under 256, or DSA"),
    Code("weak-signature", E, False, "signed with MD5 or SHA-1"),
    Code("key-too-large", W, False, "an RSA key over 8192 bits: slow, and some clients refuse it"),
    Code("self-signed", W, False, "the certificate is self-signed: clients will not trust it"),
    Code("not-server-cert", E, False, "the certificate is not for TLS servers (EKU or CA)"),
    # consistency
    Code(
        "different-certs", W, False, "Dovecot and Postfix serve different certificates for a name"
    ),
    # live (what the daemons serve over the network)
    Code("endpoint-unreachable", E, False, "no connection, or the server stopped answering"),
    Code("starttls-missing", E, False, "the server does not offer STARTTLS on this port"),
    Code("protocol-error", E, False, "the server closed early or spoke something else"),
    Code("tls-handshake-failed", E, False, "the TLS handshake failed"),
    Code("served-chain-stale", E, False, "the daemon serves another certificate than the file"),
    Code("served-chain-incomplete", E, False, "the daemon sends less of the chain than the file"),
    # DANE (audit --dane, hook --dane: the TLSA records published for Postfix's names)
    Code("tlsa-mismatch", E, False, "no signed TLSA record matches the chain on disk"),
    Code("tlsa-served-mismatch", E, False, "no signed TLSA record matches the chain served"),
    Code("tlsa-only-next", E, False, "the TLSA records match only the key to be deployed next"),
    Code("tlsa-unsigned", W, False, "TLSA records without DNSSEC: DANE senders ignore them"),
    Code("tlsa-lookup-failed", E, False, "the TLSA lookup failed (SERVFAIL, timeout, other)"),
    # configuration (emitted by the readers in mailtls/config)
    Code("include-unreadable", E, False, "an !include names a file that cannot be read"),
    Code("quoted-file-value", W, False, 'Dovecot 2.3 `ssl_cert = "</x"`: a quoted literal'),
    Code("missing-file-prefix", E, False, "Dovecot 2.3 `ssl_cert = /x`: taken as PEM text"),
    Code("file-content-as-path", E, False, "Dovecot 2.4 `ssl_server_cert_file = </x`"),
    Code("wrong-version-setting", E, False, "a Dovecot 2.3 setting in 2.4 syntax, or the reverse"),
    Code("unresolved-variable", W, False, "a `$name` with no value where it is used"),
    Code("local-name-shadowed", W, False, "a local_name block another block always wins for"),
    Code("no-certificate", W, False, "TLS is on but no certificate is set"),
    Code(
        "chain-files-conflict", W, False, "chain_files set, so cert_file and key_file are ignored"
    ),
    Code("sni-map-missing", E, False, "the SNI map's source text does not exist"),
    Code("sni-map-not-built", E, False, "the SNI map was never indexed with postmap -F"),
    Code("sni-map-stale", W, False, "the SNI map's index is older than its source or its files"),
    Code("sni-map-unsupported", INFO, False, "an SNI map type mailtls cannot read"),
    Code("inline-pem", INFO, False, "a certificate written inline in the config, not a file"),
    Code("runtime-variable", INFO, False, "a path that depends on the connection (%{...})"),
    Code("config-syntax", W, False, "a line Postfix ignores (it starts with white space)"),
]
CODES = {c.code: c for c in _CODES}


def finding(
    code: str,
    message: str,
    *,
    endpoint: Endpoint,
    path: str | None = None,
    hint: str = "",
) -> Finding:
    """A finding of a registered code, placed at the endpoint's config line."""
    entry = CODES[code]
    return Finding(
        code,
        entry.severity,
        message,
        source=endpoint.source,
        path=path,
        endpoint=endpoint.id,
        hint=hint,
        fixable=entry.fixable,
    )
