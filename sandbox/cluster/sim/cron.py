"""Cron schedules as Kubernetes' CronJob controller reads them (robfig/cron's standard
five fields: minute hour day-of-month month day-of-week, with `*`, lists, ranges, steps,
month and weekday names, `?`, and the @hourly/@daily/... macros), in UTC.

When both day fields are restricted a day matches if either does, as in cron.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (name, lowest, highest, names) per field
FIELDS = [("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
          ("month", 1, 12, MONTHS), ("day of week", 0, 6, DAYS)]
HORIZON_DAYS = 5 * 366  # a schedule that never fires within this is treated as never


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month was `*`
    any_weekday: bool

    def _day_ok(self, d: datetime) -> bool:
        dom = d.day in self.days
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, t: float) -> float | None:
        """The first scheduled instant strictly after `t` (seconds since the epoch)."""
        d = datetime.fromtimestamp(t, UTC).replace(second=0, microsecond=0) + timedelta(
            minutes=1)
        end = d + timedelta(days=HORIZON_DAYS)
        while d < end:
            if d.month not in self.months:
                year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
                d = d.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_ok(d):
                d = (d + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if d.hour not in self.hours:
                d = (d + timedelta(hours=1)).replace(minute=0)
                continue
            if d.minute not in self.minutes:
                d += timedelta(minutes=1)
                continue
            return d.timestamp()
        return None


def parse(text: str) -> Schedule:
    spec = MACROS.get(text.strip().lower(), text.strip())
    if spec.startswith("@every"):
        raise CronError(f"{text!r}: @every is not supported by CronJob schedules")
    parts = spec.split()
    if spec.upper().startswith(("TZ=", "CRON_TZ=")):
        raise CronError(f"{text!r}: use spec.timeZone instead of TZ or CRON_TZ in the schedule")
    if len(parts) != 5:
        raise CronError(f"{text!r}: expected exactly 5 fields, found {len(parts)}")
    sets = [_field(p, *f) for p, f in zip(parts, FIELDS, strict=True)]
    return Schedule(*(frozenset(s) for s in sets), any_day=parts[2] in ("*", "?"),
                    any_weekday=parts[4] in ("*", "?"))


def _value(text: str, name: str, low: int, high: int, names: list[str] | None) -> int:
    if names and text.lower() in names:
        return names.index(text.lower()) + low
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text}: the {name} field takes "
                        f"{low}-{high}")
    value = int(text)
    if name == "day of week" and value == 7:
        return 0  # Sunday, either way
    if not low <= value <= high:
        raise CronError(f"{name} value {value} out of range ({low}-{high})")
    return value


def _field(text: str, name: str, low: int, high: int, names: list[str] | None) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"invalid step {step_text!r} in the {name} field")
            step = int(step_text)
        if rng in ("*", "?"):
            first, last = low, high
        elif "-" in rng:
            a, _, b = rng.partition("-")
            first, last = (_value(a, name, low, high, names), _value(b, name, low, high, names))
            if first > last:
                raise CronError(f"beginning of range ({first}) beyond end of range ({last})")
        else:
            first = _value(rng, name, low, high, names)
            last = high if step_text else first
        out.update(range(first, last + 1, step))
    return out
