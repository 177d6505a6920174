"""What `mailtls fix` did (or would do), for a person: one block per file, chains not base64."""

from __future__ import annotations

from mailtls.fix.run import FixResult
from mailtls.models import CertInfo
from mailtls.report.escape import safe
from mailtls.report.text import cert_line, common_name


def _chain(title: str, certs: tuple[CertInfo, ...]) -> list[str]:
    return [f"  {title}:"] + [cert_line(n, c) for n, c in enumerate(certs, start=1)]


def _removed(before: tuple[CertInfo, ...], after: tuple[CertInfo, ...], at: str) -> list[str]:
    """What the new file leaves out, and why; or that it only put the same ones in order."""
    kept = {c.sha256 for c in after}
    lines, seen = [], set()
    for cert in before:
        name = common_name(cert.subject)
        if cert.sha256 in seen:
            lines.append(f"  removed a second copy of '{name}'")
        elif cert.sha256 not in kept:
            lines.append(f"  removed '{name}' ({_why_removed(cert, after, at)})")
        seen.add(cert.sha256)
    same = [c.sha256 for c in before if c.sha256 in kept]
    if not lines and same != [c.sha256 for c in after if c.sha256 in set(same)]:
        lines.append("  put the leaf first, each issuer after what it signed")
    return lines


def _why_removed(cert: CertInfo, after: tuple[CertInfo, ...], at: str) -> str:
    expired = f", expired on {cert.not_after[:10]}" if cert.not_after < at else ""
    if cert.self_signed:
        return f"a root{expired}: clients use their own copy of the roots they trust"
    twin = next((c for c in after if c.subject == cert.subject), None)
    if twin is not None or any(c.issuer == cert.subject for c in after):
        return (
            f"a cross-sign by '{common_name(cert.issuer)}'{expired}: not on the path clients take"
        )
    return f"not on the leaf's path{expired}"


def _edits(result: FixResult, dry_run: bool) -> list[str]:
    """--edit-config: each line repointed (or that would be), and what the parser said."""
    out = []
    done = {id(o.edit): o for o in result.edited}
    for edit in result.config_edits:
        outcome = done.get(id(edit))
        verb = "would repoint" if dry_run else "repointed"
        if outcome is not None and not outcome.written:
            verb = "NOT repointed"
        for line in edit.lines:
            out.append(f"{verb} {edit.path}:{line.line}: {line.old} -> {line.new}")
        if outcome is None:
            continue
        if outcome.backup and outcome.written:
            out.append(f"  backup: {outcome.backup}")
        checked = outcome.validation
        if checked is not None and checked.argv:
            state = "accepted it" if checked.ok else f"rejected it: {checked.output}"
            if edit.table:  # an SNI map: rebuilt and looked up, or what postmap said
                state = f"done ({checked.output})" if checked.ok else f"FAILED: {checked.output}"
            out.append(f"  {' '.join(checked.argv)}: {state}")
        elif checked is not None:
            out.append(f"  {checked.output}")
        if outcome.rolled_back:
            out.append("  the original was put back, byte for byte")
        if outcome.error:
            out.append(f"  {outcome.error}")
    return out


def render(result: FixResult, *, dry_run: bool, diff: bool) -> str:
    out: list[str] = []
    verb = "would rewrite" if dry_run else "rewrote"
    written = {w.path: w for w in result.written}
    for change in result.changes:
        if not dry_run and change.path not in written:
            continue  # failed or left alone: said below
        through = (
            f" (through the symlink {change.configured})"
            if change.configured != change.path
            else ""
        )
        out.append(f"{verb} {change.path}{through} for {', '.join(change.endpoints)}")
        for source in change.added_from:
            out.append(f"  added an intermediate from {source}")
        out += _removed(change.before, change.after, result.before.at)
        saved = written.get(change.path)
        if saved is not None and saved.backup:
            out.append(f"  backup: {saved.backup}")
        if diff or dry_run:
            out += _chain("before", change.before) + _chain("after", change.after)
    out += _edits(result, dry_run)
    for outcome in result.outcomes:
        state = "done" if outcome.ok else "FAILED"
        out.append(f"{outcome.step.why}: {state} ({' '.join(outcome.step.argv)})")
        if not outcome.ok:
            out.append(f"  {outcome.output}")
    out += [f"NOT written: {f.reason}" for f in result.failed]
    out += [f"left alone: {f.message} [{f.code}]" for f in result.skipped]
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
