"""What a renewal client tells its deploy hook: certbot's and acme.sh's environment,
dehydrated's arguments. Values only; nothing is read from disk here."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mailtls.errors import UsageError

# dehydrated calls its HOOK for every step; only deploy_cert concerns us, the others are no-ops.
DEHYDRATED_OPERATIONS = frozenset(
    {
        "deploy_challenge",
        "clean_challenge",
        "sync_cert",
        "deploy_cert",
        "deploy_ocsp",
        "unchanged_cert",
        "invalid_challenge",
        "request_failure",
        "generate_csr",
        "startup_hook",
        "exit_hook",
        # called at startup and per certificate to check that the hook ignores unknown steps;
        # an error here stops dehydrated before it renews anything
        "this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script",
    }
)
MAX_DOMAINS = 1000  # a SAN certificate holds at most a few hundred names


@dataclass(frozen=True)
class Renewal:
    """One renewed certificate: its leaf file, where its intermediates are, all its files,
    and its names."""

    client: str  # certbot, acme.sh, dehydrated
    name: str  # the lineage folder or the main domain, for messages
    cert: str  # the leaf alone (certbot's cert.pem)
    chain_files: tuple[str, ...]  # chain.pem, fullchain.pem: the first source of intermediates
    files: tuple[str, ...]  # every file of the renewal, key included
    domains: tuple[str, ...]


def split_dehydrated(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(paths, dehydrated's arguments): dehydrated's operation name and what follows it, when
    one is among the arguments (`mailtls hook [PATH...] deploy_cert DOMAIN KEY CERT ...`)."""
    for index, arg in enumerate(args):
        if arg in DEHYDRATED_OPERATIONS:
            return list(args[:index]), list(args[index:])
    return list(args), []


def from_dehydrated(args: Sequence[str], env: Mapping[str, str]) -> Renewal | None:
    """deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP; None for the
    other operations (the hook has nothing to do then). DOMAIN is the certificate's first
    name; dehydrated exports all of them in `altnames`."""
    if not args or args[0] != "deploy_cert":
        return None
    if len(args) < 6:
        raise UsageError(
            "dehydrated deploy_cert needs DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE"
            f" [TIMESTAMP]; got {len(args) - 1} argument(s)"
        )
    domain, key, cert, fullchain, chain = args[1:6]
    names = env.get("altnames", "")
    if domain not in names.split():  # not dehydrated's own list for this certificate
        names = ""
    return Renewal(
        "dehydrated",
        domain,
        cert,
        (chain, fullchain),
        _present(cert, key, chain, fullchain),
        _domains(f"{domain} {names}"),
    )


def from_environment(env: Mapping[str, str]) -> Renewal | None:
    """certbot's RENEWED_LINEAGE/RENEWED_DOMAINS, else acme.sh's --reloadcmd variables."""
    lineage = env.get("RENEWED_LINEAGE")
    if lineage:
        files = {n: os.path.join(lineage, f"{n}.pem") for n in ("cert", "chain", "fullchain")}
        return Renewal(
            "certbot",
            lineage,
            files["cert"],
            (files["chain"], files["fullchain"]),
            (*files.values(), os.path.join(lineage, "privkey.pem")),
            _domains(env.get("RENEWED_DOMAINS", "")),
        )
    cert = env.get("CERT_PATH")
    if cert:
        chain = env.get("CA_CERT_PATH", "")
        fullchain = env.get("CERT_FULLCHAIN_PATH", "")
        domain = env.get("Le_Domain", "")
        return Renewal(
            "acme.sh",
            domain or cert,
            cert,
            _present(chain, fullchain),
            _present(cert, env.get("CERT_KEY_PATH", ""), chain, fullchain),
            _domains(domain),
        )
    return None


def _present(*paths: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for p in paths if p))


def _domains(text: str) -> tuple[str, ...]:
    names = text.split()
    if len(names) > MAX_DOMAINS:
        raise UsageError(f"the renewal names {len(names)} domains; at most {MAX_DOMAINS}")
    return tuple(dict.fromkeys(n.lower().rstrip(".") for n in names))
