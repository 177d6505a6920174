"""The one place mailtls reads the clock: `--at` or now, always timezone-aware UTC."""

from __future__ import annotations

import datetime as dt

from mailtls.errors import UsageError


def parse_time(text: str | None) -> dt.datetime:
    """`--at` as an aware UTC datetime; a date alone means its midnight UTC."""
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--at {text!r}: not an ISO 8601 time (2026-11-29 or 2026-11-29T12:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:59:59-12:00 is in the year 10000 in UTC
        raise UsageError(f"--at {text!r}: outside the years 1 to 9999 in UTC") from None
