"""Date functions; dates are epoch milliseconds or ISO 8601 strings in UTC."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from themis.aql._functions._registry import register
from themis.aql._values import to_number, to_string
from themis.aql.errors import AqlExecutionError

_UNITS = {
    "y": "years", "year": "years", "years": "years",
    "m": "months", "month": "months", "months": "months",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hour": "hours", "hours": "hours",
    "i": "minutes", "minute": "minutes", "minutes": "minutes",
    "s": "seconds", "second": "seconds", "seconds": "seconds",
    "f": "milliseconds", "millisecond": "milliseconds", "milliseconds": "milliseconds",
}  # fmt: skip
_MILLIS = {
    "weeks": 604_800_000,
    "days": 86_400_000,
    "hours": 3_600_000,
    "minutes": 60_000,
    "seconds": 1000,
    "milliseconds": 1,
}


def parse_date(value: Any) -> datetime | None:
    """Return the UTC datetime for a timestamp or ISO string, None if invalid."""
    if type(value) in (int, float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _unit(value: Any) -> str:
    unit = _UNITS.get(to_string(value).lower())
    if unit is None:
        raise AqlExecutionError(f"unknown date unit {to_string(value)!r}")
    return unit


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _shift(date: Any, amount: Any, unit: Any, sign: int) -> str | None:
    moment = parse_date(date)
    if moment is None:
        return None
    count = to_number(amount) * sign
    name = _unit(unit)
    if name in ("years", "months"):
        months = int(count) * (12 if name == "years" else 1)
        return _iso(_add_months(moment, months))
    return _iso(moment + timedelta(milliseconds=count * _MILLIS[name]))


@register("DATE_NOW", min_args=0, max_args=0)
def _now() -> int:
    return time.time_ns() // 1_000_000


@register("DATE_ISO8601")
def _date_iso(value: Any) -> str | None:
    moment = parse_date(value)
    return None if moment is None else _iso(moment)


@register("DATE_TIMESTAMP")
def _date_timestamp(value: Any) -> int | None:
    moment = parse_date(value)
    return None if moment is None else _millis(moment)


@register("DATE_ADD", min_args=3, max_args=3)
def _date_add(date: Any, amount: Any, unit: Any) -> str | None:
    return _shift(date, amount, unit, 1)


@register("DATE_SUBTRACT", min_args=3, max_args=3)
def _date_subtract(date: Any, amount: Any, unit: Any) -> str | None:
    return _shift(date, amount, unit, -1)


@register("DATE_DIFF", min_args=3, max_args=4)
def _date_diff(first: Any, second: Any, unit: Any, as_float: Any = False) -> Any:
    start, end = parse_date(first), parse_date(second)
    if start is None or end is None:
        return None
    name = _unit(unit)
    if name in ("years", "months"):
        months = (end.year - start.year) * 12 + end.month - start.month
        if (end.day, end.time()) < (start.day, start.time()) and months > 0:
            months -= 1
        diff: float = months / 12 if name == "years" else months
    else:
        diff = (_millis(end) - _millis(start)) / _MILLIS[name]
    return diff if as_float else int(diff)


def _part(name: str, attribute: str) -> None:
    def extract(value: Any) -> int | None:
        moment = parse_date(value)
        return None if moment is None else int(getattr(moment, attribute))

    register(name)(extract)


_part("DATE_YEAR", "year")
_part("DATE_MONTH", "month")
_part("DATE_DAY", "day")
_part("DATE_HOUR", "hour")
_part("DATE_MINUTE", "minute")
_part("DATE_SECOND", "second")


@register("DATE_DAYOFWEEK")
def _day_of_week(value: Any) -> int | None:
    moment = parse_date(value)
    return None if moment is None else (moment.weekday() + 1) % 7
