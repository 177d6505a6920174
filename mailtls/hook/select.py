"""Which endpoints a renewal concerns: those loading its files, a copy of its leaf anywhere,
or serving one of its names."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace

from mailtls.hook.env import Renewal
from mailtls.models import ConfigResult, Endpoint
from mailtls.pki.chain import fingerprint
from mailtls.pki.load import FileCache


def renewal_leaf(renewal: Renewal, cache: FileCache) -> bytes | None:
    """The fingerprint of the renewed leaf (the first certificate of its cert file)."""
    certs = cache.get(renewal.cert).certs
    return fingerprint(certs[0]) if certs else None


def concerned(endpoint: Endpoint, renewal: Renewal, leaf: bytes | None, cache: FileCache) -> bool:
    ours = {os.path.realpath(f) for f in renewal.files}
    if any(os.path.realpath(f) in ours for f in endpoint.files()):
        return True
    if leaf is not None and any(_first_cert(f, cache) == leaf for f in endpoint.files()):
        return True
    return bool(_names(endpoint.names) & set(renewal.domains))


def _first_cert(path: str, cache: FileCache) -> bytes | None:
    certs = cache.get(path).certs
    return fingerprint(certs[0]) if certs else None


def _names(names: Iterable[str]) -> set[str]:
    return {n.lower().rstrip(".") for n in names}


def select(config: ConfigResult, renewal: Renewal, cache: FileCache) -> ConfigResult:
    """The configuration narrowed to the endpoints the renewal concerns (listeners kept: the
    live check pairs them with the endpoints left)."""
    leaf = renewal_leaf(renewal, cache)
    kept = tuple(e for e in config.endpoints if concerned(e, renewal, leaf, cache))
    ids = {e.id for e in kept}
    findings = tuple(f for f in config.findings if f.endpoint is None or f.endpoint in ids)
    return replace(config, endpoints=kept, findings=findings)
