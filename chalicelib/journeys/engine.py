"""The journey engine's decisions, as pure functions of their inputs and ``now``: when a
wait ends, whether an event or a standing change triggers a journey, whether re-entry is
allowed, quiet hours, the frequency cap, coupon codes. No I/O: the runner loads what these
need and tests drive them with any clock.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ..segments import filters
from ..tiers.rules import add_months

_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<y>\d{1,3})Y)?(?:(?P<mo>\d{1,4})M)?(?:(?P<w>\d{1,4})W)?(?:(?P<d>\d{1,5})D)?"
    r"(?:T(?:(?P<h>\d{1,6})H)?(?:(?P<mi>\d{1,7})M)?(?:(?P<s>\d{1,9})S)?)?$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Step Functions runs an execution for at most a year; longer waits are refused
MAX_WAIT = timedelta(days=365)
#: a rolling window of the frequency cap, and how long sends are remembered for it
DAY, WEEK = timedelta(hours=24), timedelta(days=7)


@dataclass(frozen=True)
class Duration:
    months: int
    delta: timedelta
    negative: bool = False

    def after(self, ts: datetime) -> datetime:
        sign = -1 if self.negative else 1
        return add_months(ts, sign * self.months) + sign * self.delta


def parse_duration(text: str) -> Duration:
    """ISO 8601 durations: ``PT2H``, ``P30D``, ``P1W``, ``P1Y2M``, ``-P7D``. ValueError otherwise."""
    match = _DURATION.match(text or "")
    if not match or text.rstrip("-").endswith(("P", "T")):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT2H or P30D")
    g = {k: int(v) if v else 0 for k, v in match.groupdict().items() if k != "sign"}
    delta = timedelta(weeks=g["w"], days=g["d"], hours=g["h"], minutes=g["mi"], seconds=g["s"])
    return Duration(months=g["y"] * 12 + g["mo"], delta=delta, negative=bool(match.group("sign")))


# --- local time --------------------------------------------------------------------------
def hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def at_local(day: date, clock_time: str, tz: str) -> datetime:
    """``day`` at ``clock_time`` in ``tz``, as UTC (a time skipped by DST moves forward)."""
    local = datetime.combine(day, hhmm(clock_time), tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def local_date(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def next_time_of_day(now: datetime, clock_time: str, tz: str) -> datetime:
    """The first ``clock_time`` (local) at or after ``now``."""
    today = local_date(now, tz)
    candidate = at_local(today, clock_time, tz)
    return candidate if candidate >= now else at_local(today + timedelta(days=1), clock_time, tz)


def next_weekday(now: datetime, weekday: str, clock_time: str, tz: str) -> datetime:
    today = local_date(now, tz)
    ahead = (WEEKDAYS.index(weekday) - today.weekday()) % 7
    candidate = at_local(today + timedelta(days=ahead), clock_time, tz)
    return candidate if candidate >= now else at_local(today + timedelta(days=ahead + 7), clock_time, tz)


# --- dates of members and triggers ------------------------------------------------------------------
@dataclass(frozen=True)
class YearlyDate:
    month: int
    day: int

    def in_year(self, year: int) -> date:
        """29 February falls on 28 February in other years."""
        if self.month == 2 and self.day == 29 and not _leap(year):
            return date(year, 2, 28)
        return date(year, self.month, self.day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_date_value(value: Any) -> YearlyDate | date | datetime | None:
    """A birthday ``{"month", "day"}``, ``MM-DD`` (yearly), ``YYYY-MM-DD`` (one day), or an
    ISO timestamp; None for anything else."""
    if isinstance(value, dict) and value.get("month") and value.get("day"):
        return YearlyDate(int(value["month"]), int(value["day"]))
    if not isinstance(value, str):
        return None
    try:
        if re.fullmatch(r"\d{2}-\d{2}", value):
            month, day = int(value[:2]), int(value[3:])
            YearlyDate(month, day).in_year(2000)  # validates
            return YearlyDate(month, day)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def date_due(value: YearlyDate | date | datetime, offset: Duration | None, clock_time: str, tz: str,
             now: datetime) -> datetime:
    """When a date wait ends: the date (for a yearly date, its next occurrence whose moment
    is still ahead) plus ``offset``, at ``clock_time`` local. A moment already past is
    ``now`` (the member goes on at once)."""
    def moment(day: date) -> datetime:
        base = at_local(day, clock_time, tz)
        return offset.after(base) if offset else base

    if isinstance(value, YearlyDate):
        this_year = local_date(now, tz).year
        for year in (this_year - 1, this_year, this_year + 1, this_year + 2):
            due = moment(value.in_year(year))
            if due >= now:
                return due
        return now
    day = value.astimezone(ZoneInfo(tz)).date() if isinstance(value, datetime) else value
    return max(moment(day), now)


def is_yearly_match(value: Any, day: date) -> bool:
    """Whether a yearly date (a birthday) falls on ``day`` (29 Feb on 28 Feb in other years)."""
    parsed = parse_date_value(value)
    if isinstance(parsed, (date, datetime)) and not isinstance(parsed, YearlyDate):
        parsed = YearlyDate(parsed.month, parsed.day)
    return isinstance(parsed, YearlyDate) and parsed.in_year(day.year) == day


def wait_due(step: dict[str, Any], now: datetime, tz: str, member: dict[str, Any],
             trigger: dict[str, Any]) -> datetime | None:
    """When the wait ``step`` ends for a member reaching it at ``now``; None when it waits
    on a date the member or trigger does not have."""
    if step.get("duration"):
        return parse_duration(step["duration"]).after(now)
    if step.get("until_time"):
        return next_time_of_day(now, step["until_time"], tz)
    if step.get("until_weekday"):
        return next_weekday(now, step["until_weekday"], step.get("at") or "10:00", tz)
    target = step["until_date"]
    name: str = target["attribute"]
    if name.startswith("trigger."):
        raw = trigger.get(name.split(".", 1)[1])
    elif name == "birthday":
        raw = member.get("birthday")
    else:
        raw = (member.get("attributes") or {}).get(name)
    value = parse_date_value(raw)
    if value is None:
        return None
    offset = parse_duration(target["offset"]) if target.get("offset") else None
    return date_due(value, offset, target.get("at") or "10:00", tz, now)


# --- triggers ---------------------------------------------------------------------------------
def event_matches(spec: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an event (as activity listeners receive it) matches an :class:`EventSpec`."""
    if spec["type"] != event.get("type"):
        return False
    if spec.get("name") and spec["name"] != event.get("name"):
        return False
    props = {**(event.get("properties") or {}),
             **{k: v for k, v in event.items() if not isinstance(v, (dict, list))}}
    return all(filters.compare(props.get(p["property"]), p.get("op", "eq"), p.get("value"))
               for p in spec.get("where", []))


