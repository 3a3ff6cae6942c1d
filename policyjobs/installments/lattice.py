"""An installment lattice: a term cut into frames, and each charge split exactly across them.

Pure code: no database, no clock and no I/O beyond loading the named timezone.

Calendar. Boundaries are computed on the account's wall clock and turned into UTC at the end, so
frames start at the same local time of day across DST changes (a wall time that DST skips moves
forward by the gap; an ambiguous one is its first occurrence). Each boundary is the anchor plus k
whole steps (7 days, or 1, 3, 6 or 12 months via `relativedelta`, clamped to the month's end),
never a chain of steps: a term starting Jan 31 has monthly frames starting Feb 28 or 29, Mar 31,
Apr 30, and so on.

Anchor modes. The term's billing periods break at the lattice points `term start + k steps +
offset days` lying at least one step after the term start; the offset is 0 for termStartDay,
`generateLeadDays` for generateDay and `dueLeadDays` for dueDay. A frame's generate (due) time is
its start less the lead days, so in generateDay (dueDay) mode each later period is generated (falls
due) on the term start's day of the month (of the week, when weekly), clamped to the month's end.
The first frame starts at the term start and absorbs the stub before the first lattice point, so
it is never shorter than one step. With no lead days the three modes agree.

Capping. `maxInstallmentsPerTerm` keeps the first `max - 1` breaks: the last period absorbs the
rest of the term. Segments, when given, must tile the term; their inner boundaries cut the
periods, so billing dates do not move at a mid-term change, frames tile each segment, and those
cuts can add frames beyond the cap.

Times. Installment start and end equal coverage start and end. The generate time is the start
less `generateLeadDays` local days, the due time the start less `dueLeadDays` local days, and a
generate time after the due time is clamped to it.

Weights. Periods weigh the same (the common insurance convention) unless `installmentWeights` is
given: period i weighs weight i, periods beyond the list repeat its last weight (`[2, 1]` is a
double first payment, then equal ones), and weights beyond the periods are ignored. A period cut
by segments shares its weight among its frames in proportion to their durations. `exact_weight`
is the normalized weight as a fraction; `normalized_weight` rounds it to 18 decimal places, the
first frame taking the rounding so they sum to exactly 1.

Splitting. A charge times each later frame's exact weight is truncated toward zero to the quantum
(the currency's minor unit) and the first installment takes the remainder, so a charge's
installments sum to it exactly and share its sign; credits split the same way.

Cancelling. A cancellation effective at a time takes back, of each installment item, the part
that pays for cover after that time (`share_after`): all of it when the installment's coverage
starts then or later, none when it ends by then, and for the installment it cuts through, the
item's amount times the fraction of the coverage's time (to the microsecond) that lies after
the cancellation, rounded half to even to the quantum. The rest of the item pays for the cover
before, so the two parts sum to the item exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import relativedelta


class Cadence(StrEnum):
    """How often an installment plan bills within a term."""

    FULL_PAY = "fullPay"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUALLY = "semiannually"
    ANNUALLY = "annually"


class AnchorMode(StrEnum):
    """The day an installment lattice's frames are aligned to."""

    TERM_START_DAY = "termStartDay"
    GENERATE_DAY = "generateDay"
    DUE_DAY = "dueDay"


@dataclass(frozen=True, slots=True)
class Plan:
    """How a term is cut into frames and weighted, and when each frame is generated and due."""

    cadence: Cadence
    max_installments_per_term: int | None = None
    installment_weights: tuple[Decimal, ...] | None = None
    generate_lead_days: int = 0
    due_lead_days: int = 0
    anchor_mode: AnchorMode = AnchorMode.TERM_START_DAY


