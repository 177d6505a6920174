"""Dovecot endpoints: one per scope and slot that sets a certificate, with the SNI names each
`local_name` block really answers for."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mailtls.config.dovecot import SLOTS, DovecotConfig, Setting, protocols
from mailtls.config.dovecot_filters import Filter
from mailtls.models import ConfigResult, Endpoint, Finding, Location, Severity


def endpoints(config: DovecotConfig) -> ConfigResult:
    """One endpoint per scope and slot (main, alt) that sets a certificate or key."""
    found: list[Endpoint] = []
    findings = list(config.findings)
    names = _served_names(config, findings)
    slots = SLOTS[config.version]
    _check_foreign_names(config, findings)
    _check_protocols(config, findings)
    for scope, own in config.scopes.items():
        wanted = [
            slot
            for slot, (cert_key, key_key) in slots.items()
            if cert_key in own or key_key in own or (scope == () and slot == "main")
        ]
        if not wanted:
            continue
        effective = config.effective(scope)
        for slot in wanted:
            found.append(_endpoint(config, scope, slot, effective, names.get(scope, ()), findings))
    return ConfigResult(tuple(found), tuple(findings), (config.path,))


def _endpoint(
    config: DovecotConfig,
    scope: Filter,
    slot: str,
    effective: dict[str, Setting],
    names: tuple[str, ...],
    findings: list[Finding],
) -> Endpoint:
    cert_key, key_key = SLOTS[config.version][slot]
    label = ", ".join(f"{kind} {value}" for kind, value in scope) or "global"
    endpoint_id = f"dovecot:{label}" + ("" if slot == "main" else f":{slot}")
    cert = effective.get(cert_key)
    key = effective.get(key_key)
    enabled = effective.get("ssl", Setting("yes", Location(config.path, 0))).value != "no"
    named = cert or key
    source = named.location if named else config.scope_locations.get(scope)
    report = _FileReport(config.version, findings, endpoint_id)
    return Endpoint(
        id=endpoint_id,
        service="dovecot",
        role="server",
        scope=label,
        source=source,
        cert_file=report.path_of(cert_key, cert),
        key_file=report.path_of(key_key, key),
        names=names,
        enabled=enabled,
        slot=slot,
        config=config.path,
        ca_file=_ca_file(config.version, effective),
    )


CA_KEYS = {"2.3": "ssl_ca", "2.4": "ssl_server_ca_file"}


def _ca_file(version: str, effective: dict[str, Setting]) -> str | None:
    """The file `ssl_ca = <file` (2.3) or `ssl_server_ca_file = file` (2.4) loads. Dovecot
    loads it only to verify client certificates, so a value it cannot use says nothing about
    the served chain: no finding here, just no file."""
    setting = effective.get(CA_KEYS[version])
    if setting is None or not setting.value:
        return None
    if version == "2.3" and not setting.from_file:
        return None  # PEM text inline, or a path Dovecot would read as PEM text
    if version == "2.4" and (setting.from_file or "%{" in setting.value):
        return None
    return _absolute(setting.value, setting.location)


# Protocols whose login process serves TLS; `protocols` when the configuration does not set it.
LOGIN_PROTOCOLS = ("imap", "pop3", "submission", "sieve")


def _check_protocols(config: DovecotConfig, findings: list[Finding]) -> None:
    """no-certificate for each enabled protocol with TLS on and no certificate in its own
    `protocol` block or globally: its login process fails every handshake ("Can't load SSL
    certificate: The certificate is empty"); Dovecot starts and serves the other protocols."""
    served, set_at = protocols(config)
    cert_key, _ = SLOTS[config.version]["main"]
    lacking: list[tuple[str, Setting | None]] = []
    for protocol in served:
        settings = config.effective((("protocol", protocol),))
        cert, ssl = settings.get(cert_key), settings.get("ssl")
        tls_on = protocol in LOGIN_PROTOCOLS and (ssl is None or ssl.value != "no")
        if tls_on and (cert is None or not cert.value):
            lacking.append((protocol, ssl or set_at))  # the line that turns TLS on
    if not lacking:
        return
    names = ", ".join(protocol for protocol, _ in lacking)
    setting = lacking[0][1]
    where = setting.location if setting else Location(config.path, 0)
    findings.append(
        Finding(
            "no-certificate",
            Severity.WARNING,
            f"TLS is on for {names} but no {cert_key} applies there: Dovecot fails every"
            f" TLS handshake for {names} (set {cert_key} globally or in protocol blocks)",
            source=where if where.line else None,
            path=where.path,
            endpoint="dovecot:global",
        )
    )


@dataclass
class _FileReport:
    version: str
    findings: list[Finding]
    endpoint: str

    def path_of(self, key: str, setting: Setting | None) -> str | None:
        """The file a certificate/key setting loads, or None with a finding saying why."""
        if setting is None or not setting.value:
            return None
        value, here = setting.value, setting.location
        if self.version == "2.4":
            if setting.from_file:
                return self._say(
                    "file-content-as-path",
                    Severity.ERROR,
                    here,
                    f"{key} = <{value}: Dovecot 2.4 reads that file's text and takes it as the"
                    f" file name; write {key} = {value}",
                )
            if "%{" in value:
                return self._say(
                    "runtime-variable",
                    Severity.INFO,
                    here,
                    f"{key} = {value} depends on the connection; it is not checked",
                )
            return _absolute(value, here)
        if setting.from_file:
            return _absolute(value, here)
        if setting.quoted and value.startswith("<"):
            self._say(
                "quoted-file-value",
                Severity.WARNING,
                here,
                f'{key} = "{value}" is quoted: Dovecot takes it as a literal string, so relative'
                f" paths and variables are not resolved; write {key} = {value} without quotes",
            )
            return os.path.normpath(value[1:].strip())
        if value.startswith("-----BEGIN"):
            return self._say(
                "inline-pem", Severity.INFO, here, f"{key} holds PEM text inline, not a file"
            )
        return self._say(
            "missing-file-prefix",
            Severity.ERROR,
            here,
            f"{key} = {value} is taken as PEM text, not a file name; write {key} = <{value}",
        )

    def _say(self, code: str, severity: Severity, where: Location, message: str) -> str | None:
        """Record a finding; the setting names no file mailtls can check, hence None."""
        self.findings.append(Finding(code, severity, message, where, where.path, self.endpoint))
        return None


def _absolute(value: str, where: Location) -> str:
    return os.path.normpath(os.path.join(os.path.dirname(where.path), value))


def _check_foreign_names(config: DovecotConfig, findings: list[Finding]) -> None:
    """A 2.3 name in a 2.4 configuration, or the reverse: that Dovecot refuses to start."""
    other = "2.3" if config.version == "2.4" else "2.4"
    foreign = {key for pair in SLOTS[other].values() for key in pair}
    for settings in config.scopes.values():
        for key, setting in settings.items():
            if key in foreign:
                message = (
                    f"{key} is Dovecot {other} syntax but this configuration is read as"
                    f" {config.version}: Dovecot {config.version} rejects it"
                )
                findings.append(
                    Finding(
                        "wrong-version-setting",
                        Severity.ERROR,
                        message,
                        setting.location,
                        setting.location.path,
                    )
                )


def _served_names(config: DovecotConfig, findings: list[Finding]) -> dict[Filter, tuple[str, ...]]:
    """The SNI names each local_name scope really answers for.

    Dovecot 2.3 takes the first matching local_name block, 2.4 the last: a name listed in a
    block that another block wins for is never served by it.
    """
    listed = {scope: _local_names(scope) for scope in config.scopes}
    order = {scope: index for index, scope in enumerate(config.scopes)}
    # Per group of blocks that differ only in local_name: exact names and `*.` suffixes.
    exact: dict[tuple[Filter, str], list[Filter]] = {}
    for scope, names in listed.items():
        for pattern in names:
            key = (
                pattern.lower().removeprefix("*.") if pattern.startswith("*.") else pattern.lower()
            )
            kind = "*" if pattern.startswith("*.") else "="
            exact.setdefault((_rest(scope), kind + key), []).append(scope)
    pick = max if config.version == "2.4" else min
    served: dict[Filter, tuple[str, ...]] = {}
    for scope, names in listed.items():
        if not names:
            continue
        keep = []
        for name in names:
            lowered, rest = name.lower(), _rest(scope)
            if name.startswith("*."):
                rivals = exact.get((rest, "*" + lowered[2:]), [])
            else:  # the same name, or `*.` and the parent domain: one label, as Dovecot
                rivals = exact.get((rest, "=" + lowered), [])
                rivals += exact.get((rest, "*" + lowered.partition(".")[2]), [])
            winner = pick(rivals, key=order.__getitem__)
            if winner == scope:
                keep.append(name)
                continue
            where = config.scope_locations[winner]
            findings.append(
                Finding(
                    "local-name-shadowed",
                    Severity.WARNING,
                    f"local_name {name} never gets this block: the block at {where} matches it"
                    f" {'first' if config.version == '2.3' else 'later'} and Dovecot"
                    f" {config.version} takes the {'first' if config.version == '2.3' else 'last'}",
                    config.scope_locations[scope],
                    config.scope_locations[scope].path,
                )
            )
        served[scope] = tuple(keep)
    return served


def _local_names(scope: Filter) -> tuple[str, ...]:
    return tuple(name for kind, value in scope if kind == "local_name" for name in value.split())


def _rest(scope: Filter) -> Filter:
    return tuple(item for item in scope if item[0] != "local_name")
