"""`mailtls hook install|uninstall CLIENT`: put the hook where certbot, acme.sh or dehydrated
looks for it, idempotently, and take away only what mailtls put there."""

from __future__ import annotations

import base64
import binascii
import glob
import os
import re
import shlex
import sys
from dataclasses import dataclass

from mailtls.config.source import open_regular
from mailtls.errors import MailtlsError, UsageError
from mailtls.fix.apply import WriteError, install_file, remove_file, write_atomically
from mailtls.fix.target import FileChanged, Target, open_target, symlink_risk

CLIENTS = ("certbot", "acme.sh", "dehydrated")
CERTBOT_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/mailtls"
DEHYDRATED_HOOK = "/etc/dehydrated/mailtls-hook.sh"
SCRIPT_MODE = 0o755
# acme.sh keeps --reloadcmd base64-wrapped in the domain's conf (acme.sh `_save_conf`:
# B64CONF_START + `printf %s "$cmd" | openssl base64 -e | tr -d '\r\n'` + B64CONF_END).
B64_START, B64_END = "__ACME_BASE64__START_", "__ACME_BASE64__END_"
_RELOAD_LINE = re.compile(rb"^Le_ReloadCmd *=(?P<value>[^\r\n]*)(?P<end>\r?\n?)$")
_OUR_COMMAND = re.compile(r"(?P<exe>'[^']*mailtls'|[^\s']*mailtls) hook")


class InstallError(MailtlsError):
    """Something else is at the hook's place, or the renewal client is not there."""


@dataclass(frozen=True)
class Outcome:
    changed: bool
    lines: tuple[str, ...]


def this_mailtls() -> str:
    """The absolute path of the running mailtls executable (a hook runs with a short PATH)."""
    argv0 = sys.argv[0]
    if os.path.basename(argv0) == "mailtls" and os.path.exists(argv0):
        return os.path.abspath(argv0)
    beside = os.path.join(os.path.dirname(sys.executable), "mailtls")
    return beside if os.path.exists(beside) else "mailtls"


def command(executable: str) -> str:
    return f"{shlex.quote(executable)} hook"


def script(client: str, executable: str) -> bytes:
    """The hook script mailtls installs for certbot or dehydrated."""
    if client == "certbot":
        return f"#!/bin/sh\nexec {command(executable)}\n".encode()
    return (
        "#!/bin/sh\n# dehydrated calls its HOOK at every step; mailtls acts after deploy_cert\n"
        f'case "$1" in deploy_cert) exec {command(executable)} "$@";; esac\n'
    ).encode()


def _is_ours(client: str, data: bytes) -> bool:
    """A script mailtls wrote, whichever mailtls executable it names."""
    text = data.decode("utf-8", "replace")
    found = _OUR_COMMAND.search(text)
    return found is not None and script(client, _unquote(found.group("exe"))) == data


def _unquote(exe: str) -> str:
    return shlex.split(exe)[0] if exe else exe


def under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/")) if root else path


def install(
    client: str, *, root: str = "", domain: str | None = None, force: bool = False,
    executable: str, acme_home: str = "",
) -> Outcome:  # fmt: skip
    _check(client, domain)
    if client == "acme.sh":
        assert domain is not None
        return _acme(under(root, acme_home), domain, command(executable), force, install=True)
    path = CERTBOT_HOOK if client == "certbot" else DEHYDRATED_HOOK
    home = under(root, "/etc/letsencrypt" if client == "certbot" else "/etc/dehydrated")
    if not os.path.isdir(home):
        raise InstallError(f"{home}: no such folder: is {client} installed?")
    done = _install_script(under(root, path), script(client, executable), client, force)
    if client == "dehydrated":
        return Outcome(done.changed, done.lines + _dehydrated_config(root))
    return done


def uninstall(
    client: str, *, root: str = "", domain: str | None = None, acme_home: str = ""
) -> Outcome:
    _check(client, domain)
    if client == "acme.sh":
        assert domain is not None
        return _acme(under(root, acme_home), domain, "", False, install=False)
    path = under(root, CERTBOT_HOOK if client == "certbot" else DEHYDRATED_HOOK)
    target = _read(path)
    if target is None:
        return Outcome(False, (f"{path}: not installed; nothing to remove",))
    try:
        if not _is_ours(client, target.data):
            return Outcome(False, (f"{path} is not the hook mailtls installs: left alone",))
        remove_file(target)
    finally:
        target.close()
    more = ("remove the HOOK= line naming it from dehydrated's config",)
    return Outcome(True, (f"removed {path}", *(more if client == "dehydrated" else ())))


def _check(client: str, domain: str | None) -> None:
    if client not in CLIENTS:
        raise UsageError(f"{client!r}: give one of {', '.join(CLIENTS)}")
    if client == "acme.sh" and not domain:
        raise UsageError("acme.sh keeps its reload command per certificate: give --domain")
    if client != "acme.sh" and domain:
        raise UsageError(f"--domain is for acme.sh; {client}'s hook serves every certificate")


def _read(path: str) -> Target | None:
    """The file at `path`, not followed if a symlink (that is refused as not ours)."""
    if not os.path.lexists(path):
        return None
    try:
        return open_target(path)
    except (FileChanged, OSError) as error:
        raise InstallError(f"{path}: {error}; left alone") from None