CENT = Decimal("0.01")
WEIGHT_QUANTUM = Decimal("1E-18")
MAX_AMOUNT = Decimal("1E24")
MAX_FRAMES = 1000
_SMALLEST_QUANTUM = Decimal("1E-18")
_MONTHS = {Cadence.MONTHLY: 1, Cadence.QUARTERLY: 3, Cadence.SEMIANNUALLY: 6, Cadence.ANNUALLY: 12}
_CONTEXT = Context(prec=80)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open stretch of time from `start` up to `end`, both aware datetimes."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """The time from start to end."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Charge:
    """A priced charge to split into installments, where a negative amount is a credit."""

    locator: str
    charge_type: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a lattice: its times in UTC, and its share of each charge, exact and rounded."""

    index: int
    coverage_start: datetime
    coverage_end: datetime
    installment_start: datetime
    installment_end: datetime
    generate_time: datetime
    due_time: datetime
    normalized_weight: Decimal
    exact_weight: Fraction


@dataclass(frozen=True, slots=True)
class Lattice:
    """A term in UTC, the account's timezone and the frames that tile the term in order."""

    term: Span
    timezone: str
    frames: tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class InstallmentItem:
    """One charge's share of one installment."""

    charge_locator: str
    charge_type: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Installment:
    """The installment of one frame, with one item per charge in the charges' order."""

    frame: Frame
    items: tuple[InstallmentItem, ...]

    @property
    def frame_index(self) -> int:
        """The index of the installment's frame in its lattice."""
        return self.frame.index

    @property
    def total(self) -> Decimal:
        """The sum of the installment's item amounts."""
        return sum((item.amount for item in self.items), Decimal(0))


def build_lattice(
    term: Span, plan: Plan, timezone: str | ZoneInfo, segments: Sequence[Span] = ()
) -> Lattice:
    """The frames of `term` under `plan` in the account's `timezone`, cut at any `segments`."""
    zone = _zone(timezone)
    try:
        return _build(term, plan, zone, segments)
    except OverflowError as error:
        raise ValueError(f"the term's lattice leaves the supported calendar: {error}") from None


def _build(term: Span, plan: Plan, zone: ZoneInfo, segments: Sequence[Span]) -> Lattice:
    """`build_lattice`, which may overflow the calendar near year 1 or 9999."""
    term = _utc_span(term, "term")
    cuts = _segment_cuts(term, segments)
    try:
        periods = _period_boundaries(term, plan, zone)
    except ValueError as error:  # a step past year 9999
        raise OverflowError(str(error)) from None
    starts = sorted({term.start, *periods, *cuts})
    if len(starts) > MAX_FRAMES:
        raise ValueError(f"the term makes more than {MAX_FRAMES} frames under this plan; "
                         "use a longer cadence, maxInstallmentsPerTerm or a shorter term")
    spans = [Span(start, end) for start, end in pairwise([*starts, term.end])]
    exact = _frame_weights(plan, spans, [term.start, *periods])
    weights = zip(normalized_weights(exact), exact, strict=True)
    frames = tuple(
        _frame(index, span, weight, plan, zone)
        for index, (span, weight) in enumerate(zip(spans, weights, strict=True))
    )
    return Lattice(term, zone.key, frames)


def split_charges(
    lattice: Lattice, charges: Sequence[Charge], quantum: Decimal = CENT
) -> tuple[Installment, ...]:
    """One installment per frame of `lattice`, splitting each charge by the frames' weights."""
    _check_quantum(quantum)
    seen: set[str] = set()
    for index, charge in enumerate(charges):
        if charge.locator in seen:
            raise ValueError(f"charges[{index}]: charge {charge.locator!r} is listed twice")
        seen.add(charge.locator)
        _check_amount(charge.amount, quantum, f"charges[{index}].amount")
    weights = [frame.exact_weight for frame in lattice.frames]
    columns = [split_amount(charge.amount, weights, quantum) for charge in charges]
    return tuple(
        Installment(
            frame,
            tuple(
                InstallmentItem(charge.locator, charge.charge_type, column[index])
                for charge, column in zip(charges, columns, strict=True)
            ),
        )
        for index, frame in enumerate(lattice.frames)
    )


@dataclass(frozen=True, slots=True)
class Portion:
    """A stretch of the term with its own charges: a quote's whole term, or one segment."""

    span: Span
    charges: tuple[Charge, ...]


def split_portions(
    lattice: Lattice, portions: Sequence[Portion], quantum: Decimal = CENT
) -> tuple[Installment, ...]:
    """Each portion's charges split across the frames lying within it, by those frames' weights.

    A frame lies in at most one portion (portions are segments, whose boundaries cut frames).
    Shares that round to zero are left out, and so are frames that bill nothing, so every
    installment has at least one item. Charge locators must be unique across the portions.
    """
    _check_quantum(quantum)
    seen: set[str] = set()
    items: dict[int, list[InstallmentItem]] = {}
    for number, portion in enumerate(portions):
        span = _utc_span(portion.span, f"portions[{number}]")
        inside = [f for f in lattice.frames if span.start <= f.coverage_start < span.end]
        whole = inside and (inside[0].coverage_start, inside[-1].coverage_end) == (
            span.start, span.end)
        if not whole:
            raise ValueError(f"portions[{number}] is not a run of whole frames of the lattice")
        for index, charge in enumerate(portion.charges):
            where = f"portions[{number}].charges[{index}]"
            if charge.locator in seen:
                raise ValueError(f"{where}: charge {charge.locator!r} is listed twice")
            seen.add(charge.locator)
            _check_amount(charge.amount, quantum, f"{where}.amount")
            shares = split_amount(charge.amount, [f.exact_weight for f in inside], quantum)
            for frame, share in zip(inside, shares, strict=True):
                if share:
                    items.setdefault(frame.index, []).append(
                        InstallmentItem(charge.locator, charge.charge_type, share))
    return tuple(Installment(frame, tuple(items[frame.index]))
                 for frame in lattice.frames if frame.index in items)


