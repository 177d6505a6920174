"""`audit --dane`: look each TLSA owner name up once, before the audit; the audit judges each
chain on disk against the answers where it loads it (checks/dane.py); then add those
findings and, with --live, the served chains' to the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509

from mailtls.audit import Placed
from mailtls.checks.dane import (
    Judgements,
    Owner,
    Sent,
    Upcoming,
    disk_finding,
    owner_verdict,
    owners,
    served_findings,
)
from mailtls.dane.answer import Answer, Lookup
from mailtls.errors import UsageError
from mailtls.models import ConfigResult, Endpoint, Finding, Report
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


@dataclass
class DiskCheck:
    """audit --dane's owner names, looked up before the audit, and the judging of each
    endpoint's chain on disk against their answers, made by the audit (an EndpointCheck)
    where the chain is loaded already: in a worker process past POOL_FROM files."""

    checked: list[Owner]
    answers: dict[str, Answer]
    notes: list[str]
    upcoming: Upcoming | None = None
    found: Placed | None = None  # kept by the audit: the findings by their owner's place
    _places: dict[Endpoint, list[int]] = field(default_factory=dict, init=False, repr=False)
    _judged: Judgements = field(default_factory=dict, init=False, repr=False)  # per process

    def __post_init__(self) -> None:
        for place, item in enumerate(self.checked):
            self._places.setdefault(item.endpoint, []).append(place)

    def __call__(self, endpoint: Endpoint, cache: FileCache) -> Placed:
        placed = {}
        for place in self._places.get(endpoint, ()):
            item = self.checked[place]
            judged = owner_verdict(item, self.answers, cache, self.upcoming, self._judged)
            if judged is not None and (found := disk_finding(judged, item)):
                placed[place] = found[0]
        return placed

    def keep(self, found: Placed) -> None:
        self.found = found

    def disk_findings(self, cache: FileCache) -> list[Finding]:
        """The findings in the owners' order; judged here when no audit ran this check."""
        if self.found is None:
            self.found = {}
            for endpoint in self._places:
                self.found.update(self(endpoint, cache))
        return [self.found[place] for place in sorted(self.found)]


def look_up(config: ConfigResult, check: DaneCheck) -> DiskCheck:
    """The owner names of the configuration (no file read for them), each looked up once."""
    checked, notes = owners(config.endpoints, config.listeners, check.names)
    if not checked:
        notes.append("--dane: no Postfix endpoint here receives mail (port 25, 465, 587)")
        return DiskCheck([], {}, notes)
    return DiskCheck(checked, answers_for(checked, check.lookup), notes, check.upcoming)


def dane_report(
    report: Report,
    disk: DiskCheck,
    served: Served | None = None,
    cache: FileCache | None = None,
) -> tuple[Report, list[str]]:
    """The report with the DANE findings added, and notes on what could not be checked."""
    if not disk.checked:
        return report, disk.notes
    found = disk.disk_findings(cache or FileCache())
    if served is not None:
        found += served_findings(disk.checked, disk.answers, served.sent)
    return replace(report, findings=report.findings + tuple(found)), disk.notes
