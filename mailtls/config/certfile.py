"""A certificate file named on the command line: one endpoint, checked as a daemon would load it.

An admin with a bundle from their CA checks it before installing it: `mailtls audit
chain.pem [--key KEY] [--name NAME]`, and `mailtls fix chain.pem` completes it in place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from mailtls.models import ConfigResult, Endpoint, Location
from mailtls.pki.load import MAX_PEM_BYTES, load_file

# A line that only a Dovecot configuration has: a file that says one of these is a
# configuration (perhaps with a certificate written inline), not a certificate file.
_DOVECOT_LINE = re.compile(
    rb"^[ \t]*(?:ssl_\w+[ \t]*=|!include|protocol[ \t]|local_name[ \t]|local[ \t]|remote[ \t]"
    rb"|service[ \t]|dovecot_config_version)",
    re.M,
)
_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 #]+-----.*?-----END [A-Z0-9 #]+-----", re.S)


def is_certificate_file(path: str) -> bool:
    """Whether `path` holds certificates (PEM, DER, PKCS#7) and nothing of a configuration."""
    loaded = load_file(path)
    if loaded.problem or not loaded.certs:
        return False
    outside = _PEM_BLOCK.sub(b"", loaded.data[:MAX_PEM_BYTES])
    return not _DOVECOT_LINE.search(outside)


def read(path: str, key_file: str | None, names: Sequence[str]) -> ConfigResult:
    """The file as one server endpoint; its key is `key_file`, or the file itself when it
    holds one (a combined file), or none (then the key is not checked)."""
    path = os.path.abspath(path)
    if key_file is None and load_file(path).keys:
        key_file = path
    endpoint = Endpoint(
        id=f"file:{path}",
        service="file",
        role="server",
        scope="file",
        source=Location(path, 0),
        cert_file=path,
        key_file=key_file,
        names=tuple(names),
    )
    return ConfigResult(endpoints=(endpoint,), configs=(path,))
