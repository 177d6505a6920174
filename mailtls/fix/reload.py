"""After a fix: rebuild SNI maps whose files changed, reload the daemons that serve them."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from mailtls.checks.permissions import unsafe_component
from mailtls.models import Endpoint

DEFAULT_DOVECOT = "/etc/dovecot/dovecot.conf"
DEFAULT_POSTFIX = "/etc/postfix"


@dataclass(frozen=True)
class Step:
    """One command to run after the files are written, and why."""

    why: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    step: Step
    ok: bool
    output: str


def steps_after(
    changed: set[str],
    endpoints: Sequence[Endpoint],
    dovecot_command: str | None = None,
    postfix_command: str | None = None,
) -> list[Step]:
    """SNI maps first (a reload must see the new index), then each daemon once per config.
    `changed` holds the real paths of the files written."""
    touched = [e for e in endpoints if changed & {os.path.realpath(f) for f in e.files()}]
    steps: list[Step] = []
    for table in sorted({e.sni_table for e in touched if e.sni_table}):
        config_dir = _postfix_dir(next(e for e in touched if e.sni_table == table))
        steps.append(Step(f"rebuild {table}", ("postmap", "-c", config_dir, "-F", table)))
    for config in sorted({e.config for e in touched if e.service == "dovecot"}):
        argv = shlex.split(dovecot_command) if dovecot_command else _doveadm(config)
        steps.append(Step(f"reload Dovecot ({config})", tuple(argv)))
    for config_dir in sorted({_postfix_dir(e) for e in touched if e.service == "postfix"}):
        argv = shlex.split(postfix_command) if postfix_command else _postfix(config_dir)
        steps.append(Step(f"reload Postfix ({config_dir})", tuple(argv)))
    return steps


def _doveadm(config: str) -> list[str]:
    return (
        ["doveadm", "reload"] if config == DEFAULT_DOVECOT else ["doveadm", "-c", config, "reload"]
    )


def _postfix(config_dir: str) -> list[str]:
    return (
        ["postfix", "reload"]
        if config_dir == DEFAULT_POSTFIX
        else ["postfix", "-c", config_dir, "reload"]
    )


def _postfix_dir(endpoint: Endpoint) -> str:
    return os.path.dirname(endpoint.config)


def index_risk(table: str) -> str | None:
    """Why postmap must not rebuild `type:/path` as root, or None. It creates and truncates
    the index beside the source: in a folder another user can write, a link planted at the
    index's name would have root truncate the file it points to."""
    path = os.path.abspath(table.partition(":")[2])
    risk = unsafe_component(os.path.dirname(path), {0, os.geteuid()})
    return f"not run: {risk}, and postmap as root writes the index there" if risk else None


def find_binary(name: str) -> str | None:
    """Hooks often run with a PATH that lacks /usr/sbin, where postfix, postmap and postconf
    live: the PATH first, then the system's folders."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _binary(name: str) -> str:
    return find_binary(name) or name


def run_steps(steps: Sequence[Step], timeout: float = 60.0) -> list[Outcome]:
    """Run each step; a failure is reported, and the later steps still run. Reload commands
    signal the running daemon and return; the timeout bounds one that does not."""
    outcomes = []
    for step in steps:
        risk = index_risk(step.argv[-1]) if step.argv[0] == "postmap" else None
        if risk:
            outcomes.append(Outcome(step, False, risk))
            continue
        argv = [_binary(step.argv[0]), *step.argv[1:]]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
            text = (done.stdout + done.stderr).strip()
            outcomes.append(Outcome(step, done.returncode == 0, text or f"exit {done.returncode}"))
        except (OSError, subprocess.TimeoutExpired) as error:
            outcomes.append(Outcome(step, False, str(error)))
    return outcomes
