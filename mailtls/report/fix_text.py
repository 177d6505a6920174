"""What `mailtls fix` did (or would do), for a person: one block per file, chains not base64."""

from __future__ import annotations

from mailtls.fix.run import FixResult
from mailtls.models import CertInfo
from mailtls.report.escape import safe
from mailtls.report.text import cert_line


def _chain(title: str, certs: tuple[CertInfo, ...]) -> list[str]:
    return [f"  {title}:"] + [cert_line(n, c) for n, c in enumerate(certs, start=1)]


def render(result: FixResult, *, dry_run: bool, diff: bool) -> str:
    out: list[str] = []
    verb = "would rewrite" if dry_run else "rewrote"
    written = {w.path: w for w in result.written}
    for change in result.changes:
        through = (
            f" (through the symlink {change.configured})"
            if change.configured != change.path
            else ""
        )
        out.append(f"{verb} {change.path}{through} for {', '.join(change.endpoints)}")
        for source in change.added_from:
            out.append(f"  added an intermediate from {source}")
        saved = written.get(change.path)
        if saved is not None and saved.backup:
            out.append(f"  backup: {saved.backup}")
        if diff or dry_run:
            out += _chain("before", change.before) + _chain("after", change.after)
    for outcome in result.outcomes:
        state = "done" if outcome.ok else "FAILED"
        out.append(f"{outcome.step.why}: {state} ({' '.join(outcome.step.argv)})")
        if not outcome.ok:
            out.append(f"  {outcome.output}")
    for refusal in result.refusals:
        out.append(f"not fixed {refusal.path} ({', '.join(refusal.endpoints)}): {refusal.reason}")
    out += [f"suggestion: {text}" for text in result.suggestions]
    if not out:
        out.append("nothing to fix")
    final = result.after
    if final is not None:
        errors = [f for f in final.findings if f.severity.value == "error"]
        out.append(f"after the fix: {len(errors)} error{'s' if len(errors) != 1 else ''} remain")
        out += [f"  {f.source or f.path} {f.code} {f.message}" for f in errors]
    # Paths, certificate names and command output are the world's text: one line each, safe.
    return "\n".join(safe(line) for line in out) + "\n"