def cover(term: Span, spans: Sequence[Span]) -> list[Span]:
    """`spans`, in order and end to end, with the stretches of `term` before and after them."""
    if not spans:
        return [term]
    before = [Span(term.start, spans[0].start)] if term.start < spans[0].start else []
    after = [Span(spans[-1].end, term.end)] if spans[-1].end < term.end else []
    return [*before, *spans, *after]


def split_amount(
    amount: Decimal, weights: Sequence[Fraction | Decimal | int], quantum: Decimal = CENT
) -> list[Decimal]:
    """`amount` split by `weights` into multiples of `quantum`, the remainder going to the first."""
    _check_quantum(quantum)
    _check_amount(amount, quantum, "amount")
    shares = [Fraction(weight) for weight in weights]
    if not shares or min(shares) < 0 or not any(shares):
        raise ValueError(f"weights {list(weights)} are not non-negative with a positive sum")
    total = sum(shares, Fraction(0))
    with localcontext(_CONTEXT):
        units = int(amount / quantum)
        rest = [int(units * share / total) for share in shares[1:]]
        return [Decimal(count) * quantum for count in (units - sum(rest), *rest)]


def share_after(amount: Decimal, coverage: Span, moment: datetime,
                quantum: Decimal = CENT) -> Decimal:
    """The part of an installment item's `amount` that pays for its `coverage` after
    `moment`, in multiples of `quantum` (see Cancelling above)."""
    _check_quantum(quantum)
    _check_amount(amount, quantum, "amount")
    if moment <= coverage.start:
        return amount
    if moment >= coverage.end:
        return Decimal(0) * quantum
    after = (coverage.end - moment) // _MICROSECOND
    whole = coverage.duration // _MICROSECOND
    units = round(Fraction(amount) / Fraction(quantum) * Fraction(after, whole))
    return Decimal(units) * quantum


_MICROSECOND = timedelta(microseconds=1)


def _zone(timezone: str | ZoneInfo) -> ZoneInfo:
    """The `ZoneInfo` of an IANA timezone name, or the zone itself."""
    if isinstance(timezone, ZoneInfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"timezone {timezone!r} is not a known IANA timezone") from None


def _utc_span(span: Span, name: str) -> Span:
    """`span` in UTC, checked to be aware and to end after it starts."""
    for moment, edge in ((span.start, "start"), (span.end, "end")):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} {edge} {moment.isoformat()} has no timezone")
    start, end = span.start.astimezone(UTC), span.end.astimezone(UTC)
    if end <= start:
        raise ValueError(f"{name} end {end.isoformat()} is not after its start {start.isoformat()}")
    return Span(start, end)


