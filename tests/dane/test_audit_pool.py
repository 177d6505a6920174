"""audit --dane on a host past the pool's threshold: each chain on disk judged where the audit
loads it (in the workers), with the findings the check after the audit made, in its order,
and no certificate file read or parsed again after the audit. Answers from memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mailtls import audit as audit_module
from mailtls.audit import Auditor, audit
from mailtls.checks.dane import disk_findings, owners
from mailtls.dane.answer import Answer, Status
from mailtls.dane.audit import DaneCheck, dane_report, look_up
from mailtls.dane.records import TlsaRecord, for_cert
from mailtls.models import ConfigResult, Report
from mailtls.pki import load
from mailtls.pki.load import FileCache
from mailtls.pool import pool_size
from tests.hosts import multitenant, options

DOMAINS = 520  # a key and a certificate file each: past POOL_FROM (1,000) files


def mixed_lookup(root: Path) -> Callable[[str], Answer]:
    """Answers of every kind, by domain number: the issuing CA's 2 1 1 (matches the chains
    that carry it), a record matching nothing, an unsigned answer, a failed lookup, none,
    the CA's record beside one matching nothing."""
    issuing = load.load_file(str(root / "ssl" / "mail.t1.example" / "fullchain.pem")).certs[1]
    ca = for_cert(issuing, 2)

    def lookup(owner: str) -> Answer:
        number = int(owner.split(".t")[1].split(".")[0])
        kinds = [
            Answer(owner, Status.OK, (ca,), secure=True),
            Answer(owner, Status.OK, (TlsaRecord(3, 1, 1, bytes(32)),), secure=True),
            Answer(owner, Status.OK, (ca,), secure=False),
            Answer(owner, Status.SERVFAIL, detail="127.0.0.1 said so"),
            Answer(owner, Status.NXDOMAIN, secure=True),
            Answer(owner, Status.OK, (ca, TlsaRecord(3, 1, 1, bytes(32))), secure=True),
        ]
        return kinds[number % len(kinds)]

    return lookup


def judged_after(report: Report, config: ConfigResult, check: DaneCheck) -> Report:
    """The report as audit --dane made it before: the files read again after the audit."""
    checked, _ = owners(config.endpoints, config.listeners, check.names)
    answers = {item.name: check.lookup(item.name) for item in checked}
    found = disk_findings(checked, answers, FileCache(), check.upcoming)
    return replace(report, findings=report.findings + tuple(found))


def counted(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    calls = [0]
    function = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return function(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_the_pool_judges_the_chains_as_the_check_after_the_audit_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,040 files: the workers judge their endpoints' chains; the report is the one of the
    serial audit and the one the files read again after the audit gave, finding for finding."""
    config = multitenant(tmp_path, DOMAINS, shared=5)
    if pool_size(config.endpoints, audit_module.POOL_FROM) < 2:
        pytest.skip("one core here: the pool is not used")
    check = DaneCheck(mixed_lookup(tmp_path))
    serial_check = look_up(config, check)
    serial = audit(config, options(tmp_path, None), beside=serial_check)
    serial, _ = dane_report(serial, serial_check)
    before = judged_after(audit(config, options(tmp_path, None)), config, check)

    here = counted(monkeypatch, Auditor, "endpoint")
    disk = look_up(config, check)
    pooled = audit(config, options(tmp_path, audit_module.POOL_FROM), beside=disk)
    assert 0 < here[0] < len(config.endpoints)  # the workers audited the rest
    pooled, notes = dane_report(pooled, disk)
    assert pooled == serial == before
    assert [n.split(" has no myhostname")[0] for n in notes] == ["postfix:global"]
    codes = [f.code for f in pooled.findings if f.code.startswith("tlsa-")]
    assert set(codes) == {"tlsa-mismatch", "tlsa-unsigned", "tlsa-lookup-failed"}
    assert len(codes) > DOMAINS / 3


def test_no_certificate_is_read_or_parsed_after_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the pool's threshold the parent process holds only its own share of the files;
    the DANE findings come from the workers, so none is read again (it was 3/4 of them)."""
    config = multitenant(tmp_path, DOMAINS)
    if pool_size(config.endpoints, audit_module.POOL_FROM) < 2:
        pytest.skip("one core here: the pool is not used")
    check = DaneCheck(mixed_lookup(tmp_path))
    disk = look_up(config, check)
    report = audit(config, options(tmp_path, audit_module.POOL_FROM), beside=disk)
    reads = counted(monkeypatch, load, "load_file")
    parses = counted(monkeypatch, x509, "load_pem_x509_certificate")
    with_dane, _ = dane_report(report, disk)
    assert (reads[0], parses[0]) == (0, 0)
    assert len(with_dane.findings) > len(report.findings) + DOMAINS / 3
    judged_after(report, config, check)  # the old way, for contrast: the counters count
    assert reads[0] >= DOMAINS and parses[0] >= DOMAINS


def test_in_process_the_dane_check_reads_no_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the threshold too: the audit with the DANE check reads what it reads without."""
    config = multitenant(tmp_path, 40)
    check = DaneCheck(mixed_lookup(tmp_path))
    reads = counted(monkeypatch, load, "load_file")
    audit(config, options(tmp_path, None))
    without = reads[0]
    disk = look_up(config, check)
    report = audit(config, options(tmp_path, None), beside=disk)
    report, _ = dane_report(report, disk)
    files = {f for e in config.endpoints for f in e.files()}
    assert reads[0] - without == without >= len(files)
    assert any(f.code == "tlsa-mismatch" for f in report.findings)


def test_findings_keep_the_owners_order_when_names_are_given(tmp_path: Path) -> None:
    """--name in another order than the endpoints': the findings still in the names' order."""
    config = multitenant(tmp_path, 30)
    names = ("mail.t19.example", "mail.t7.example", "mail.t25.example", "mail.t1.example")
    check = DaneCheck(mixed_lookup(tmp_path), names=names)
    disk = look_up(config, check)
    report, _ = dane_report(audit(config, options(tmp_path, None), beside=disk), disk)
    assert report == judged_after(audit(config, options(tmp_path, None)), config, check)
    owners_said = [f.message.split(":")[0] for f in report.findings if f.code.startswith("tlsa")]
    assert owners_said == [f"_25._tcp.{n}." for n in names]
