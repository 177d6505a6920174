"""`mailtls hook`: after a renewal, fix, reload and check what is served, in one go; when a
reload fails or a listener does not serve what is on disk, put the backups back."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailtls.audit import audit
from mailtls.dane.audit import DaneCheck
from mailtls.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, MailtlsError, UsageError
from mailtls.fix.backups import restore
from mailtls.fix.lock import lock_wait, run_lock
from mailtls.fix.reload import Outcome, run_steps, steps_after
from mailtls.fix.run import FixOptions, FixResult, fix
from mailtls.hook import dane
from mailtls.hook.env import Renewal
from mailtls.hook.log import shown
from mailtls.hook.select import select
from mailtls.models import ConfigResult, Finding, Severity
from mailtls.pki.load import FileCache
from mailtls.probe.live import live_report, pairs
from mailtls.probe.tls import TIMEOUT

Log = Callable[[str], None]
MAX_WAIT = 600
_POLL = 0.2  # seconds between live checks while reloaded daemons restart their processes


@dataclass(frozen=True)
class HookOptions:
    fix: FixOptions
    every: bool = False  # --all: every endpoint, not only the renewal's
    host: str | None = None  # where to probe, instead of each listen address
    wait: float = 20.0  # how long reloaded daemons get to serve the new files
    timeout: float = TIMEOUT
    dane: DaneCheck | None = None  # --dane: the published TLSA records checked before the fix
    dane_strict: bool = False  # --dane-strict: no fix, no reload when they do not match


@dataclass
class HookResult:
    code: int = EXIT_OK
    summary: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Live:
    """The live check: how many listeners were asked, and what disagreed."""

    listeners: int
    findings: tuple[Finding, ...]


def hook(
    config: ConfigResult, renewal: Renewal | None, options: HookOptions, log: Log
) -> HookResult:
    if not 0 <= options.wait <= MAX_WAIT:  # also false for NaN, which would wait forever
        raise UsageError(f"--wait {options.wait}: seconds from 0 to {MAX_WAIT}")
    if renewal is None and not options.every:
        raise UsageError(
            "no renewal to act on: run from certbot (RENEWED_LINEAGE), acme.sh (CERT_PATH) or"
            " dehydrated (deploy_cert ...), or give --all"
        )
    chosen = config
    fix_options = replace(options.fix, reload=True, backup=True, dry_run=False)
    if renewal is not None:
        log(f"{renewal.client} renewed {shown(renewal.name)} ({shown(' '.join(renewal.domains))})")
        fix_options = _with_lineage(fix_options, renewal)
        if not options.every:
            chosen = select(config, renewal, FileCache())
    if not chosen.endpoints:
        what = shown(renewal.name) if renewal else "anything"
        return HookResult(summary=f"mailtls hook: no Dovecot or Postfix endpoint uses {what}")
    ids = ", ".join(e.id for e in chosen.endpoints)
    log(f"checking {len(chosen.endpoints)} endpoint(s): {shown(ids)}")
    # One lock from the first check to the last reload: another hook (certbot and acme.sh
    # renewing at once) must not write, reload or roll back between our fix and our live
    # check. It may hold the lock through its own wait for reloaded daemons, so ours is longer.
    with run_lock(options.fix.lock_file, wait=lock_wait() + options.wait + HOOK_LOCK_MARGIN):
        return _locked(chosen, renewal, replace(options, fix=fix_options), log)


HOOK_LOCK_MARGIN = 60.0  # seconds: another hook's DNS, AIA and live checks


def _locked(
    chosen: ConfigResult, renewal: Renewal | None, options: HookOptions, log: Log
) -> HookResult:
    gate = None
    if options.dane is not None:  # before anything is written or reloaded
        lineage = renewal.chain_files if renewal else ()
        gate = dane.check_renewal(chosen, options.dane, log, lineage)
        if options.dane_strict and (gate.mismatches or gate.failures):
            return HookResult(EXIT_FINDINGS, *dane.refused(gate))
    fixed = fix(chosen, options.fix)
    _log_fix(fixed, log)
    result = _after_fix(chosen, fixed, options, log)
    if gate is not None:
        code, tail, problems = dane.after(gate)
        result.code = max(result.code, code)
        result.summary += tail
        result.problems += problems
    return result


def _with_lineage(options: FixOptions, renewal: Renewal) -> FixOptions:
    """The lineage's chain and full-chain files come first among the intermediates (pebble's
    leaves, like many private CAs', carry no AIA URL; and they are what the CA sent)."""
    audit_options = options.audit
    intermediates = (*renewal.chain_files, *audit_options.intermediates)
    return replace(options, audit=replace(audit_options, intermediates=intermediates))


