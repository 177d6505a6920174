"""`mailtls explain` for the DANE codes: why a TLSA record set matters, how to repair it."""

from __future__ import annotations

SHOW_TLSA = "dig +dnssec +multi TLSA _25._tcp.MX.EXAMPLE.ORG  (flags: ad = validated)"
RECORDS = "mailtls dane records /etc/postfix"

# code -> (why it matters, how to fix it by hand, a command that shows it)
DANE_EXPLANATIONS: dict[str, tuple[str, str, str]] = {
    "tlsa-mismatch": (
        "Senders that validate DANE (Postfix with smtp_dns_support_level = dnssec, Exim, large"
        " mail providers) look up the TLSA records of _25._tcp.MX and refuse a server whose"
        " chain matches none of them: they defer the mail and retry for days, and nothing on"
        " the receiving side says so. Typical after a renewal that made a new key (certbot's"
        " default) or after the CA changed its intermediate, with 3 1 1 or 2 1 1 records of"
        " the old ones.",
        "Publish the records the message names (3 1 1 of the leaf's key, 2 1 1 of the CA that"
        " issued it) beside the old ones, wait for the old records' TTL, then remove the old"
        " ones. For the next renewal, reuse the key (certbot --reuse-key) or publish the next"
        " key's record first: mailtls dane records --next NEWKEY.",
        RECORDS,
    ),
    "tlsa-served-mismatch": (
        "What the listener sends now matches none of the signed TLSA records: DANE senders"
        " defer mail to it at this moment. When the chain on disk does match, the daemon was"
        " not reloaded after the files changed.",
        "postfix reload when the files are right; else publish the records of the chain served"
        " (mailtls dane records) until the new chain is in place.",
        "posttls-finger -c -l dane -L summary '[MX.EXAMPLE.ORG]'  (Verified: matches)",
    ),
    "tlsa-only-next": (
        "The records match the key given with --next, not the chain the daemon serves: they"
        " were changed too early, before the rollover, and the records of the current chain"
        " were removed. Until the new key is deployed, DANE senders defer mail.",
        "Publish the current chain's records again (the message names them), keep both until"
        " the new key is served, then remove the old.",
        RECORDS,
    ),
    "tlsa-unsigned": (
        "TLSA records count only when the DNS answer is DNSSEC-validated (RFC 7672 section"
        " 2.2): a sender's resolver that cannot validate them ignores them and DANE is off."
        " The AD bit was not set: either the zone (or a parent) is not signed, or the resolver"
        " mailtls asked does not validate (give --resolver with a validating one, e.g."
        " unbound on 127.0.0.1).",
        "Sign the zone and publish its DS record at the parent, or query a validating"
        " resolver; records nobody validates protect nothing.",
        SHOW_TLSA,
    ),
    "tlsa-lookup-failed": (
        "An error, not a warning: a SERVFAIL for a signed domain (bogus signatures, a broken"
        " denial of existence, an unreachable name server) makes DANE senders treat the MX as"
        " unusable and defer mail (RFC 7672 section 2.1.1), which is as bad as a record that"
        " does not match. A timeout or SERVFAIL may also be the local resolver's own trouble"
        " (no network, a non-validating forwarder); mailtls cannot tell with one resolver, so"
        " check with another before acting. The message has the status and its detail.",
        "Ask another validating resolver (dig @OTHER +dnssec TLSA ...); if it fails there"
        " too, repair the zone's signatures or its name servers; if not, repair the local"
        " resolver. dig +cd shows the records without validation.",
        SHOW_TLSA,
    ),
}
