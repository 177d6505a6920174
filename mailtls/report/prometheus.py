"""Prometheus text exposition, for node_exporter's textfile collector (`--output FILE`).

Gauges only: per endpoint and certificate the expiry time, whether the chain is trusted,
whether what a listener serves equals the file (with --live), findings by code and severity,
and when the run happened and how long it took.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from mailtls.models import Report

_HELP = {
    "mailtls_certificate_expiry_timestamp_seconds": "When a served certificate expires.",
    "mailtls_chain_trusted": "1 when the endpoint's chain validates as clients see it.",
    "mailtls_served_matches_disk": "1 when a listener serves the chain the file holds.",
    "mailtls_findings": "Findings of this run, by code and severity.",
    "mailtls_last_run_timestamp_seconds": "When mailtls last ran.",
    "mailtls_run_duration_seconds": "How long the run took.",
}


def _label(value: str) -> str:
    """A label value as the exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{key}="{_label(text)}"' for key, text in labels.items())
    number = str(int(value)) if float(value).is_integer() else repr(float(value))
    return f"{name}{{{inner}}} {number}" if inner else f"{name} {number}"


def render(report: Report, duration: float, ran_at: float) -> str:
    """The metrics; `duration` and `ran_at` (a UNIX time) are the run's own."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}
    disk: dict[str, list[str]] = {}
    for chain in report.chains:
        if chain.listener:
            continue
        disk.setdefault(chain.endpoint, [c.sha256 for c in chain.certs])
        samples["mailtls_chain_trusted"].append(
            _sample("mailtls_chain_trusted", {"endpoint": chain.endpoint}, int(chain.trusted))
        )
        for position, cert in enumerate(chain.certs):
            labels = {
                "endpoint": chain.endpoint,
                "position": str(position),
                "subject": cert.subject,
                "sha256": cert.sha256,
            }
            expiry = dt.datetime.fromisoformat(cert.not_after).timestamp()
            samples["mailtls_certificate_expiry_timestamp_seconds"].append(
                _sample("mailtls_certificate_expiry_timestamp_seconds", labels, expiry)
            )
    for chain in report.chains:
        if chain.listener and chain.endpoint in disk:
            same = [c.sha256 for c in chain.certs] == disk[chain.endpoint]
            labels = {"endpoint": chain.endpoint, "listener": chain.listener}
            samples["mailtls_served_matches_disk"].append(
                _sample("mailtls_served_matches_disk", labels, int(same))
            )
    counts = Counter((f.code, f.severity.value) for f in report.findings)
    for (code, severity), count in sorted(counts.items()):
        samples["mailtls_findings"].append(
            _sample("mailtls_findings", {"code": code, "severity": severity}, count)
        )
    samples["mailtls_last_run_timestamp_seconds"].append(
        _sample("mailtls_last_run_timestamp_seconds", {}, round(ran_at, 3))
    )
    samples["mailtls_run_duration_seconds"].append(
        _sample("mailtls_run_duration_seconds", {}, round(duration, 3))
    )
    out: list[str] = []
    for name, lines in samples.items():
        out += [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge", *lines]
    return "\n".join(out) + "\n"
