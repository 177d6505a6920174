"""Postfix: main.cf, master.cf `-o` overrides and SNI maps, to the endpoints Postfix serves."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from mailtls.config.postfix_expand import expand
from mailtls.config.postfix_sni import read_maps
from mailtls.config.postfix_syntax import Param, Service, parse_main, parse_master
from mailtls.config.source import ConfigFileError, ConfigFiles
from mailtls.errors import ConfigError
from mailtls.models import ConfigResult, Endpoint, Finding, Listener, Location, Severity

# (slot, certificate parameter, key parameter) for each family prefix.
PAIRS = (
    ("main", "cert_file", "key_file"),
    ("ecdsa", "eccert_file", "eckey_file"),
    ("dsa", "dcert_file", "dkey_file"),
)
ROLES = {"smtpd": "server", "smtp": "client", "lmtp": "client"}


def _defaults(config_dir: str) -> dict[str, str]:
    """Postfix's built-in defaults for the parameters mailtls reads (`postconf -d`)."""
    values = {"config_directory": config_dir}
    for family in ("smtpd", "smtp", "lmtp"):
        for _, cert, key in PAIRS:
            values[f"{family}_tls_{cert}"] = ""
            values[f"{family}_tls_{key}"] = f"${family}_tls_{cert}"
        values[f"{family}_tls_chain_files"] = ""
        values[f"{family}_tls_CAfile"] = ""
        values[f"{family}_tls_security_level"] = ""
        values[f"{family}_use_tls"] = "no"
        values[f"{family}_enforce_tls"] = "no"
        values[f"{family}_tls_wrappermode"] = "no"
    # postscreen answers port 25 and hands STARTTLS to tlsproxy, which uses smtpd's files.
    for name in ("tls_security_level", "use_tls", "enforce_tls"):
        values[f"postscreen_{name}"] = f"$smtpd_{name}"
    for _, cert, key in PAIRS:
        values[f"tlsproxy_tls_{cert}"] = f"$smtpd_tls_{cert}"
        values[f"tlsproxy_tls_{key}"] = f"$smtpd_tls_{key}"
    values["tlsproxy_tls_chain_files"] = "$smtpd_tls_chain_files"
    values["tlsproxy_tls_CAfile"] = "$smtpd_tls_CAfile"
    return values


@dataclass
class PostfixConfig:
    """main.cf parameters and master.cf services of one Postfix instance."""

    config_dir: str
    main: dict[str, Param]
    services: list[Service]
    defaults: dict[str, str]

    def value(self, name: str, service: Service | None = None) -> str:
        """A parameter fully expanded as `service` sees it (main.cf when service is None)."""
        # As the daemon evaluates a parameter: its raw text, whose names are level 0.
        return expand(self._raw(name, service) or "", lambda n: self._raw(n, service))

    def _raw(self, name: str, service: Service | None) -> str | None:
        if service is not None and name in service.overrides:
            return service.overrides[name].value
        if service is not None and name in ("service_name", "process_name"):
            # Set by each daemon process: its master.cf entry's name and its command.
            return service.name if name == "service_name" else service.command
        if name in self.main:
            return self.main[name].value
        return self.defaults.get(name)

    def where(self, name: str, service: Service | None = None) -> Location | None:
        if service is not None and name in service.overrides:
            return service.overrides[name].location
        param = self.main.get(name)
        return param.location if param else None


def read_config(config_dir: str, files: ConfigFiles, findings: list[Finding]) -> PostfixConfig:
    """Parse main.cf (required) and master.cf (optional) in `config_dir`."""
    main_cf = os.path.join(config_dir, "main.cf")
    main = parse_main(files.read(main_cf), main_cf, findings)
    master_cf = os.path.join(config_dir, "master.cf")
    try:
        services = parse_master(files.read(master_cf), master_cf, findings)
    except ConfigFileError as error:
        if error.reason != "missing":
            raise
        services = []
    return PostfixConfig(config_dir, main, services, _defaults(config_dir))