def _segment_cuts(term: Span, segments: Sequence[Span]) -> list[datetime]:
    """The inner boundaries of `segments`, checked to tile `term` in order."""
    spans = [_utc_span(segment, f"segments[{index}]") for index, segment in enumerate(segments)]
    for index, span in enumerate(spans):
        start = spans[index - 1].end if index else term.start
        if span.start != start:
            where = f"the end of segments[{index - 1}]" if index else "the term start"
            raise ValueError(
                f"segments[{index}] starts at {span.start.isoformat()}, "
                f"not at {where} ({start.isoformat()})"
            )
    if spans and spans[-1].end != term.end:
        raise ValueError(
            f"segments[{len(spans) - 1}] ends at {spans[-1].end.isoformat()}, "
            f"not at the term end ({term.end.isoformat()})"
        )
    return [span.start for span in spans[1:]]


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """The wall-clock time, without a timezone, that `moment` shows in `zone`."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in `zone`, its first occurrence when ambiguous."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _steps(cadence: Cadence, count: int) -> relativedelta | timedelta:
    """`count` steps of `cadence`, which must not be fullPay."""
    if cadence is Cadence.WEEKLY:
        return timedelta(weeks=count)
    return relativedelta(months=count * _MONTHS[cadence])


def _period_boundaries(term: Span, plan: Plan, zone: ZoneInfo) -> list[datetime]:
    """The inner boundaries of the term's billing periods in UTC, capped by the plan."""
    if plan.cadence is Cadence.FULL_PAY:
        return []
    offset_days = {
        AnchorMode.TERM_START_DAY: 0,
        AnchorMode.GENERATE_DAY: plan.generate_lead_days,
        AnchorMode.DUE_DAY: plan.due_lead_days,
    }[plan.anchor_mode]
    origin, offset = _wall(term.start, zone), timedelta(days=offset_days)

    def point(k: int) -> datetime:
        return _instant(origin + _steps(plan.cadence, k) + offset, zone)

    earliest = _instant(origin + _steps(plan.cadence, 1), zone)
    shortest_step_days = 7 if plan.cadence is Cadence.WEEKLY else 28 * _MONTHS[plan.cadence]
    k = 1 - -(-offset_days // shortest_step_days)  # a lattice point no later than `earliest`
    while point(k) < earliest:
        k += 1
    limit = plan.max_installments_per_term
    boundaries: list[datetime] = []
    while (limit is None or len(boundaries) < limit - 1) and (moment := point(k)) < term.end:
        if len(boundaries) == MAX_FRAMES:
            break  # too many: build_lattice rejects the term
        boundaries.append(moment)
        k += 1
    return boundaries


def _frame_weights(
    plan: Plan, spans: Sequence[Span], period_starts: Sequence[datetime]
) -> list[Fraction]:
    """The exact normalized weight of each frame."""
    given = plan.installment_weights or (Decimal(1),)
    raw = [Fraction(given[min(index, len(given) - 1)]) for index in range(len(period_starts))]
    total = sum(raw, Fraction(0))
    periods = [bisect_right(period_starts, span.start) - 1 for span in spans]
    lengths = [0] * len(period_starts)
    for span, period in zip(spans, periods, strict=True):
        lengths[period] += span.duration // _MICROSECOND
    return [
        raw[period] / total * Fraction(span.duration // _MICROSECOND, lengths[period])
        for span, period in zip(spans, periods, strict=True)
    ]


def normalized_weights(weights: Sequence[Fraction]) -> list[Decimal]:
    """`weights` scaled to sum to 1 and rounded to `WEIGHT_QUANTUM`, the first taking the rounding.
    """
    total = sum(weights, Fraction(0))
    shares = [weight / total for weight in weights[1:]]
    with localcontext(_CONTEXT):
        rest = [
            (Decimal(share.numerator) / share.denominator).quantize(WEIGHT_QUANTUM)
            for share in shares
        ]
        return [weight.normalize() for weight in (Decimal(1) - sum(rest, Decimal(0)), *rest)]


def _frame(
    index: int, span: Span, weight: tuple[Decimal, Fraction], plan: Plan, zone: ZoneInfo
) -> Frame:
    """The frame covering `span`, with its generate and due times and its weights."""
    due = _days_before(span.start, plan.due_lead_days, zone)
    generate = min(_days_before(span.start, plan.generate_lead_days, zone), due)
    return Frame(index, span.start, span.end, span.start, span.end, generate, due, *weight)


def _days_before(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`moment` moved back `days` days on the wall clock of `zone`, in UTC."""
    if days == 0:
        return moment
    return _instant(_wall(moment, zone) - timedelta(days=days), zone)


def _check_quantum(quantum: Decimal) -> None:
    """Reject a quantum that is not a power of ten from 1E-18 to 1, such as 0.01."""
    power = quantum.is_finite() and quantum.normalize().as_tuple().digits == (1,)
    if not (power and _SMALLEST_QUANTUM <= quantum <= 1):
        raise ValueError(f"quantum {quantum} is not a power of ten from 1E-18 to 1, such as 0.01")


def _check_amount(amount: Decimal, quantum: Decimal, name: str) -> None:
    """Reject an amount that is not a finite multiple of `quantum` below `MAX_AMOUNT`."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValueError(f"{name} {amount!r} is not a finite Decimal")
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"{name} {amount} is too large (the limit is {MAX_AMOUNT:,f})")
    if amount != amount.quantize(quantum, context=_CONTEXT):
        raise ValueError(f"{name} {amount} has more decimal places than the quantum {quantum}")
