"""UTC timestamps as the data contract writes them (ISO-8601 with microseconds and ``Z``)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_utc", "parse_utc", "utc_now"]


def format_utc(moment: datetime) -> str:
    """``2026-11-21T09:30:00.123456Z``; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`format_utc` (also accepts ``+00:00`` offsets and no fraction)."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_now() -> str:
    """The current time, formatted by :func:`format_utc`."""
    return format_utc(datetime.now(UTC))
