"""Where Dovecot listens: its built-in listeners, changed by `inet_listener` blocks, for the
protocols it serves."""

from __future__ import annotations

from mailtls.config.dovecot import DovecotConfig, list_items, protocols
from mailtls.errors import ConfigError
from mailtls.models import Listener

# (login service, listener): (protocol, port, implicit TLS, STARTTLS dialogue)
DEFAULTS = {
    ("imap-login", "imap"): ("imap", 143, False, "imap"),
    ("imap-login", "imaps"): ("imap", 993, True, None),
    ("pop3-login", "pop3"): ("pop3", 110, False, "pop3"),
    ("pop3-login", "pop3s"): ("pop3", 995, True, None),
    ("submission-login", "submission"): ("submission", 587, False, "submission"),
    ("managesieve-login", "sieve"): ("sieve", 4190, False, "sieve"),
}
STARTTLS = {
    "imap-login": "imap",
    "pop3-login": "pop3",
    "submission-login": "submission",
    "managesieve-login": "sieve",
}
PROTOCOL = {
    "imap-login": "imap",
    "pop3-login": "pop3",
    "submission-login": "submission",
    "managesieve-login": "sieve",
}
WILDCARDS = ("*", "::", "0.0.0.0", "[::]")  # noqa: S104 (names, not a bind)


def listeners(config: DovecotConfig) -> list[Listener]:
    """Each TLS-capable listener of an enabled protocol; `port = 0` turns one off."""
    settings = config.effective(())
    served = set(protocols(config)[0])
    _check_duplicates(config)
    listen = settings["listen"].value.split(",")[0].strip() if "listen" in settings else "*"
    found = []
    for key in [*DEFAULTS, *(k for k in config.listeners if k not in DEFAULTS)]:
        service, name = key
        protocol = PROTOCOL.get(service)
        if protocol is None or protocol not in served:
            continue
        default = DEFAULTS.get(key, (protocol, 0, False, STARTTLS[service]))
        own = config.listeners.get(key, {})
        raw = own.get("port")
        port = default[1] if raw is None else _port(config, key, raw)
        if port == 0:
            continue
        implicit = own.get("ssl", "yes" if default[2] else "no") == "yes"
        host = own.get("address", listen).split(",")[0].strip()
        host = "127.0.0.1" if host in WILDCARDS else host.strip("[]")
        found.append(
            Listener(
                "dovecot",
                f"{service}/{name}",
                host,
                port,
                None if implicit else STARTTLS[service],
                config.path,
            )
        )
    return found


def _port(config: DovecotConfig, key: tuple[str, str], raw: str) -> int:
    # str.isdigit and int() take "1⁴3" and "١٤٣"; Dovecot takes 0-65535 in ASCII digits only.
    if raw.isascii() and raw.isdigit() and int(raw) <= 65535:
        return int(raw)
    raise ConfigError(
        f"{config.path}: service {key[0]} {{ inet_listener {key[1]} {{ port = {raw} }} }}:"
        " Invalid port number (doveconf refuses it)"
    )


def _check_duplicates(config: DovecotConfig) -> None:
    """Two listeners on one port and address, of protocols a block serves, stop Dovecot (found
    by differential testing: doveconf's `duplicate listener`, checked in each block's view).
    Checked only where the configuration sets `protocols`: the default differs between builds."""
    views = {
        s["protocols"].value
        for scope in config.scopes
        if "protocols" in (s := config.effective(scope))
    }
    for value in views:
        _check_view(config, set(list_items(value)))


def _check_view(config: DovecotConfig, served: set[str]) -> None:
    settings = config.effective(())
    listen = settings["listen"].value if "listen" in settings else "*"
    seen: set[tuple[int, frozenset[str]]] = set()
    for key in [*DEFAULTS, *(k for k in config.listeners if k not in DEFAULTS)]:
        if PROTOCOL.get(key[0]) not in served:
            continue
        own = config.listeners.get(key, {})
        port = DEFAULTS[key][1] if key in DEFAULTS and "port" not in own else 0
        port = _port(config, key, own["port"]) if "port" in own else port
        where = (port, frozenset(own.get("address", listen).replace(",", " ").split()))
        if port and where in seen:
            raise ConfigError(f"{config.path}: duplicate listener: {port}: two listeners share it")
        seen.add(where)
