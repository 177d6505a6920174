"""`mailtls hook --dane`: before the renewed files are fixed and the daemons reloaded, the
TLSA records published for the renewal's names are checked against those files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from mailtls.checks.dane import disk_verdicts, owners
from mailtls.dane.answer import Status
from mailtls.dane.audit import DaneCheck, answers_for
from mailtls.errors import EXIT_FINDINGS
from mailtls.hook.log import shown
from mailtls.models import ConfigResult
from mailtls.pki.load import FileCache

Log = Callable[[str], None]
MISMATCH = ("tlsa-mismatch", "tlsa-only-next")
RESTART = "a daemon restart would load the new files anyway"


@dataclass
class Gate:
    """What the check found: records that do not match, lookups that failed."""

    mismatches: list[str] = field(default_factory=list)  # the zone lines to publish
    failures: list[str] = field(default_factory=list)


def check_renewal(
    chosen: ConfigResult, check: DaneCheck, log: Log, chain_files: Sequence[str] = ()
) -> Gate:
    """Look the renewal's owner names up and say, loudly, what does not match. The chain
    judged is the files' and the lineage's intermediates (`chain_files`): the fix about to
    run completes a leaf-only file from them, and a 2 1 1 record matches only a CA served."""
    gate = Gate()
    found, _ = owners(chosen.endpoints, chosen.listeners, check.names)
    if not found:
        log("DANE: no endpoint of the renewal receives mail on port 25: nothing to check")
        return gate
    checked = [replace(o, files=tuple(dict.fromkeys((*o.files, *chain_files)))) for o in found]
    answers = answers_for(checked, check.lookup)
    said: set[tuple[str, str]] = set()
    for owner, judged in disk_verdicts(checked, answers, FileCache(), check.upcoming):
        if judged.code is None or (owner.name, judged.message) in said:
            continue
        said.add((owner.name, judged.message))
        if judged.code in MISMATCH:
            log(
                f"WARNING: {shown(owner.name)}: the renewed chain in {shown(owner.files[0])}"
                " matches none of the signed TLSA records: DANE senders will defer mail once"
                f" it is served ({judged.code}); publish:"
            )
            for line in judged.publish:
                log(f"WARNING:   {shown(line)}")
            gate.mismatches += [line for line in judged.publish if line not in gate.mismatches]
        elif judged.code == "tlsa-lookup-failed":
            log(f"WARNING: {shown(judged.message)}")
            gate.failures.append(judged.message)
        else:
            log(shown(judged.message))
    if not said:
        published = sum(1 for a in answers.values() if a.status is Status.OK and a.records)
        if published:
            log(f"DANE: the published TLSA records match the renewed chain ({published} name(s))")
        if published < len(answers):
            log(f"DANE: no TLSA records published for {len(answers) - published} name(s)")
    return gate


def refused(gate: Gate) -> tuple[str, list[str]]:
    """--dane-strict: the summary and the problems when nothing is fixed or reloaded."""
    summary = (
        "mailtls hook: NOT fixed or reloaded (--dane-strict): the published TLSA records do"
        " not match the renewed chain, or could not be looked up; the daemons still serve the"
        f" old chain until they are reloaded ({RESTART})"
    )
    return summary, [f"publish: {line}" for line in gate.mismatches] + gate.failures


def after(gate: Gate) -> tuple[int, str, list[str]]:
    """Without --dane-strict: the exit code, summary tail and problems the check adds."""
    if not gate.mismatches:
        return 0, "", []
    tail = "; DANE: publish the new TLSA records (DANE senders defer mail until then)"
    return EXIT_FINDINGS, tail, [f"publish: {line}" for line in gate.mismatches]
