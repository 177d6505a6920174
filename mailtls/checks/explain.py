"""`mailtls explain CODE`: what a code means, why it matters, how to see and fix it by hand."""

from __future__ import annotations

import textwrap

from mailtls.checks.registry import CODES

WIDTH = 78

SHOW_CHAIN = "openssl crl2pkcs7 -nocrl -certfile FILE | openssl pkcs7 -print_certs -noout"
SHOW_SERVED = "openssl s_client -connect HOST:993 -servername NAME -showcerts </dev/null"
SHOW_SMTP = "openssl s_client -connect HOST:25 -starttls smtp -showcerts </dev/null"
SHOW_DATES = "openssl x509 -in FILE -noout -subject -issuer -dates"

# code -> (why it matters, how to fix it by hand, a command that shows it)
EXPLANATIONS: dict[str, tuple[str, str, str]] = {
    "missing-intermediate": (
        "Clients hold roots, not intermediates. A file with the leaf alone works in browsers that"
        " cached the intermediate and fails everywhere else with 'unknown issuer': phones,"
        " Thunderbird, other mail servers.",
        "Append the intermediate that signed the leaf (its subject is the leaf's issuer, and its"
        " key verifies the leaf's signature): cat leaf.pem intermediate.pem > fullchain.pem, and"
        " point the config at fullchain.pem. `mailtls fix --backup` does this.",
        SHOW_CHAIN,
    ),
    "chain-order": (
        "TLS 1.2 says the leaf comes first and each certificate is followed by its issuer. Many"
        " clients reorder, some (older Java, embedded MTAs) do not and fail.",
        "Rewrite the file in order: leaf, its issuer, that one's issuer.",
        SHOW_CHAIN,
    ),
    "root-in-chain": (
        "A client trusts its own copy of the root; the served one is ignored and costs bytes in"
        " every handshake. A served root that expired can even mislead old clients.",
        "Drop the self-signed certificate from the end of the file.",
        SHOW_CHAIN,
    ),
    "unrelated-cert": (
        "A certificate not on the leaf's path, most often the old intermediate left in the file"
        " after a renewal. Some clients try it and fail.",
        "Remove it; keep only the leaf and the issuers on its path.",
        SHOW_CHAIN,
    ),
    "duplicate-cert": (
        "The same certificate twice: harmless to most clients, but a sign of a file built by"
        " hand that may hide other mistakes.",
        "Keep one copy.",
        SHOW_CHAIN,
    ),
    "expired-intermediate": (
        "An expired certificate on the path makes the whole chain invalid for every client.",
        "Replace it with the current intermediate of your CA (check the CA's repository, or the"
        " leaf's AIA caIssuers URL).",
        SHOW_DATES,
    ),
    "expired-cross-sign": (
        "An expired cross-certificate is served although a valid path exists without it. New"
        " clients find the valid path; older ones follow the expired one and fail. This caused"
        " the AddTrust (2020) and DST Root CA X3 (2021) outages.",
        "Remove the cross-signed certificate (or take the CA's current chain without it).",
        SHOW_CHAIN,
    ),
    "intermediate-expires-before-leaf": (
        "The chain stops validating on the intermediate's expiry date, before the leaf does.",
        "Get the CA's renewed intermediate before that date and serve it instead.",
        SHOW_DATES,
    ),
    "untrusted-root": (
        "The path ends at a root that the trust store (the system's, or --ca-file) lacks: a"
        " private CA, or a CA that clients no longer trust.",
        "Use a publicly trusted CA, or give mailtls your private root with --ca-file (and make"
        " sure every client has it).",
        SHOW_CHAIN,
    ),
    "bad-signature": (
        "A served certificate has the issuer's name, but its key did not sign the child: the old"
        " intermediate, or a look-alike with the same name and another key.",
        "Replace it with the intermediate whose key verifies the leaf:"
        " openssl verify -partial_chain -CAfile intermediate.pem leaf.pem",
        SHOW_CHAIN,
    ),
    "untrusted-chain": (
        "Path validation (RFC 5280 and the Web PKI rules, by pyca/cryptography) fails for a"
        " reason the other checks do not name; the message says which.",
        "Read the reason; compare with: openssl verify -untrusted chain.pem leaf.pem",
        SHOW_CHAIN,
    ),
    "cert-expired": (
        "Every client refuses an expired certificate.",
        "Renew it, install the new leaf and its chain, reload the daemon.",
        SHOW_DATES,
    ),
    "cert-not-yet-valid": (
        "Clients refuse a certificate before its start date (or the server's clock is wrong).",
        "Check the clock (timedatectl); otherwise serve the previous certificate until then.",
        SHOW_DATES,
    ),
    "cert-expiring": (
        "Less than a third of the certificate's life is left (or less than --warn-days): renewal"
        " should have happened by now.",
        "Check the renewal job (certbot renew --dry-run, acme.sh --cron) and its deploy hook.",
        SHOW_DATES,
    ),
    "name-mismatch": (
        "A client that connects with that name (SNI, myhostname, an SNI map key) sees a"
        " certificate that does not list it and refuses it.",
        "Add the name to the certificate's SANs, or serve a certificate that has it.",
        "openssl x509 -in FILE -noout -ext subjectAltName",
    ),
    "weak-key": (
        "RSA keys under 2048 bits, ECDSA under 256 and DSA are refused by current clients.",
        "Make a new key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256) and"
        " have the certificate reissued.",
        "openssl x509 -in FILE -noout -text | grep 'Public-Key'",
    ),
    "key-too-large": (
        "Each handshake costs the server a private-key operation that grows with the cube of"
        " the key size: a 16384-bit RSA key is about 50 times slower than 4096. Go clients"
        " (tlsmaxrsasize) refuse RSA keys over 8192 bits.",
        "Make a 2048- to 4096-bit RSA key or a P-256 key and have the certificate reissued.",
        "openssl x509 -in FILE -noout -text | grep 'Public-Key'",
    ),
    "malformed-cert": (
        "A certificate whose fields break the X.509 rules (a duplicate or malformed extension,"
        " version 4, a zero or negative serial, an unknown key type) is refused by OpenSSL"
        " and most clients. mailtls sets it aside and checks the rest.",
        "Replace it with the certificate as the CA issued it; have a broken one reissued.",
        "openssl x509 -in FILE -noout -text",
    ),
    "malformed-cert-ignored": (
        "A certificate mailtls could have used as an issuer (in a file beside the served one,"
        " in --intermediates or in the trust store) breaks the X.509 rules and was passed over."
        " It is not served, so clients do not see it.",
        "Remove the file, or replace it with the certificate as the CA issued it.",
        "openssl x509 -in FILE -noout -text",
    ),
    "chain-too-long": (
        "OpenSSL verifies at most 100 certificates in a chain (its default verify depth) and"
        " most clients far fewer; a file with more is a mistake (a trust bundle served as the"
        " chain) and costs every handshake its bytes.",
        "Serve the leaf and its intermediates only: `mailtls fix` builds that chain.",
        SHOW_CHAIN,
    ),
    "weak-signature": (
        "MD5 and SHA-1 signatures can be forged; clients refuse them.",
        "Have the certificate reissued with SHA-256.",
        "openssl x509 -in FILE -noout -text | grep 'Signature Algorithm'",
    ),
    "self-signed": (
        "No client trusts a self-signed certificate unless told to; fine between peers that pin"
        " it, wrong for IMAP/POP3/submission users.",
        "Use a certificate from a trusted CA (Let's Encrypt: certbot certonly).",
        SHOW_DATES,
    ),
    "not-server-cert": (
        "The first certificate is a CA, or its extended key usage lacks serverAuth: clients"
        " refuse it as a server certificate.",
        "Serve the server's own certificate first; have it issued for TLS Web Server"
        " Authentication.",
        "openssl x509 -in FILE -noout -ext extendedKeyUsage,basicConstraints",
    ),
    "different-certs": (
        "A client that reads mail with Dovecot and sends with Postfix sees two certificates for"
        " one name: when one is broken or older, half the setup fails and it looks random.",
        "Point both daemons at the same full-chain file (certbot's fullchain.pem).",
        "mailtls audit /etc/dovecot /etc/postfix --format json",
    ),
    "file-missing": (
        "The daemon cannot start TLS (Dovecot refuses logins, Postfix disables TLS).",
        "Fix the path in the configuration, or restore the file.",
        "ls -l FILE",
    ),
    "file-unreadable": (
        "mailtls (and maybe the daemon) cannot read the file.",
        "Check the path, permissions and symbolic links; run mailtls as root.",
        "namei -l FILE",
    ),
    "not-a-certificate": (
        "The file holds no certificate: a CSR, a key only, an HTML error page, or garbage.",
        "Put the PEM certificate (-----BEGIN CERTIFICATE-----) there.",
        "openssl storeutl -noout -text FILE",
    ),
    "key-missing": (
        "No private key where the configuration says it is: the daemon cannot start TLS.",
        "Point the key setting at the key the certificate was issued for.",
        "openssl pkey -in KEYFILE -noout",
    ),
    "key-mismatch": (
        "The key does not belong to the certificate: Dovecot refuses to start, Postfix fails"
        " every handshake. Typical after renewing with a new key and copying only the cert.",
        "Install the key that belongs to the certificate (the one the CSR was made with).",
        "diff <(openssl x509 -in FILE -noout -pubkey) <(openssl pkey -in KEYFILE -pubout)",
    ),
    "key-permissions": (
        "A private key readable by other users can be stolen by any local account or service.",
        "chown root:root KEYFILE && chmod 600 KEYFILE (Dovecot and Postfix read it as root).",
        "stat -c '%a %U:%G' KEYFILE",
    ),
    "key-encrypted": (
        "An encrypted key needs its passphrase at every start: Postfix cannot be given one,"
        " Dovecot only through ssl_key_password in its config.",
        "Decrypt it into a root-only file: openssl pkey -in KEYFILE -out plain.key",
        "head -1 KEYFILE",
    ),
}


def explain(code: str) -> str | None:
    """The text for `code`, or None for a code mailtls does not have."""
    entry = CODES.get(code)
    if entry is None:
        return None
    why, fix, command = EXPLANATIONS.get(code, (entry.summary, "", ""))
    fixable = ", fixable by mailtls fix" if entry.fixable else ""
    lines = [f"{code} ({entry.severity.value}{fixable}): {entry.summary}"]
    if why != entry.summary:
        lines += ["", textwrap.fill(f"Why it matters: {why}", WIDTH)]
    if fix:
        lines += ["", textwrap.fill(f"Fix by hand: {fix}", WIDTH)]
    if command:
        lines += ["", "See it:", f"  {command}"]
    return "\n".join(lines) + "\n"
