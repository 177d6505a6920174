"""`mailtls explain` for the configuration and live codes: why each matters, the fix by hand,
and the command that shows it (the certificate codes are in explain.py)."""

from __future__ import annotations

from mailtls.checks.explain import SHOW_SERVED as SHOW_IMAPS
from mailtls.checks.explain import SHOW_SMTP

DOVECONF = "doveconf -n | grep -E 'ssl|local_name'"
POSTCONF = "postconf -n | grep tls; postconf -P | grep tls"

# code -> (why it matters, how to fix it by hand, a command that shows it)
CONFIG_EXPLANATIONS: dict[str, tuple[str, str, str]] = {
    "include-unreadable": (
        "Dovecot reads its includes as root at start; a file mailtls cannot read may hide the"
        " certificate settings, so what mailtls reports may not be all the daemon loads.",
        "Run mailtls as root, or make the included file readable to the user running it.",
        "doveconf -n",
    ),
    "quoted-file-value": (
        'Dovecot 2.3 takes `ssl_cert = "</path"` as the literal text "</path", not as the file:'
        " the daemon then has no valid certificate.",
        "Write it unquoted: ssl_cert = </etc/ssl/mail/fullchain.pem",
        DOVECONF,
    ),
    "missing-file-prefix": (
        "In Dovecot 2.3 `ssl_cert = /path` is the certificate's PEM text, not a file name; the"
        " `<` says 'read this file'. Dovecot fails to load it at the first TLS connection.",
        "Add the `<`: ssl_cert = </etc/ssl/mail/fullchain.pem (and ssl_key = </...key.pem).",
        DOVECONF,
    ),
    "file-content-as-path": (
        "Dovecot 2.4 `ssl_server_cert_file` takes a path; `<` there is part of the name, so the"
        " file is not found.",
        "Drop the `<`: ssl_server_cert_file = /etc/ssl/mail/fullchain.pem",
        DOVECONF,
    ),
    "wrong-version-setting": (
        "Dovecot 2.4 renamed the certificate settings (ssl_cert -> ssl_server_cert_file, and so"
        " on); a 2.3 name in a 2.4 configuration, or the reverse, is an unknown setting and the"
        " daemon refuses to start.",
        "Use the names of the Dovecot version installed (dovecot --version).",
        "doveconf -n",
    ),
    "unresolved-variable": (
        "A `$name` with no value where it is used expands to nothing, so the path the daemon"
        " reads is not the one meant.",
        "Define the variable before its use, or write the path out.",
        POSTCONF,
    ),
    "local-name-shadowed": (
        "Several local_name blocks match the same name; Dovecot 2.3 takes the first, 2.4 the"
        " last, so this block never serves that name and its certificate is never sent for it.",
        "Remove the name from one of the blocks, or merge the blocks.",
        "doveconf -n | grep -A3 local_name",
    ),
    "no-certificate": (
        "TLS is on for a protocol but no certificate is set for it: every TLS handshake there"
        " fails.",
        "Set ssl_cert/ssl_key (2.3) or ssl_server_cert_file/ssl_server_key_file (2.4), globally"
        " or in that protocol's block, or turn TLS off for it.",
        DOVECONF,
    ),
    "chain-files-conflict": (
        "With smtpd_tls_chain_files set, Postfix ignores smtpd_tls_cert_file and"
        " smtpd_tls_key_file: a certificate renewed there is never served.",
        "Keep one of the two styles: remove the cert/key file settings, or the chain files.",
        POSTCONF,
    ),
    "sni-map-missing": (
        "tls_server_sni_maps names a source file that does not exist: Postfix cannot open the"
        " map and answers every SNI name with the default certificate, or fails.",
        "Create the map source and build it with postmap -F, or remove the setting.",
        "postconf tls_server_sni_maps",
    ),
    "sni-map-not-built": (
        "The SNI map's source exists but was never indexed: Postfix reads the index (.db, .lmdb,"
        " .cdb), not the source, so the SNI certificates are not served.",
        "postmap -F hash:/etc/postfix/sni_map (the map's type and path), then postfix reload.",
        "postmap -F -q NAME hash:/etc/postfix/sni_map | head -c 300",
    ),
    "sni-map-stale": (
        "postmap -F copies the certificate and key files into the index: a certificate renewed"
        " since then is not what Postfix sends for those names.",
        "Rebuild the index with postmap -F after each renewal (mailtls fix does it for the"
        " files it changes), then postfix reload.",
        "ls -l --time-style=full-iso /etc/postfix/sni_map*",
    ),
    "sni-map-unsupported": (
        "The SNI map's type (pcre, ldap, mysql, ...) is not one mailtls reads, so the"
        " certificates it names are not checked.",
        "Check those certificate files with mailtls audit FILE --key KEY --name NAME.",
        "postconf tls_server_sni_maps",
    ),
    "inline-pem": (
        "The certificate is written inside the configuration, not in a file: renewals do not"
        " update it, and it is easy to forget.",
        "Move it to a file and point the setting at it.",
        DOVECONF,
    ),
    "runtime-variable": (
        "The path depends on the connection (%{...}): which file is loaded is only known at"
        " connection time, so mailtls cannot check it.",
        "Check each file the variable can lead to with mailtls audit FILE --key KEY.",
        DOVECONF,
    ),
    "config-syntax": (
        "A main.cf line starting with white space continues the line before it: the setting"
        " on it is not a setting, Postfix silently reads it as part of the previous value.",
        "Remove the leading white space.",
        "postconf -n",
    ),
    "endpoint-unreachable": (
        "Nothing answered on that port within the timeout, or the connection was refused:"
        " clients cannot connect at all.",
        "Check that the daemon runs and listens there (ss -ltnp), and the firewall.",
        "ss -ltnp",
    ),
    "starttls-missing": (
        "The server did not offer STARTTLS on a port where clients expect it: they send"
        " passwords in clear, or refuse to connect.",
        "Dovecot: ssl = yes (or required); Postfix: smtpd_tls_security_level = may (port 25),"
        " encrypt (submission), and a certificate.",
        SHOW_SMTP,
    ),
    "protocol-error": (
        "The server closed early, spoke something that is not IMAP, POP3, SMTP or ManageSieve,"
        " or did not finish its dialogue in time: clients fail the same way.",
        "Check the daemon's log and that the right service listens on the port.",
        "openssl s_client -connect HOST:143 -starttls imap </dev/null",
    ),
    "tls-handshake-failed": (
        "The TLS handshake failed: most often the daemon could not load its certificate or key"
        " (a key that does not fit, a file it cannot read) and every client fails.",
        "Read the daemon's log at the time of the failure; mailtls audit the configuration.",
        SHOW_IMAPS,
    ),
    "served-chain-stale": (
        "The daemon sends another certificate than its file holds: the file was renewed or"
        " fixed but the daemon not reloaded, so clients still get the old one.",
        "doveadm reload / postfix reload (mailtls fix --reload, or mailtls hook, do it).",
        SHOW_IMAPS,
    ),
    "served-chain-incomplete": (
        "The daemon sends fewer certificates than its file holds: the intermediate was added to"
        " the file but the daemon not reloaded (or it reads another file).",
        "Reload the daemon, and check which file it really reads (doveconf -n, postconf -n).",
        SHOW_IMAPS,
    ),
}
