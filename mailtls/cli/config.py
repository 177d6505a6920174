"""`mailtls config init|set|show`: the typer commands of the configuration file."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from mailtls.cli.options import ConfigFile
from mailtls.report.escape import safe

config_app = typer.Typer(
    no_args_is_help=True,
    help="The settings file (/etc/mailtls/config.yaml): write it, change it, show it.",
)


@config_app.command("init")
def init(
    config: ConfigFile = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write the commented default settings file (mode 0644)."""
    from mailtls.settings import config_path
    from mailtls.settings_file import init as write_default

    path, _ = config_path(config, os.environ)
    write_default(path, force)
    sys.stdout.write(safe(f"wrote {path}") + "\n")


@config_app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="e.g. backups.keep, warn_days, reload.dovecot")],
    value: Annotated[str, typer.Argument(help="YAML: 5, true, null, [a, b], or a string")],
    config: ConfigFile = None,
) -> None:
    """Change one setting, keeping the file's comments, order and layout; checked first."""
    from mailtls.settings import config_path
    from mailtls.settings_file import set_value

    path, _ = config_path(config, os.environ)
    said = set_value(path, key, value)
    sys.stdout.write(safe(f"{path}: {said}") + "\n")


@config_app.command("show")
def show(config: ConfigFile = None) -> None:
    """Print the settings in effect (the file's, or the defaults) as YAML."""
    from mailtls.settings import load_settings
    from mailtls.settings_file import show as render

    text = render(load_settings(config, os.environ))
    sys.stdout.write("".join(safe(line) + "\n" for line in text.splitlines()))