def read(config_dir: str, files: ConfigFiles) -> ConfigResult:
    """Endpoints and findings of one Postfix configuration directory."""
    findings: list[Finding] = []
    config = read_config(os.path.abspath(config_dir), files, findings)
    found: list[Endpoint] = []
    for family, role in ROLES.items():
        found += _family_endpoints(config, family, role, findings)
    found += _sni_endpoints(config, files, findings)
    main_cf = os.path.join(config.config_dir, "main.cf")
    return ConfigResult(tuple(found), tuple(findings), (main_cf,), tuple(_listeners(config)))


# master.cf service names Postfix resolves through /etc/services.
SERVICE_PORTS = {"smtp": 25, "submission": 587, "submissions": 465, "smtps": 465}


def _listeners(config: PostfixConfig) -> list[Listener]:
    """smtpd and postscreen inet services that turn TLS on: STARTTLS, or implicit TLS in
    wrapper mode."""
    interfaces = config.value("inet_interfaces").replace(",", " ").split()
    default_host = next((i for i in interfaces if i[:1].isdigit() or ":" in i), "127.0.0.1")
    found = []
    for service in config.services:
        if service.type != "inet" or service.command not in ("smtpd", "postscreen"):
            continue
        host, _, port_name = service.name.rpartition(":")
        if port_name.isdigit() and not port_name.isascii():
            # int() takes "2²5"; Postfix's master looks it up as a service name and stops.
            raise ConfigError(f"{service.location}: service {service.name}: not a port number")
        port = int(port_name) if port_name.isdigit() else SERVICE_PORTS.get(port_name)
        if port is None or not _tls_on(config, service.command, service):
            continue
        wrapper = config.value("smtpd_tls_wrappermode", service) == "yes"
        address = host.strip("[]") or default_host
        main_cf = os.path.join(config.config_dir, "main.cf")
        found.append(
            Listener("postfix", service.label, address, port, None if wrapper else "smtp", main_cf)
        )
    return found


def _files(config: PostfixConfig, family: str, service: Service | None) -> tuple[str, ...]:
    """What decides the chain served: every cert, key and chain parameter, and the CA file
    OpenSSL completes a leaf-only chain from, expanded."""
    names = [f"{family}_tls_{p}" for _, cert, key in PAIRS for p in (cert, key)]
    names += [f"{family}_tls_chain_files", f"{family}_tls_CAfile"]
    return tuple(config.value(n, service) for n in names)


def _tls_on(config: PostfixConfig, family: str, service: Service | None) -> bool:
    level = config.value(f"{family}_tls_security_level", service)
    if config.value(f"{family}_tls_wrappermode", service) == "yes":
        return level != "none"
    if level:
        return level != "none"
    flags = (f"{family}_use_tls", f"{family}_enforce_tls")
    return any(config.value(flag, service) == "yes" for flag in flags)


def _any_tls_on(config: PostfixConfig, family: str, services: list[Service]) -> bool:
    """Whether any of these services turns TLS on; main.cf alone decides when none run."""
    if services:
        return any(_tls_on(config, family, s) for s in services)
    return _tls_on(config, family, None)


def _family_endpoints(
    config: PostfixConfig, family: str, role: str, findings: list[Finding]
) -> list[Endpoint]:
    runners = [s for s in config.services if s.command == family]
    global_files = _files(config, family, None)
    sharing = [s for s in runners if _files(config, family, s) == global_files]
    enabled = _any_tls_on(config, family, sharing)
    scope = "global" if family == "smtpd" else f"{family} client"
    found = _endpoints(config, family, role, None, scope, enabled, findings)
    if not found and enabled and family == "smtpd":
        where = config.where("smtpd_tls_security_level") or config.where("smtpd_use_tls")
        message = "TLS is turned on but no smtpd certificate is set: Postfix serves no TLS"
        findings.append(
            Finding(
                "no-certificate", Severity.WARNING, message, where, where.path if where else None
            )
        )
    if family == "smtpd":  # postscreen on port 25: tlsproxy serves the same files by default
        screens = [s for s in config.services if s.command == "postscreen"]
        sharing += [s for s in screens if _files(config, "tlsproxy", s) == global_files]
    found = [replace(e, services=tuple(s.label for s in sharing)) for e in found]
    for service in runners:
        if service not in sharing:
            scope = f"master.cf {service.label}"
            on = _tls_on(config, family, service)
            found += _endpoints(config, family, role, service, scope, on, findings)
    return found


