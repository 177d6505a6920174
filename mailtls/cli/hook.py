"""`mailtls hook` (run by certbot, acme.sh, dehydrated) and `mailtls hook install|uninstall`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mailtls.cli.options import (
    At,
    BackupDir,
    CaFile,
    ConfigFile,
    Dane,
    DovecotReload,
    Intermediates,
    Offline,
    PostfixReload,
    Resolver,
    SystemTrust,
    merged,
)
from mailtls.merge import Given
from mailtls.report.escape import safe


def hook(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dovecot or Postfix config files or folders (default: /etc/dovecot /etc/postfix),"
            " then, from dehydrated, its arguments (deploy_cert DOMAIN KEYFILE CERTFILE ...)",
            metavar="PATH... [deploy_cert DOMAIN ...]",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every endpoint, not only the renewal's.")
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Probe here, not at each listen address.")
    ] = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds reloaded daemons get to serve the new chain.")
    ] = 20.0,
    backup_dir: BackupDir = None,
    offline: Offline = False,
    dovecot_reload: DovecotReload = None,
    postfix_reload: PostfixReload = None,
    ca_file: CaFile = None,
    intermediates: Intermediates = None,
    at: At = None,
    system_trust: SystemTrust = None,
    config: ConfigFile = None,
    dane: Dane = False,
    dane_strict: Annotated[
        bool,
        typer.Option(
            "--dane-strict",
            help="Like --dane, and fix or reload nothing while the records do not match.",
        ),
    ] = False,
    resolver: Resolver = None,
) -> None:
    """Deploy hook of certbot, acme.sh and dehydrated: fix, reload, check what is served.
    `mailtls hook install|uninstall certbot|acme.sh|dehydrated` puts it in place."""
    from mailtls.dane.audit import prepare
    from mailtls.hook.env import split_dehydrated
    from mailtls.hook.log import hook_logger
    from mailtls.hook.run import HookOptions, run_hook
    from mailtls.merge import fix_options

    check = prepare(dane or dane_strict, resolver, None)
    paths, dehydrated = split_dehydrated(list(args or ()))
    given, run = merged(
        config,
        paths,
        ca_file,
        intermediates,
        at,
        system_trust,
        Given(
            backup_dir=backup_dir,
            dovecot_reload=dovecot_reload,
            postfix_reload=postfix_reload,
            host=host,
        ),
    )
    options = HookOptions(
        fix_options(given, run, offline=offline),
        every=every,
        host=run.host,
        wait=wait,
        timeout=run.timeout,
        dane=check,
        dane_strict=dane_strict,
    )
    args = [*run.paths, *dehydrated]
    result = run_hook(args, dict(os.environ), options, hook_logger().info)
    if result is not None:
        sys.stdout.write("\n".join([result.summary, *result.problems]) + "\n")
        raise typer.Exit(result.code)


# `mailtls hook install|uninstall CLIENT`: its own small app, since `mailtls hook PATH...`
# takes free arguments (main() sends `hook install`/`hook uninstall` here).
hook_setup = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Install or remove mailtls' hook for certbot, acme.sh or dehydrated.\n\n"
    "Exit codes: 0 done, or nothing to do (said so); 2 something else is at the hook's place"
    " (--force replaces it), or usage error.",
)  # fmt: skip
Client = Annotated[str, typer.Argument(help="certbot, acme.sh or dehydrated")]
Domain = Annotated[
    str | None, typer.Option("--domain", help="acme.sh: the certificate (its main domain).")
]
Root = Annotated[str, typer.Option("--root", help="Prefix every path with this folder.")]


@hook_setup.command("install")
def hook_install(
    client: Client,
    domain: Domain = None,
    root: Root = "",
    force: Annotated[
        bool, typer.Option("--force", help="Replace what else is at the hook's place.")
    ] = False,
) -> None:
    """Put the hook where the renewal client looks for it (again: nothing changes)."""
    from mailtls.hook.install import install, this_mailtls

    home = os.environ.get("LE_CONFIG_HOME") or os.path.expanduser("~/.acme.sh")
    done = install(client, root=root, domain=domain, force=force, executable=this_mailtls(),
                   acme_home=home)  # fmt: skip
    sys.stdout.write("".join(safe(line) + "\n" for line in done.lines))


@hook_setup.command("uninstall")
def hook_uninstall(client: Client, domain: Domain = None, root: Root = "") -> None:
    """Remove the hook mailtls installed; anything else there is left alone."""
    from mailtls.hook.install import uninstall

    home = os.environ.get("LE_CONFIG_HOME") or os.path.expanduser("~/.acme.sh")
    done = uninstall(client, root=root, domain=domain, acme_home=home)
    sys.stdout.write("".join(safe(line) + "\n" for line in done.lines))
