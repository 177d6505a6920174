"""The shape of the audit's cost, counted, not timed: shared files judged once, the process
pool giving the serial report, no check comparing every endpoint with every other."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from mailtls import audit as audit_module
from mailtls.audit import Auditor, audit
from mailtls.checks import chain as chain_checks
from mailtls.checks import consistency, files, permissions
from mailtls.config.discover import read_all
from mailtls.models import Endpoint
from mailtls.pki import chain as pki_chain
from mailtls.pki import load
from mailtls.pool import pool_size
from mailtls.report import json as json_report
from tests.conftest import ROOT
from tests.hosts import multitenant, options


class Counter:
    """Wraps a function and counts its calls."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.function(*args, **kwargs)


def count(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> Counter:
    counter = Counter(getattr(module, name))
    monkeypatch.setattr(module, name, counter)
    return counter


def test_a_chain_named_by_many_endpoints_is_judged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 domains, the last 10 naming the first one's files; Dovecot and Postfix both: each
    chain validated once, each (files, role) judged once, each endpoint's names checked."""
    config = multitenant(tmp_path, 40, shared=10)
    validations = count(monkeypatch, chain_checks, "validate")
    verdicts = count(monkeypatch, audit_module, "verdict")
    names = count(monkeypatch, audit_module, "name_findings")
    report = audit(config, options(tmp_path, None))
    # 30 distinct chains; Postfix's SNI entries group each key with its certificates under
    # the key file's name, so they are judged apart from Dovecot's, but validated with them.
    assert validations.calls == 30
    assert verdicts.calls == 30 + 30
    served = [e for e in config.endpoints if e.cert_file or e.chain_files]
    assert names.calls == len(served) == 81
    shared = [f for f in report.findings if f.code == "name-mismatch"]
    assert len({f.endpoint for f in shared}) == len(shared) >= 2 * 10  # each under its own name


def test_a_shared_verdict_is_relabelled(tmp_path: Path) -> None:
    """The findings of a chain judged once carry each endpoint's own id and config line."""
    config = multitenant(tmp_path, 12, shared=4)
    report = audit(config, options(tmp_path, None))
    by_id = {e.id: e for e in config.endpoints}
    for finding in report.findings:
        if finding.endpoint in by_id:
            assert finding.source == by_id[finding.endpoint].source
    chains = {c.endpoint for c in report.chains}
    assert {e.id for e in config.endpoints if e.cert_file or e.chain_files} == chains
    # tenant 0's leaf alone is served by 4 + 1 Dovecot blocks: each says so, once
    missing = [f for f in report.findings if f.code == "missing-intermediate"]
    dovecot_t0 = [f for f in missing if "dovecot" in str(f.endpoint) and "t0." in str(f.path)]
    assert len({f.endpoint for f in dovecot_t0}) == len(dovecot_t0) == 5


def test_a_certificate_folder_is_looked_at_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 domains named by Dovecot and by Postfix: each folder on the way resolved once in a
    run, each file looked at once, not os.path.realpath per endpoint (15% of a 10,000-domain
    audit)."""
    config = multitenant(tmp_path, 30)
    realpaths = count(monkeypatch, os.path, "realpath")
    lstats = count(monkeypatch, permissions, "_lstat")
    stats = count(monkeypatch, permissions, "_stat")
    audit(config, options(tmp_path, None))
    files = {p for e in config.endpoints for p in e.files()}
    folders = {os.path.dirname(p) for p in files}
    assert realpaths.calls <= 1  # "/" alone
    assert lstats.calls <= len(files) + len(folders) + len(tmp_path.parts) + 1
    assert stats.calls == len(folders)


def test_an_intermediate_in_many_files_is_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 domains, 32 of them with the issuing CA in their fullchain.pem: 40 leaves, the
    issuing CA and the root parsed, one each, not the CA again for every file it is in."""
    config = multitenant(tmp_path, 40)
    load.pem_certificate.cache_clear()
    parses = count(monkeypatch, x509, "load_pem_x509_certificate")
    report = audit(config, options(tmp_path, None))
    assert parses.calls == 40 + 1 + 1
    served = [len(c.certs) for c in report.chains]
    assert sum(served) == 2 * (32 * 2 + 8) + 1  # every chain still whole (+ main.cf's t0)


def test_a_leaf_is_not_taken_for_self_signed_by_comparing_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """self_signed(leaf) for a SHA-256 leaf: the signature check says no, in Rust; the
    Name objects (13 us to build and compare) are built only for a SHA-1 or MD5 signature."""
    multitenant(tmp_path, 3)
    leaf = load.load_file(str(tmp_path / "ssl" / "mail.t1.example" / "fullchain.pem")).certs[0]
    pki_chain.issued_by.cache_clear()
    compared = count(monkeypatch, x509.Name, "__eq__")
    assert not pki_chain.self_signed(leaf)
    assert compared.calls == 0


def test_names_written_out_once_per_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaf and its CA read, then described for the report: each name (subject, issuer)
    written as RFC 4514 text once, at load, not again for the report."""
    multitenant(tmp_path, 3)
    audit_module.forget_certificates()
    written = Counter(x509.Name.rfc4514_string)

    def rfc4514_string(self: x509.Name, *args: Any) -> str:
        return str(written(self, *args))

    monkeypatch.setattr(x509.Name, "rfc4514_string", rfc4514_string)
    loaded = load.load_file(str(tmp_path / "ssl" / "mail.t1.example" / "fullchain.pem"))
    infos = [pki_chain.describe(cert) for cert in loaded.certs]
    assert [info.subject.split(",")[0] for info in infos] == ["CN=mail.t1.example", "CN=MT Issuing"]
    assert written.calls == 2 * 2


def test_path_facts_once_per_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """40 domains: 8 serve their leaf alone, 6 have expired (one of them both): each of those
    13 chains is taken apart once, though Dovecot and Postfix (and main.cf for t0) name it."""
    config = multitenant(tmp_path, 40)
    facts = count(monkeypatch, chain_checks, "path_facts")
    report = audit(config, options(tmp_path, None))
    assert facts.calls == 13
    missing = [f for f in report.findings if f.code == "missing-intermediate"]
    assert len(missing) == 2 * 8 + 1  # still said for each endpoint


def test_the_pool_gives_the_serial_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """50 domains audited by two processes: the same report, finding for finding, in order."""
    config = multitenant(tmp_path, 50, shared=5)
    if pool_size(config.endpoints, 0) < 2:
        pytest.skip("one core here: the pool is not used")
    serial = audit(config, options(tmp_path, None))
    here = Counter(Auditor.endpoint)
    monkeypatch.setattr(Auditor, "endpoint", lambda self, e: here(self, e))
    pooled = audit(config, options(tmp_path, 0))
    assert 0 < here.calls < len(config.endpoints)  # the worker audited the rest
    assert pooled == serial
    assert json_report.render(pooled) == json_report.render(serial)
    codes = {f.code for f in serial.findings}
    assert {"missing-intermediate", "cert-expired", "name-mismatch"} <= codes


def test_no_check_is_quadratic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 endpoints (1,000 domains, each in Dovecot and Postfix): the signature checks
    and the cross-daemon comparisons grow with the endpoints, not with their pairs (the
    different-certs check made 8 million comparisons for 4,000 endpoints before)."""
    config = multitenant(tmp_path, 1000)
    assert len(config.endpoints) >= 2000
    signatures = [
        count(monkeypatch, pki_chain, "issued_by"),
        count(monkeypatch, files, "issued_by"),
    ]
    comparisons = [
        count(monkeypatch, consistency, "_worse"),
        count(monkeypatch, consistency, "_claims"),
        count(monkeypatch, consistency, "covers"),
    ]
    audit(config, options(tmp_path, None))
    endpoints = len(config.endpoints)
    assert sum(c.calls for c in signatures) < 10 * endpoints
    assert sum(c.calls for c in comparisons) < 5 * endpoints
    assert comparisons[0].calls >= 1000  # each name of both daemons is compared, once


def test_the_pool_does_not_write_buffered_output_twice(tmp_path: Path) -> None:
    """What the caller printed but not yet flushed when the workers fork is written once
    (multiprocessing flushes the streams before it forks; a bare os.fork would not)."""
    multitenant(tmp_path, 6)
    if pool_size(multitenant_endpoints(tmp_path), 0) < 2:
        pytest.skip("one core here: the pool is not used")
    script = (
        "import sys\n"
        "from tests.hosts import options\n"
        "from mailtls.audit import audit\n"
        "from mailtls.config.discover import read_all\n"
        "from pathlib import Path\n"
        f"root = Path({str(tmp_path)!r})\n"
        "config = read_all([str(root / 'dovecot.conf'), str(root / 'postfix')], {})\n"
        "print('before the audit')\n"
        "report = audit(config, options(root, 0))\n"
        "print(len(report.findings))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.count("before the audit") == 1


def multitenant_endpoints(root: Path) -> tuple[Endpoint, ...]:
    return read_all([str(root / "dovecot.conf"), str(root / "postfix")], {}).endpoints


def test_no_fork_means_a_serial_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system refuses another process (a process limit), the audit is done here,
    with the same report."""
    config = multitenant(tmp_path, 12)
    serial = audit(config, options(tmp_path, None))

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    assert audit(config, options(tmp_path, 0)) == serial


def test_dane_looks_each_owner_up_once_and_judges_each_chain_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 domains in a Postfix SNI map, 10 of them sharing the first one's files: each
    TLSA owner name asked once, each (owner, files) judged once, the path building linear."""
    from mailtls.checks import dane as dane_checks
    from mailtls.dane import match
    from mailtls.dane.answer import Answer, Status
    from mailtls.dane.audit import DaneCheck, dane_report, look_up
    from mailtls.dane.records import TlsaRecord
    from mailtls.models import Report

    config = multitenant(tmp_path, 1000, shared=10)
    postfix = [e for e in config.endpoints if e.service == "postfix" and e.role == "server"]
    asked: list[str] = []

    def lookup(owner: str) -> Answer:
        asked.append(owner)
        return Answer(owner, Status.OK, (TlsaRecord(3, 1, 1, bytes(32)),), secure=True)

    judged = count(monkeypatch, dane_checks, "judge_disk")
    paths = count(monkeypatch, match, "issued_by")
    empty = Report(config.endpoints, (), (), config.configs, "")
    report, _ = dane_report(empty, look_up(config, DaneCheck(lookup)))
    owners = {f.message.split(":")[0] for f in report.findings}
    assert len(asked) == len(set(asked)) == len(owners) >= 1000
    assert judged.calls == len(owners)  # each name its own files, so one chain per owner
    assert paths.calls < 5 * len(postfix)
    assert {f.code for f in report.findings} == {"tlsa-mismatch"}