def _after_fix(
    chosen: ConfigResult, fixed: FixResult, options: HookOptions, log: Log
) -> HookResult:
    failed = [o for o in fixed.outcomes if not o.ok]
    if fixed.failed or failed:
        reasons = [f.reason for f in fixed.failed] + [_said(o) for o in failed]
        return _roll_back(chosen, fixed, options, log, EXIT_ERROR, reasons)
    live = _live_check(chosen, options, deadline=_deadline(options, fixed.outcomes))
    reloaded = list(fixed.outcomes)
    if live.findings:  # files renewed in place (nothing to fix) still need their daemons reloaded
        more = _reload_stale(chosen, fixed, live, options, log)
        if more:
            reloaded += more
            if not all(o.ok for o in more):
                reasons = [_said(o) for o in more if not o.ok]
                return _roll_back(chosen, fixed, options, log, EXIT_ERROR, reasons)
            live = _live_check(chosen, options, deadline=_deadline(options, more))
    if live.findings:
        reasons = [f.message for f in live.findings]
        log(f"live check: {len(live.findings)} listener(s) do not serve what is on disk")
        return _roll_back(chosen, fixed, options, log, EXIT_FINDINGS, reasons)
    log(f"live check: {live.listeners} listener(s) serve what is on disk")
    return _verdict(fixed, reloaded, live)


def _deadline(options: HookOptions, reloads: list[Outcome]) -> float:
    """Without a reload, what is served is what it will be: one look is enough."""
    waiting = options.wait if any(o.step.argv[0] != "postmap" for o in reloads) else 0.0
    return time.monotonic() + waiting


def _live_check(chosen: ConfigResult, options: HookOptions, deadline: float) -> Live:
    """Probe every listener of the chosen endpoints until each serves what is on disk, or the
    deadline (a reload takes effect as the daemon's processes restart, not at once)."""
    report = audit(chosen, options.fix.audit)
    listeners = len({(t.host, t.port) for _, t in pairs(report, chosen.listeners, options.host)})
    while True:
        checked = live_report(report, chosen.listeners, options.host, options.timeout)
        found = checked.findings[len(report.findings) :]
        if not found or time.monotonic() >= deadline:
            return Live(listeners, found)
        time.sleep(_POLL)


def _reload_stale(
    chosen: ConfigResult, fixed: FixResult, live: Live, options: HookOptions, log: Log
) -> list[Outcome]:
    """Reload the daemons of endpoints served stale that the fix did not reload already."""
    done = {o.step.argv for o in fixed.outcomes}
    stale = {f.endpoint for f in live.findings if f.code.startswith("served-chain-")}
    endpoints = [e for e in chosen.endpoints if e.id in stale]
    files = {f for e in endpoints for f in e.files()}
    steps = [
        s
        for s in steps_after(
            {os.path.realpath(f) for f in files},
            endpoints,
            options.fix.dovecot_command,
            options.fix.postfix_command,
        )
        if s.argv not in done and s.argv[0] != "postmap"
    ]
    outcomes = run_steps(steps)
    for outcome in outcomes:
        log(f"{outcome.step.why} (it served the old files): {'done' if outcome.ok else 'FAILED'}")
    return outcomes