def _endpoints(
    config: PostfixConfig,
    family: str,
    role: str,
    service: Service | None,
    scope: str,
    enabled: bool,
    findings: list[Finding],
) -> list[Endpoint]:
    prefix = f"{family}_tls_"
    base_id = f"postfix:{scope}"
    template = Endpoint(
        id=base_id,
        service="postfix",
        role="server" if role == "server" else "client",
        scope=scope,
        source=None,
        cert_file=None,
        key_file=None,
        names=_names(config, service) if role == "server" else (),
        enabled=enabled,
        config=os.path.join(config.config_dir, "main.cf"),
        services=(service.label,) if service else (),
        ca_file=_path(config, config.value(prefix + "CAfile", service)),
    )
    chain = _paths(config, config.value(prefix + "chain_files", service))
    if chain:
        _conflict(config, family, service, base_id, findings)
        source = config.where(prefix + "chain_files", service)
        return [replace(template, source=source, chain_files=chain, slot="chain")]
    found = []
    for slot, cert_name, key_name in PAIRS:
        cert = _path(config, config.value(prefix + cert_name, service))
        if cert is None:
            continue
        key = _path(config, config.value(prefix + key_name, service))
        source = config.where(prefix + cert_name, service)
        endpoint_id = base_id if slot == "main" else f"{base_id}:{slot}"
        found.append(
            replace(
                template, id=endpoint_id, source=source, cert_file=cert, key_file=key, slot=slot
            )
        )
    return found


def _conflict(
    config: PostfixConfig,
    family: str,
    service: Service | None,
    endpoint: str,
    findings: list[Finding],
) -> None:
    params = [f"{family}_tls_{cert}" for _, cert, _ in PAIRS]
    ignored = [name for name in params if config.value(name, service)]
    if not ignored:
        return
    where = config.where(ignored[0], service)
    message = (
        f"{family}_tls_chain_files is set, so Postfix ignores {', '.join(ignored)}:"
        " remove them or the chain files, so the config says what is served"
    )
    findings.append(
        Finding(
            "chain-files-conflict",
            Severity.WARNING,
            message,
            where,
            where.path if where else None,
            endpoint,
        )
    )


def _path(config: PostfixConfig, value: str) -> str | None:
    if not value or value == "none":
        return None
    return os.path.normpath(os.path.join(config.config_dir, value))


def _paths(config: PostfixConfig, value: str) -> tuple[str, ...]:
    items = value.replace(",", " ").split()
    return tuple(p for p in (_path(config, item) for item in items) if p)


def _names(config: PostfixConfig, service: Service | None) -> tuple[str, ...]:
    if "myhostname" not in config.main and (
        service is None or "myhostname" not in service.overrides
    ):
        return ()
    return (config.value("myhostname", service).lower(),)


def _sni_endpoints(
    config: PostfixConfig, files: ConfigFiles, findings: list[Finding]
) -> list[Endpoint]:
    spec = config.value("tls_server_sni_maps")
    where = config.where("tls_server_sni_maps")
    if not spec or where is None:
        return []
    enabled = _any_tls_on(config, "smtpd", [s for s in config.services if s.command == "smtpd"])
    ca_file = _path(config, config.value("smtpd_tls_CAfile"))
    return [
        Endpoint(
            id=f"postfix:sni {entry.name}",
            service="postfix",
            role="server",
            scope=f"sni {entry.name}",
            source=entry.location,
            cert_file=None,
            key_file=None,
            chain_files=entry.files,
            names=(entry.name,),
            enabled=enabled,
            slot="chain",
            config=os.path.join(config.config_dir, "main.cf"),
            sni_table=entry.table,
            ca_file=ca_file,
        )
        for entry in read_maps(spec, config.config_dir, files, findings, where)
    ]
