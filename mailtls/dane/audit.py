"""`audit --dane`: look each TLSA owner name up once, then add the DANE findings (checks/
dane.py) for the chains on disk and, with --live, the chains served, to the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509

from mailtls.checks.dane import Owner, Sent, Upcoming, disk_findings, owners, served_findings
from mailtls.dane.answer import Answer, Lookup
from mailtls.errors import UsageError
from mailtls.models import ConfigResult, Endpoint, Report
from mailtls.pki.load import FileCache
from mailtls.probe.tls import Target

BASE_DEADLINE, PER_NAME = 30.0, 0.05  # seconds for all lookups of a run


@dataclass(frozen=True)
class DaneCheck:
    """How to look records up, and what --next and --name said."""

    lookup: Lookup
    upcoming: Upcoming | None = None
    names: tuple[str, ...] = ()


@dataclass
class Served:
    """The chains the listeners sent (audit --live), collected as live_report probes them."""

    sent: list[Sent] = field(default_factory=list)

    def __call__(
        self, endpoint: Endpoint, target: Target, certs: Sequence[x509.Certificate]
    ) -> None:
        label = f"{target.host}:{target.port}"
        self.sent.append((endpoint, label, target.port, tuple(certs)))


def prepare(
    dane: bool, resolver: str | None, next_file: str | None, names: Sequence[str] = ()
) -> DaneCheck | None:
    """The check --dane asks for, or None; its options without it are a usage error. Done
    before the audit, so a missing dnspython or a bad --next stops the run at once."""
    if not dane:
        given = [o for o, v in (("--resolver", resolver), ("--next", next_file)) if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} only go with --dane")
        return None
    from mailtls.dane.lookup import resolver_lookup
    from mailtls.dane.publish import next_material

    upcoming = None
    if next_file is not None:
        certs, key = next_material(next_file)
        upcoming = Upcoming(next_file, certs, key)
    return DaneCheck(resolver_lookup(resolver), upcoming, tuple(names))


def answers_for(checked: Sequence[Owner], lookup: Lookup) -> dict[str, Answer]:
    """Each distinct owner name looked up once, in parallel; the deadline for them all grows
    with their number (a host of 10,000 domains, its resolver's cache cold, takes minutes,
    and names left unanswered would be 10,000 lookup failures)."""
    from mailtls.dane.lookup import lookup_many

    names = list(dict.fromkeys(o.name for o in checked))
    return lookup_many(names, lookup, deadline=BASE_DEADLINE + PER_NAME * len(names))


def dane_report(
    report: Report,
    config: ConfigResult,
    check: DaneCheck,
    cache: FileCache | None = None,
    served: Served | None = None,
) -> tuple[Report, list[str]]:
    """The report with the DANE findings added, and notes on what could not be checked."""
    checked, notes = owners(config.endpoints, config.listeners, check.names)
    if not checked:
        notes.append("--dane: no Postfix endpoint here receives mail (port 25, 465, 587)")
        return report, notes
    answers = answers_for(checked, check.lookup)
    found = disk_findings(checked, answers, cache or FileCache(), check.upcoming)
    if served is not None:
        found += served_findings(checked, answers, served.sent)
    return replace(report, findings=report.findings + tuple(found)), notes