def _install_script(path: str, data: bytes, client: str, force: bool) -> Outcome:
    target = _read(path) if not os.path.islink(path) else None
    try:
        if target is not None and target.data == data and target.identity.mode == SCRIPT_MODE:
            return Outcome(False, (f"{path}: already installed; nothing changed",))
        ours = target is not None and _is_ours(client, target.data)
        if os.path.lexists(path) and not ours and not force:
            raise InstallError(
                f"{path} exists and is not the hook mailtls installs: not replaced (--force"
                " replaces it)"
            )
    finally:
        if target is not None:
            target.close()
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    install_file(path, data, SCRIPT_MODE, replace=os.path.lexists(path))
    return Outcome(True, (f"installed {path}",))


def _dehydrated_config(root: str) -> tuple[str, ...]:
    """dehydrated reads HOOK from its config, a shell file mailtls does not edit: say the line,
    and what the config sets now."""
    wanted = f"HOOK={DEHYDRATED_HOOK}"
    found = []
    for config in [under(root, "/etc/dehydrated/config"),
                   *sorted(glob.glob(under(root, "/etc/dehydrated/conf.d/*.sh")))]:  # fmt: skip
        try:
            with open_regular(config) as stream:
                text = stream.read(1 << 20).decode("utf-8", errors="replace")
        except OSError:
            continue
        found += [line.strip() for line in text.splitlines() if line.strip().startswith("HOOK=")]
    if wanted in found or f"{wanted!r}" in found or f'HOOK="{DEHYDRATED_HOOK}"' in found:
        return ("dehydrated's config already has " + wanted,)
    lines: tuple[str, ...] = (f"add this line to /etc/dehydrated/config: {wanted}",)
    if found:
        lines += (f"(it now sets {found[-1]}: call mailtls from that hook or replace it)",)
    return lines


def _acme(home: str, domain: str, wanted: str, force: bool, *, install: bool) -> Outcome:
    confs = [os.path.join(home, folder, f"{domain}.conf") for folder in (domain, f"{domain}_ecc")]
    confs = [c for c in confs if os.path.isfile(c)]
    if "/" in domain or domain.startswith(".") or not confs:
        raise InstallError(
            f"no acme.sh certificate {domain!r} in {home} (looked for {domain}/{domain}.conf"
            f" and {domain}_ecc/{domain}.conf)"
        )
    outcomes = [_acme_conf(conf, wanted, force, install) for conf in confs]
    return Outcome(any(o.changed for o in outcomes), tuple(x for o in outcomes for x in o.lines))


def _acme_conf(conf: str, wanted: str, force: bool, install: bool) -> Outcome:
    real = os.path.realpath(conf)
    risk = symlink_risk(conf, real)
    if risk:
        raise InstallError(f"{conf} leads to {real} and {risk}; not changed")
    target = _read(real)
    assert target is not None
    try:
        new, said = _reload_edit(target.data, wanted, force, install, conf)
        if new != target.data:
            write_atomically(target, new)
    except FileChanged as error:
        raise InstallError(f"{error}; not changed") from None
    except OSError as error:
        raise WriteError(f"{conf}: {error.strerror or error}; not changed") from None
    finally:
        target.close()
    return Outcome(new != target.data, (said,))


def _reload_edit(
    data: bytes, wanted: str, force: bool, install: bool, conf: str
) -> tuple[bytes, str]:
    """The conf with only its Le_ReloadCmd line changed (or added), and what was done."""
    lines = data.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if _RELOAD_LINE.match(line)]
    if len(found) > 1:
        raise InstallError(f"{conf}: Le_ReloadCmd is set {len(found)} times; not changed")
    current = _decode(_RELOAD_LINE.match(lines[found[0]])) if found else ""  # type: ignore[arg-type]
    ours = _OUR_COMMAND.fullmatch(current) is not None
    if not install:
        if not ours:
            return data, f"{conf}: its reload command is not mailtls': left alone"
        return _set(lines, found, ""), f"{conf}: reload command removed"
    if current == wanted:
        return data, f"{conf}: already runs {wanted}; nothing changed"
    if current and not ours and not force:
        raise InstallError(
            f"{conf} already has a reload command ({current}): not replaced (--force replaces"
            f" it; or add {wanted} to it by hand)"
        )
    return _set(lines, found, wanted), f"{conf}: reload command set to {wanted}"


def _decode(match: re.Match[bytes]) -> str:
    value = match.group("value").decode("utf-8", "replace").strip().strip("'\"")
    if value.startswith(B64_START) and value.endswith(B64_END):
        try:
            return base64.b64decode(value[len(B64_START) : -len(B64_END)]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return value
    return value


def _set(lines: list[bytes], found: list[int], wanted: str) -> bytes:
    """acme.sh's own form: `Le_ReloadCmd='<wrapped base64>'`, or `''` for none."""
    encoded = base64.b64encode(wanted.encode()).decode()
    value = f"{B64_START}{encoded}{B64_END}" if wanted else ""
    line = f"Le_ReloadCmd='{value}'".encode()
    if found:
        end = _RELOAD_LINE.match(lines[found[0]]).group("end") or b""  # type: ignore[union-attr]
        lines[found[0]] = line + end
    else:
        if lines and not lines[-1].endswith(b"\n"):
            lines[-1] += b"\n"  # as acme.sh's _setopt does before appending
        lines.append(line + b"\n")
    return b"".join(lines)