def _roll_back(
    chosen: ConfigResult,
    fixed: FixResult,
    options: HookOptions,
    log: Log,
    code: int,
    reasons: list[str],
) -> HookResult:
    """Put back the backups this run made, reload again, and say so."""
    problems = list(reasons)
    restored = []
    if fixed.written:
        with run_lock(options.fix.lock_file):
            for written in fixed.written:
                if written.backup is None:
                    continue
                try:
                    restore(written.path, options.fix.backup_dir, written.backup)
                except MailtlsError as error:
                    problems.append(f"NOT restored {shown(written.path)}: {error}")
                    continue
                restored.append(written.path)
                log(f"restored {shown(written.path)} from {shown(written.backup)}")
        commands = (options.fix.dovecot_command, options.fix.postfix_command)
        steps = steps_after(set(restored), chosen.endpoints, *commands)
        for outcome in run_steps(steps):
            log(f"{outcome.step.why} after the restore: {'done' if outcome.ok else 'FAILED'}")
            if not outcome.ok:
                problems.append(f"after the restore: {_said(outcome)}")
    undone = f"restored {len(restored)} file(s) and reloaded" if restored else "nothing restored"
    summary = f"mailtls hook: FAILED, {undone}: {problems[0]}"
    return HookResult(code, summary, problems[1:])


def _said(outcome: Outcome) -> str:
    return f"{outcome.step.why} failed ({' '.join(outcome.step.argv)}): {outcome.output}"


def _log_fix(fixed: FixResult, log: Log) -> None:
    written = {w.path: w for w in fixed.written}
    for change in fixed.changes:
        if change.path in written:
            sources = "; ".join(change.added_from) or "reordered"
            log(f"rewrote {shown(change.path)} ({shown(sources)})")
    for outcome in fixed.outcomes:
        log(f"{outcome.step.why}: {'done' if outcome.ok else 'FAILED'}")


def _verdict(fixed: FixResult, reloads: list[Outcome], live: Live) -> HookResult:
    problems = [f"not fixed {r.path}: {r.reason}" for r in fixed.refusals]
    problems += [f"left alone: {f.message}" for f in fixed.skipped]
    problems += [f"suggestion: {s}" for s in fixed.suggestions]
    final = fixed.after or fixed.before
    problems += [f"{f.code}: {f.message}" for f in final.findings if f.severity is Severity.ERROR]
    count = len(fixed.written)
    parts = [f"{count} file{'s' if count != 1 else ''} fixed" if count else "nothing to fix"]
    daemons = sorted({o.step.why.split()[1] for o in reloads if o.step.argv[0] != "postmap"})
    if daemons:
        parts.append(f"{' and '.join(daemons)} reloaded")
    fresh = "the new chain" if count or daemons else "the chain on disk"
    parts.append(
        f"{live.listeners} listener{'s serve' if live.listeners != 1 else ' serves'} {fresh}"
        if live.listeners
        else "no listener found to check"
    )
    summary = "mailtls hook: " + ", ".join(parts)
    if problems:
        return HookResult(EXIT_FINDINGS, summary + f"; {len(problems)} problem(s) remain", problems)
    return HookResult(EXIT_OK, summary)


def run_hook(
    args: list[str], env: dict[str, str], options: HookOptions, log: Log
) -> HookResult | None:
    """From the command line: PATH... then dehydrated's arguments when it is the caller, else
    certbot's or acme.sh's environment. None: a dehydrated step with nothing to deploy."""
    from mailtls.config.discover import read_all
    from mailtls.hook.env import from_dehydrated, from_environment, split_dehydrated

    paths, dehydrated = split_dehydrated(args)
    if dehydrated:
        renewal = from_dehydrated(dehydrated, env)
        if renewal is None:
            return None
    else:
        renewal = from_environment(env)
    config = read_all(paths, env)
    return hook(config, renewal, options, log)
