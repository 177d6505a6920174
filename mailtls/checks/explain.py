"""`mailtls explain CODE`: what a code means, why it matters, how to see and fix it by hand."""

from __future__ import annotations

import textwrap

from mailtls.checks.explain_dane import DANE_EXPLANATIONS
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
    "chain-from-cafile": (
        "The certificate file holds the leaf alone, and smtpd_tls_CAfile holds its issuer."
        " Postfix's OpenSSL then builds the chain from the CA file at each handshake and sends"
        " it (Dovecot does not: with the intermediate only in ssl_ca it sends the leaf alone)."
        " It works, but it breaks when the CA file is replaced, and the same certificate file"
        " given to Dovecot is incomplete.",
        "Put the intermediates in the certificate file, after the leaf (or use smtpd_tls_chain_"
        "files); `mailtls fix` builds that chain.",
        SHOW_SMTP,
    ),
    "leaf-not-first": (
        "Dovecot and Postfix load the file's first certificate as the server's own and check the"
        " private key against it. With an intermediate first, Dovecot 2.3 fails every handshake"
        " ('Key is for a different cert than ssl_cert') and Postfix refuses the key; without a"
        " key check, clients get the intermediate as the server certificate and reject it.",
        "Rewrite the file leaf first, then its issuers: `mailtls fix --backup` does this.",
        SHOW_CHAIN,
    ),
    "not-pem": (
        "The daemons read certificates with OpenSSL's PEM readers. A DER file, or a PKCS#7"
        " bundle (.p7b, .p7c, as some CAs ship chains), holds the right certificates in a form"
        " they cannot load: Dovecot says 'There is no valid PEM certificate', Postfix fails to"
        " load the certificate file.",
        "Convert to PEM, leaf first: openssl pkcs7 -print_certs -in FILE.p7b (or openssl x509"
        " -inform DER -in FILE.der), or `mailtls fix --backup`, which writes the same"
        " certificates as PEM in order.",
        "openssl pkcs7 -inform DER -in FILE -print_certs -noout",
    ),
    "key-not-pem": (
        "The daemons read private keys as PEM only; a DER key file cannot be loaded, so the"
        " daemon refuses to start or fails every handshake.",
        "openssl pkey -inform DER -in KEY.der -out KEY.pem, mode 0600, and point the"
        " configuration at KEY.pem. mailtls does not rewrite keys.",
        "openssl pkey -inform DER -in FILE -noout -text",
    ),
    "chain-order": (
        "The leaf is first, but its issuers are not in order after it. TLS 1.2 says each"
        " certificate is followed by its issuer. Many clients reorder, some (older Java,"
        " embedded MTAs) do not and fail.",
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
        "A cross-certificate is served that has expired, or whose issuing root has (a"
        " cross-sign is dead when anything above it is). Clients that trust the newer root stop"
        " there and succeed; older ones follow the cross-sign and fail. This caused the"
        " AddTrust (2020) and DST Root CA X3 (2021) outages.",
        "Remove the cross-signed certificate (or take the CA's current chain without it).",
        SHOW_CHAIN,
    ),
    "cross-sign-served": (
        "A live cross-certificate is served beside a path to a root the trust store holds."
        " Clients with that root do not use it; clients that only have the older root do. It"
        " is often deliberate (Let's Encrypt served ISRG Root X1 cross-signed by DST Root CA X3"
        " for old Android until 2024).",
        "Nothing, while the older root and the cross-sign are both valid. Drop it once clients"
        " that lack the newer root no longer matter, or before the older root expires.",
        SHOW_CHAIN,
    ),
    "shadowed-path": (
        "Two served certificates could issue the same one (a CA and its cross-sign). OpenSSL,"
        " which other mail servers and many mail tools use, takes the first one served that is"
        " valid and does not come back to try the other when it leads to a root it lacks;"
        " path builders that backtrack (NSS, Apple, Android) find the working path. The chain"
        " works for some clients and fails for others.",
        "Serve only the certificate that leads to the trusted root (or put it first);"
        " `mailtls fix` does this.",
        SHOW_CHAIN,
    ),
    "expired-root": (
        "The only path from the leaf ends at a root that has expired. Clients refuse the chain;"
        " those with a newer root would need the chain that leads to it.",
        "Take the CA's current chain (the one to its newer root), or renew with a CA whose root"
        " clients hold.",
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
    "cert-dir-writable": (
        "Whoever can write the folder can replace the certificate, plant files beside it (mailtls"
        " and the daemons read those) or swap names for symlinks while root works there.",
        "Give the folder to root (or the renewal client's user, who owns the files) and close it:"
        " chown root: FOLDER && chmod go-w FOLDER.",
        "stat -c '%a %U:%G %n' FOLDER",
    ),
    "changed-during-fix": (
        "The file was replaced while `mailtls fix` worked (most often a renewal): writing the"
        " chain built from the old bytes would throw the renewal away.",
        "Nothing to undo: the file was left as the other program wrote it. Run `mailtls fix`"
        " again once the renewal is done.",
        "stat -c '%y %s %n' FILE",
    ),
    "cert-symlink-unsafe": (
        "The configured file is a symlink into a folder another user can write: root writing"
        " through it could be steered onto any file.",
        "Point the configuration at the real file, or close every folder on the way to it"
        " (chmod go-w, owned by root or the file's owner).",
        "namei -l FILE",
    ),
}
EXPLANATIONS |= DANE_EXPLANATIONS


def explain(code: str) -> str | None:
    """The text for `code`, or None for a code mailtls does not have."""
    entry = CODES.get(code)
    if entry is None:
        return None
    from mailtls.checks.explain_config import CONFIG_EXPLANATIONS

    known = EXPLANATIONS.get(code) or CONFIG_EXPLANATIONS.get(code)
    why, fix, command = known or (entry.summary, "", "")
    fixable = ", fixable by mailtls fix" if entry.fixable else ""
    lines = [f"{code} ({entry.severity.value}{fixable}): {entry.summary}"]
    if why != entry.summary:
        lines += ["", textwrap.fill(f"Why it matters: {why}", WIDTH)]
    if fix:
        lines += ["", textwrap.fill(f"Fix by hand: {fix}", WIDTH)]
    if command:
        lines += ["", "See it:", f"  {command}"]
    return "\n".join(lines) + "\n"