def trigger_event(trigger: dict[str, Any]) -> dict[str, Any] | None:
    """The event spec an event-borne trigger listens for (membership triggers are domain
    events ``membership.<name>``, optionally of one plan)."""
    if trigger["type"] == "event":
        return trigger["event"]
    if trigger["type"] == "membership":
        where = [{"property": "plan_id", "op": "eq", "value": trigger["plan_id"]}] if trigger.get("plan_id") else []
        return {"type": f"membership.{trigger['event']}", "where": where}
    return None


def tier_move_matches(trigger: dict[str, Any], old: str | None, new: str | None, rank_old: int, rank_new: int) -> bool:
    if trigger.get("to") and trigger["to"] != new:
        return False
    direction = trigger.get("direction", "any")
    if direction == "up":
        return rank_new > rank_old
    if direction == "down":
        return rank_new < rank_old
    return old != new


def stage_move_matches(trigger: dict[str, Any], old: str | None, new: str | None) -> bool:
    return ((not trigger.get("to") or trigger["to"] == new)
            and (not trigger.get("previous") or trigger["previous"] == old))


def reentry_allows(reentry: dict[str, Any], entries: int, last_entered_at: datetime | None, now: datetime) -> bool:
    """Whether a member who entered ``entries`` times (last at ``last_entered_at``) may enter again."""
    if entries == 0:
        return True
    policy = reentry.get("policy", "once")
    if policy == "always":
        return True
    if policy == "every_n_days" and last_entered_at is not None:
        return now - last_entered_at >= timedelta(days=int(reentry["days"]))
    return False


# --- sending -----------------------------------------------------------------------------------
def quiet_until(now: datetime, tz: str, quiet: dict[str, str] | None) -> datetime | None:
    """The end of the quiet window ``now`` falls in (tenant's local time), else None."""
    if not quiet:
        return None
    local = now.astimezone(ZoneInfo(tz))
    start, end, current = hhmm(quiet["start"]), hhmm(quiet["end"]), local.time()
    inside = start <= current < end if start < end else (current >= start or current < end)
    if not inside:
        return None
    day = local.date() if current < end else local.date() + timedelta(days=1)
    return at_local(day, quiet["end"], tz)


def recent_sends(sent: list[str], now: datetime) -> list[str]:
    """The send times the frequency cap still needs to remember (the last 7 days)."""
    floor = now - WEEK
    return sorted(t for t in sent if _parse(t) > floor)


def cap_exceeded(sent: list[str], now: datetime, cap: dict[str, int | None] | None) -> bool:
    """Whether one more message would exceed the rolling caps."""
    if not cap:
        return False
    times = [_parse(t) for t in sent]
    day_limit, week_limit = cap.get("per_24_hours"), cap.get("per_7_days")
    if day_limit is not None and sum(t > now - DAY for t in times) >= day_limit:
        return True
    return week_limit is not None and sum(t > now - WEEK for t in times) >= week_limit


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


def coupon_code(secret: bytes, enrolment_id: str, step_key: str, prefix: str, length: int) -> str:
    """A code derived from the enrolment and step with a keyed hash: the same step run twice
    grants the same code, and codes cannot be guessed without the key."""
    digest = hmac.new(secret, f"coupon|{enrolment_id}|{step_key}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_CODE_ALPHABET))
        chars.append(_CODE_ALPHABET[index])
    return prefix + "".join(chars)


def backoff(attempt: int) -> timedelta:
    """Delay before delivery attempt ``attempt + 1``: 30 s, 2 min, 10 min, 1 h, 6 h."""
    return [timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1),
            timedelta(hours=6)][min(attempt - 1, 4)]


#: delivery attempts before a message is failed for good
MAX_ATTEMPTS = 6
