"""Tests of installment lattices and of splitting charges across their frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyjobs.installments.config import InstallmentPlan
from policyjobs.installments.lattice import (
    AnchorMode,
    Cadence,
    Charge,
    Installment,
    Lattice,
    Plan,
    Portion,
    Span,
    build_lattice,
    cover,
    normalized_weights,
    share_after,
    split_amount,
    split_charges,
    split_portions,
)

NY = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A UTC datetime from its year, month, day and optional hour."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def ny(year: int, month: int, day: int) -> datetime:
    """The UTC instant of midnight on a New York date."""
    return datetime(year, month, day, tzinfo=ZoneInfo(NY)).astimezone(UTC)


def plan(**keys: Any) -> Plan:
    """An installment plan from its YAML keys."""
    return InstallmentPlan.model_validate(keys).as_plan()


def lattice(start: datetime, end: datetime, tz: str = "UTC", **keys: Any) -> Lattice:
    """The lattice of a term from `start` to `end` under the plan of `keys`."""
    return build_lattice(Span(start, end), plan(**keys), tz)


def starts(built: Lattice) -> list[datetime]:
    """The coverage start of each frame."""
    return [frame.coverage_start for frame in built.frames]


def assert_tiles(built: Lattice) -> None:
    """Check that the frames tile the lattice's term, with installment times equal to coverage."""
    frames = built.frames
    assert frames[0].coverage_start == built.term.start
    assert frames[-1].coverage_end == built.term.end
    for before, after in pairwise(frames):
        assert before.coverage_end == after.coverage_start
    for index, frame in enumerate(frames):
        assert frame.index == index
        assert frame.coverage_start < frame.coverage_end
        assert (frame.installment_start, frame.installment_end) == (
            frame.coverage_start,
            frame.coverage_end,
        )


def amounts(installments: tuple[Installment, ...], charge: int = 0) -> list[Decimal]:
    """The amounts of one charge across the installments."""
    return [installment.items[charge].amount for installment in installments]


def split_one(built: Lattice, amount: str) -> list[Decimal]:
    """The installment amounts of one charge of `amount` on `built`."""
    return amounts(split_charges(built, [Charge("c1", "premium", Decimal(amount))]))


# Month ends, leap years and DST, cadence by cadence.


def test_monthly_from_jan_31_in_a_leap_year_lands_on_month_ends() -> None:
    """A term from 2028-01-31 has monthly frames from Feb 29, Mar 31, Apr 30 and so on."""
    built = lattice(utc(2028, 1, 31), utc(2029, 1, 31), cadence="monthly")
    days = [(2, 29), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31), (8, 31), (9, 30), (10, 31)]
    expected = [utc(2028, 1, 31), *(utc(2028, m, d) for m, d in days)]
    assert starts(built) == [*expected, utc(2028, 11, 30), utc(2028, 12, 31)]
    assert_tiles(built)


def test_monthly_from_jan_31_in_a_common_year_does_not_drift() -> None:
    """After Feb 28 the frames return to the 31st and 30th rather than staying on the 28th."""
    built = lattice(utc(2027, 1, 31), utc(2027, 5, 31), cadence="monthly")
    assert starts(built) == [utc(2027, 1, 31), utc(2027, 2, 28), utc(2027, 3, 31), utc(2027, 4, 30)]


def test_monthly_across_both_new_york_dst_changes_keeps_local_midnight() -> None:
    """Boundaries stay at local midnight: 05:00Z in winter and 04:00Z in summer."""
    built = lattice(utc(2027, 1, 1, 5), utc(2028, 1, 1, 5), NY, cadence="monthly")
    winter, summer = [1, 2, 3, 12], [4, 5, 6, 7, 8, 9, 10, 11]
    expected = sorted([utc(2027, m, 1, 5) for m in winter] + [utc(2027, m, 1, 4) for m in summer])
    assert starts(built) == expected
    assert built.frames[2].coverage_end == utc(2027, 4, 1, 4)  # spans 2027-03-14
    assert built.frames[10].coverage_start == utc(2027, 11, 1, 4)  # spans 2027-11-07
    assert built.frames[10].coverage_end == utc(2027, 12, 1, 5)
    assert all(s.astimezone(ZoneInfo(NY)).hour == 0 for s in starts(built))
    assert built.timezone == NY
    assert_tiles(built)


def test_weekly_across_dst_changes_and_a_leap_day() -> None:
    """Weekly frames keep local midnight across DST and step over Feb 29."""
    spring = lattice(utc(2027, 3, 1, 5), utc(2027, 3, 29, 4), NY, cadence="weekly")
    assert starts(spring) == [utc(2027, 3, 1, 5), utc(2027, 3, 8, 5), utc(2027, 3, 15, 4),
                              utc(2027, 3, 22, 4)]
    autumn = lattice(utc(2027, 11, 1, 4), utc(2027, 11, 15, 5), NY, cadence="weekly")
    assert starts(autumn) == [utc(2027, 11, 1, 4), utc(2027, 11, 8, 5)]
    leap = lattice(utc(2028, 2, 22), utc(2028, 3, 14), cadence="weekly")
    assert starts(leap) == [utc(2028, 2, 22), utc(2028, 2, 29), utc(2028, 3, 7)]


def test_quarterly_from_feb_29_and_across_dst() -> None:
    """Quarters from Feb 29 fall on the 29th; New York quarters keep local midnight."""
    leap = lattice(utc(2028, 2, 29), utc(2029, 2, 28), cadence="quarterly")
    assert starts(leap) == [utc(2028, 2, 29), utc(2028, 5, 29), utc(2028, 8, 29), utc(2028, 11, 29)]
    dst = lattice(utc(2027, 1, 15, 5), utc(2028, 1, 15, 5), NY, cadence="quarterly")
    assert starts(dst) == [utc(2027, 1, 15, 5), utc(2027, 4, 15, 4), utc(2027, 7, 15, 4),
                           utc(2027, 10, 15, 4)]


def test_semiannually_lands_on_feb_29_and_crosses_dst() -> None:
    """Half-years from Aug 31 land on Feb 29 in 2028; a New York half-year shifts to 05:00Z."""
    leap = lattice(utc(2027, 8, 31), utc(2028, 8, 31), cadence="semiannually")
    assert starts(leap) == [utc(2027, 8, 31), utc(2028, 2, 29)]
    dst = lattice(utc(2027, 6, 15, 4), utc(2028, 6, 15, 4), NY, cadence="semiannually")
    assert starts(dst) == [utc(2027, 6, 15, 4), utc(2027, 12, 15, 5)]


def test_annually_from_feb_29_counts_each_year_from_the_anchor() -> None:
    """Years from 2028-02-29 fall on Feb 28, and a year across DST stays at local midnight."""
    leap = lattice(utc(2028, 2, 29), utc(2031, 2, 28), cadence="annually")
    assert starts(leap) == [utc(2028, 2, 29), utc(2029, 2, 28), utc(2030, 2, 28)]
    dst = lattice(utc(2027, 3, 1, 5), utc(2029, 3, 1, 5), NY, cadence="annually")
    assert starts(dst) == [utc(2027, 3, 1, 5), utc(2028, 3, 1, 5)]


def test_full_pay_is_one_frame_generated_before_the_term() -> None:
    """A fullPay term over Feb 2028 is one frame, generated 15 local days before, due at start."""
    built = lattice(utc(2028, 2, 1, 5), utc(2029, 2, 1, 5), NY, cadence="fullPay",
                    generateLeadDays=15)
    (frame,) = built.frames
    assert (frame.coverage_start, frame.coverage_end) == (utc(2028, 2, 1, 5), utc(2029, 2, 1, 5))
    assert frame.generate_time == utc(2028, 1, 17, 5)
    assert frame.due_time == utc(2028, 2, 1, 5)
    assert frame.normalized_weight == 1
    assert frame.exact_weight == 1


# Anchor modes and lead days.


def test_generate_day_generates_on_the_term_start_day_across_dst() -> None:
    """With 15 lead days, frames after the first start on the 16th and generate on the 1st."""
    built = lattice(utc(2027, 1, 1, 5), utc(2028, 1, 1, 5), NY, cadence="monthly",
                    generateLeadDays=15, anchorMode="generateDay")
    assert starts(built) == [utc(2027, 1, 1, 5)] + [ny(2027, m, 16) for m in range(2, 13)]
    assert starts(built)[1:3] == [utc(2027, 2, 16, 5), utc(2027, 3, 16, 4)]
    generated = [frame.generate_time for frame in built.frames]
    assert generated == [utc(2026, 12, 17, 5)] + [ny(2027, m, 1) for m in range(2, 13)]
    assert generated[2:4] == [utc(2027, 3, 1, 5), utc(2027, 4, 1, 4)]
    assert [frame.due_time for frame in built.frames] == starts(built)
    assert built.frames[-1].coverage_end == utc(2028, 1, 1, 5)
    assert_tiles(built)


def test_due_day_falls_due_on_month_ends_in_a_leap_year() -> None:
    """From Jan 31, 2028 with 5 due lead days, later installments fall due on each month's end."""
    built = lattice(utc(2028, 1, 31), utc(2028, 5, 31), cadence="monthly", dueLeadDays=5,
                    generateLeadDays=20, anchorMode="dueDay")
    assert starts(built) == [utc(2028, 1, 31), utc(2028, 3, 5), utc(2028, 4, 5), utc(2028, 5, 5)]
    dues = [frame.due_time for frame in built.frames]
    assert dues == [utc(2028, 1, 26), utc(2028, 2, 29), utc(2028, 3, 31), utc(2028, 4, 30)]
    generated = [frame.generate_time for frame in built.frames]
    assert generated == [utc(2028, 1, 11), utc(2028, 2, 14), utc(2028, 3, 16), utc(2028, 4, 15)]


def test_due_day_weekly_falls_due_on_the_term_start_weekday() -> None:
    """A weekly dueDay plan from a Monday falls due on Mondays after the first frame."""
    built = lattice(utc(2028, 2, 21), utc(2028, 3, 20), cadence="weekly", dueLeadDays=3,
                    anchorMode="dueDay")
    assert starts(built) == [utc(2028, 2, 21), utc(2028, 3, 2), utc(2028, 3, 9), utc(2028, 3, 16)]
    dues = [frame.due_time for frame in built.frames]
    assert dues == [utc(2028, 2, 18), utc(2028, 2, 28), utc(2028, 3, 6), utc(2028, 3, 13)]
    assert {due.weekday() for due in dues[1:]} == {utc(2028, 2, 21).weekday()}


def test_generate_day_with_lead_longer_than_a_week_keeps_the_first_frame_a_full_step() -> None:
    """Ten lead days on a weekly plan put the first break ten days in, never a short stub."""
    built = lattice(utc(2027, 1, 4), utc(2027, 2, 1), cadence="weekly", generateLeadDays=10,
                    anchorMode="generateDay")
    assert starts(built) == [utc(2027, 1, 4), utc(2027, 1, 14), utc(2027, 1, 21), utc(2027, 1, 28)]
    generated = [frame.generate_time for frame in built.frames]
    assert generated == [utc(2026, 12, 25), utc(2027, 1, 4), utc(2027, 1, 11), utc(2027, 1, 18)]


@pytest.mark.parametrize("mode", list(AnchorMode))
def test_anchor_modes_agree_without_lead_days(mode: AnchorMode) -> None:
    """With no lead days every anchor mode gives the termStartDay schedule."""
    built = lattice(utc(2028, 1, 31), utc(2028, 4, 30), cadence="monthly", anchorMode=mode.value)
    assert starts(built) == [utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31)]


def test_generate_after_due_is_clamped_to_due() -> None:
    """A plan generating later than it falls due generates at the due time."""
    built = lattice(utc(2027, 1, 1), utc(2027, 3, 1), cadence="monthly", dueLeadDays=5)
    for frame in built.frames:
        assert frame.generate_time == frame.due_time == frame.coverage_start - timedelta(days=5)


# Capping, weights and splitting.


def test_max_installments_caps_and_the_last_frame_absorbs_the_rest() -> None:
    """A cap of 4 on a 12-month term leaves a last frame from Apr 1 to the term end."""
    built = lattice(utc(2027, 1, 1), utc(2028, 1, 1), cadence="monthly", maxInstallmentsPerTerm=4)
    assert starts(built) == [utc(2027, 1, 1), utc(2027, 2, 1), utc(2027, 3, 1), utc(2027, 4, 1)]
    assert built.frames[-1].coverage_end == utc(2028, 1, 1)
    assert [frame.normalized_weight for frame in built.frames] == [Decimal("0.25")] * 4
    weekly = lattice(utc(2027, 1, 1), utc(2027, 3, 1), cadence="weekly", maxInstallmentsPerTerm=3)
    assert starts(weekly) == [utc(2027, 1, 1), utc(2027, 1, 8), utc(2027, 1, 15)]
    loose = lattice(utc(2027, 1, 1), utc(2027, 3, 1), cadence="monthly", maxInstallmentsPerTerm=9)
    assert len(loose.frames) == 2


def test_weights_repeat_the_last_and_normalize_to_exactly_one() -> None:
    """Weights [2, 1] over four frames are 0.4, 0.2, 0.2, 0.2."""
    built = lattice(utc(2027, 1, 1), utc(2027, 5, 1), cadence="monthly",
                    installmentWeights=[2, 1])
    weights = [frame.normalized_weight for frame in built.frames]
    assert weights == [Decimal("0.4"), Decimal("0.2"), Decimal("0.2"), Decimal("0.2")]
    assert sum(weights) == 1
    assert split_one(built, "100.00") == [Decimal("40.00")] + [Decimal("20.00")] * 3


def test_weights_beyond_the_frames_are_ignored() -> None:
    """Weights [1, 2, 3] on a two-frame term use 1 and 2, so 100.00 splits 33.34 and 66.66."""
    built = lattice(utc(2027, 1, 1), utc(2027, 3, 1), cadence="monthly",
                    installmentWeights=["1", "2", "3"])
    assert [frame.exact_weight for frame in built.frames] == [Fraction(1, 3), Fraction(2, 3)]
    assert sum(frame.normalized_weight for frame in built.frames) == 1
    assert split_one(built, "100.00") == [Decimal("33.34"), Decimal("66.66")]


def test_equal_thirds_put_the_remainder_on_the_first_installment() -> None:
    """100.00 in three is 33.34, 33.33, 33.33, and a credit splits the same way."""
    built = lattice(utc(2027, 1, 1), utc(2027, 4, 1), cadence="monthly")
    assert split_one(built, "100.00") == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert split_one(built, "-100.00") == [Decimal("-33.34"), Decimal("-33.33"), Decimal("-33.33")]
    assert split_one(built, "300.00") == [Decimal("100.00")] * 3
    assert split_one(built, "0.02") == [Decimal("0.02"), Decimal("0.00"), Decimal("0.00")]
    assert sum(frame.normalized_weight for frame in built.frames) == 1


@pytest.mark.parametrize(
    ("amount", "weights", "quantum", "expected"),
    [
        ("0.06", [1, 1, 1, 1], "0.01", ["0.03", "0.01", "0.01", "0.01"]),
        ("-0.06", [1, 1, 1, 1], "0.01", ["-0.03", "-0.01", "-0.01", "-0.01"]),
        ("1000", [1, 1, 1], "1", ["334", "333", "333"]),
        ("10", [Fraction(1, 3), Fraction(2, 3)], "0.01", ["3.34", "6.66"]),
        ("5.00", [0, 1], "0.01", ["0.00", "5.00"]),
    ],
)
def test_split_amount(amount: str, weights: list[int | Fraction], quantum: str,
                      expected: list[str]) -> None:
    """An amount splits into multiples of the quantum, truncating all but the first share."""
    parts = split_amount(Decimal(amount), weights, Decimal(quantum))
    assert parts == [Decimal(part) for part in expected]
    assert [str(part) for part in parts] == expected


def test_installments_carry_every_charge_in_order() -> None:
    """Each installment has one item per charge, with its locator and type."""
    built = lattice(utc(2027, 1, 1), utc(2027, 3, 1), cadence="monthly")
    charges = [Charge("c1", "premium", Decimal("120.00")), Charge("c2", "fee", Decimal("-10.01"))]
    installments = split_charges(built, charges)
    assert [i.frame_index for i in installments] == [0, 1]
    assert [(item.charge_locator, item.charge_type) for item in installments[1].items] == [
        ("c1", "premium"),
        ("c2", "fee"),
    ]
    assert amounts(installments, 1) == [Decimal("-5.01"), Decimal("-5.00")]
    assert [i.total for i in installments] == [Decimal("54.99"), Decimal("55.00")]
    assert [i.items for i in split_charges(built, [])] == [(), ()]


def test_segments_cut_the_billing_periods_and_share_their_weight() -> None:
    """A change on Feb 15 cuts February in two halves of its weight; billing dates stay put."""
    term = Span(utc(2027, 1, 1), utc(2027, 4, 1))
    segments = [Span(utc(2027, 1, 1), utc(2027, 2, 15)), Span(utc(2027, 2, 15), utc(2027, 4, 1))]
    built = build_lattice(term, plan(cadence="monthly"), "UTC", segments)
    assert starts(built) == [utc(2027, 1, 1), utc(2027, 2, 1), utc(2027, 2, 15), utc(2027, 3, 1)]
    exact = [Fraction(1, 3), Fraction(1, 6), Fraction(1, 6), Fraction(1, 3)]
    assert [frame.exact_weight for frame in built.frames] == exact
    assert sum(frame.normalized_weight for frame in built.frames) == 1
    assert split_one(built, "100.00") == [Decimal(a) for a in ("33.35", "16.66", "16.66", "33.33")]
    aligned = [Span(utc(2027, 1, 1), utc(2027, 3, 1)), Span(utc(2027, 3, 1), utc(2027, 4, 1))]
    assert len(build_lattice(term, plan(cadence="monthly"), "UTC", aligned).frames) == 3


def test_inputs_in_other_offsets_become_utc() -> None:
    """An aware term in another offset and a `ZoneInfo` timezone are accepted."""
    zone = ZoneInfo(NY)
    term = Span(datetime(2027, 1, 1, tzinfo=zone), datetime(2027, 3, 1, tzinfo=zone))
    built = build_lattice(term, plan(cadence="monthly"), zone)
    assert starts(built) == [utc(2027, 1, 1, 5), utc(2027, 2, 1, 5)]
    assert built.term == Span(utc(2027, 1, 1, 5), utc(2027, 3, 1, 5))


# Validation.

MONTHLY = plan(cadence="monthly")
TERM = Span(utc(2027, 1, 1), utc(2027, 3, 1))


@pytest.mark.parametrize(
    ("term", "tz", "segments", "message"),
    [
        (Span(utc(2027, 3, 1), utc(2027, 1, 1)), "UTC", [], "term end .* is not after its start"),
        (Span(utc(2027, 1, 1), utc(2027, 1, 1)), "UTC", [], "term end .* is not after its start"),
        (Span(datetime(2027, 1, 1), utc(2027, 3, 1)), "UTC", [], "term start .* has no timezone"),
        (TERM, "Mars/Olympus", [], "timezone 'Mars/Olympus' is not a known IANA timezone"),
        (TERM, "UTC", [Span(utc(2027, 1, 2), utc(2027, 3, 1))],
         r"segments\[0\] starts at .*, not at the term start"),
        (TERM, "UTC", [Span(utc(2027, 1, 1), utc(2027, 2, 1)), Span(utc(2027, 2, 2), TERM.end)],
         r"segments\[1\] starts at .*, not at the end of segments\[0\]"),
        (TERM, "UTC", [Span(utc(2027, 1, 1), utc(2027, 2, 1))],
         r"segments\[0\] ends at .*, not at the term end"),
        (TERM, "UTC", [Span(utc(2027, 1, 1), utc(2027, 1, 1)), Span(utc(2027, 1, 1), TERM.end)],
         r"segments\[0\] end .* is not after its start"),
    ],
)
def test_bad_terms_segments_and_timezones(term: Span, tz: str, segments: list[Span],
                                          message: str) -> None:
    """A bad term, segment or timezone is a `ValueError` that says what is wrong."""
    with pytest.raises(ValueError, match=message):
        build_lattice(term, MONTHLY, tz, segments)


@pytest.mark.parametrize(
    ("charges", "quantum", "message"),
    [
        ([Charge("c1", "premium", Decimal("1.005"))], "0.01",
         r"charges\[0\].amount 1.005 has more decimal places than the quantum 0.01"),
        ([Charge("c1", "premium", Decimal("NaN"))], "0.01", "is not a finite Decimal"),
        ([Charge("c1", "premium", Decimal("1E30"))], "0.01", "is too large"),
        ([Charge("c1", "a", Decimal(1)), Charge("c1", "b", Decimal(2))], "0.01",
         r"charges\[1\]: charge 'c1' is listed twice"),
        ([], "0.05", "quantum 0.05 is not a power of ten"),
        ([], "0", "quantum 0 is not a power of ten"),
    ],
)
def test_bad_charges_and_quanta(charges: list[Charge], quantum: str, message: str) -> None:
    """A bad charge or quantum is a `ValueError` that says what is wrong."""
    with pytest.raises(ValueError, match=message):
        split_charges(build_lattice(TERM, MONTHLY, "UTC"), charges, Decimal(quantum))


def test_split_amount_needs_usable_weights() -> None:
    """No weights, a negative weight or all-zero weights cannot split an amount."""
    for weights in ([], [1, -1], [0, 0]):
        with pytest.raises(ValueError, match="weight"):
            split_amount(Decimal("1.00"), weights)


# Properties over random terms, plans, timezones and amounts.

ZONES = ["UTC", NY, "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns"]
DAY, YEAR = 86_400, 365 * 86_400
amounts_2dp = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False,
                          allow_infinity=False)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    """A valid installment plan of any cadence and anchor mode."""
    cadence = draw(st.sampled_from(Cadence))
    cap = draw(st.none() | st.integers(1, 40))
    most = 1 if cadence is Cadence.FULL_PAY else min(cap or 14, 14)
    weight = st.decimals(min_value="0.01", max_value=100, places=2)
    weights = draw(st.none() | st.lists(weight, min_size=1, max_size=most))
    return plan(cadence=cadence.value, maxInstallmentsPerTerm=cap, installmentWeights=weights,
                generateLeadDays=draw(st.integers(0, 45)), dueLeadDays=draw(st.integers(0, 45)),
                anchorMode=draw(st.sampled_from(AnchorMode)).value)


@st.composite
def terms(draw: st.DrawFn) -> tuple[Span, list[Span]]:
    """A term of one day to three years, with no segments or up to four that tile it."""
    naive = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)))
    start = naive.replace(tzinfo=UTC)
    length = draw(st.integers(DAY, 3 * YEAR))
    term = Span(start, start + timedelta(seconds=length))
    cuts = sorted(draw(st.sets(st.integers(1, length - 1), max_size=4)))
    edges = [start, *(start + timedelta(seconds=cut) for cut in cuts), term.end]
    segments = [Span(a, b) for a, b in pairwise(edges)]
    return term, segments if draw(st.booleans()) else []


@settings(max_examples=200, deadline=None)
@given(terms(), plans(), st.sampled_from(ZONES), st.lists(amounts_2dp, max_size=4))
def test_lattices_tile_and_charges_split_exactly(
    term_and_segments: tuple[Span, list[Span]], installment_plan: Plan, tz: str,
    charge_amounts: list[Decimal],
) -> None:
    """Frames tile the term and each segment, and each charge's installments sum to it exactly."""
    term, segments = term_and_segments
    built = build_lattice(term, installment_plan, tz, segments)
    assert_tiles(built)
    boundaries = {frame.coverage_start for frame in built.frames}
    assert {segment.start for segment in segments} <= boundaries
    if installment_plan.max_installments_per_term is not None:
        assert len(built.frames) <= installment_plan.max_installments_per_term + len(segments)
    assert sum(frame.exact_weight for frame in built.frames) == 1
    assert sum(frame.normalized_weight for frame in built.frames) == 1
    for frame in built.frames:
        assert frame.generate_time <= frame.due_time <= frame.installment_start
        assert frame.exact_weight >= 0
    charges = [Charge(f"c{i}", "premium", amount) for i, amount in enumerate(charge_amounts)]
    installments = split_charges(built, charges)
    assert len(installments) == len(built.frames)
    for index, charge in enumerate(charges):
        parts = amounts(installments, index)
        assert sum(parts) == charge.amount
        for part in parts:
            assert part.as_tuple().exponent == -2
            assert part * charge.amount >= 0


@settings(max_examples=150, deadline=None)
@given(terms(), plans(), st.sampled_from(ZONES), st.lists(amounts_2dp, max_size=3))
def test_each_segments_charges_land_on_its_own_frames_exactly(
    term_and_segments: tuple[Span, list[Span]], installment_plan: Plan, tz: str,
    charge_amounts: list[Decimal],
) -> None:
    """Split by portion, a charge bills only frames of its segment, and sums to it exactly."""
    term, segments = term_and_segments
    built = build_lattice(term, installment_plan, tz, segments)
    spans = segments or [term]
    portions = [Portion(span, tuple(Charge(f"c{n}-{i}", "premium", amount)
                                    for i, amount in enumerate(charge_amounts)))
                for n, span in enumerate(spans)]
    installments = split_portions(built, portions)
    assert [i.frame.index for i in installments] == sorted({i.frame.index for i in installments})
    for portion in portions:
        for charge in portion.charges:
            billed = [(i.frame, item.amount) for i in installments for item in i.items
                      if item.charge_locator == charge.locator]
            assert sum(amount for _, amount in billed) == charge.amount
            for frame, amount in billed:
                assert portion.span.start <= frame.coverage_start < portion.span.end
                assert amount != 0
                assert amount * charge.amount > 0
    for installment in installments:
        assert installment.items


def test_a_later_segment_bills_only_the_frames_it_covers() -> None:
    term = Span(utc(2027, 1, 1), utc(2028, 1, 1))
    change = Span(utc(2027, 3, 15), term.end)
    built = build_lattice(term, plan(cadence="monthly"), "UTC", cover(term, [change]))
    [*_, march, april] = [f.coverage_start for f in built.frames][:5]
    assert (march, april) == (utc(2027, 3, 15), utc(2027, 4, 1))
    billed = split_portions(built, [Portion(change, (Charge("c", "premium", Decimal("95")),))])
    assert next(i.frame.coverage_start for i in billed) == utc(2027, 3, 15)
    assert len(billed) == 10
    assert sum(i.total for i in billed) == Decimal("95")


def test_portions_must_be_whole_frames_and_charges_unique() -> None:
    term = Span(utc(2027, 1, 1), utc(2028, 1, 1))
    built = build_lattice(term, plan(cadence="monthly"), "UTC")
    inside = Span(utc(2027, 1, 10), utc(2027, 3, 1))
    with pytest.raises(ValueError, match="whole frames"):
        split_portions(built, [Portion(inside, ())])
    twice = (Charge("c", "premium", Decimal(1)), Charge("c", "tax", Decimal(1)))
    with pytest.raises(ValueError, match="listed twice"):
        split_portions(built, [Portion(term, twice)])


def test_cover_fills_the_term_around_the_spans() -> None:
    term = Span(utc(2027, 1, 1), utc(2028, 1, 1))
    middle = Span(utc(2027, 4, 1), utc(2027, 9, 1))
    assert cover(term, [middle]) == [Span(term.start, middle.start), middle,
                                     Span(middle.end, term.end)]
    assert cover(term, [term]) == [term]
    assert cover(term, []) == [term]


def test_normalized_weights_sum_to_one_exactly() -> None:
    weights = normalized_weights([Fraction(1), Fraction(1), Fraction(1)])
    assert sum(weights) == 1
    assert weights[1] == weights[2] == Decimal("0.333333333333333333")
    assert normalized_weights([Fraction(2), Fraction(6)]) == [Decimal("0.25"), Decimal("0.75")]


def test_too_many_frames_is_an_error_not_a_long_wait() -> None:
    term = Span(utc(2000, 1, 1), utc(2100, 1, 1))
    with pytest.raises(ValueError, match="more than 1000 frames"):
        build_lattice(term, plan(cadence="weekly"), "UTC")


JUNE = Span(utc(2027, 6, 1, 4), utc(2027, 7, 1, 4))  # 30 days of New York's June


@pytest.mark.parametrize(("moment", "amount", "quantum", "expected"), [
    (utc(2027, 6, 16, 4), "100.00", "0.01", "50.00"),  # half the days
    (utc(2027, 6, 11, 4), "100.00", "0.01", "66.67"),  # 20 of 30 days: 66.666…
    (utc(2027, 6, 11, 4), "-100.00", "0.01", "-66.67"),  # a credit the same way
    (utc(2027, 6, 11, 4), "1000", "1", "667"),  # a currency without cents
    (utc(2027, 6, 1, 4), "100.00", "0.01", "100.00"),  # from its start: all of it
    (utc(2027, 5, 1), "100.00", "0.01", "100.00"),  # before it: all of it
    (utc(2027, 7, 1, 4), "100.00", "0.01", "0.00"),  # from its end: none
    (utc(2027, 6, 22, 4), "0.10", "0.01", "0.03"),  # 9/30 of 10 cents: 3 cents
    (utc(2027, 6, 25, 4), "0.05", "0.01", "0.01"),  # 6/30 of 5 cents: 1 cent exactly
    (utc(2027, 6, 16, 4), "0.05", "0.01", "0.02"),  # 2.5 cents: half to even, down
    (utc(2027, 6, 16, 4), "0.07", "0.01", "0.04"),  # 3.5 cents: half to even, up
])
def test_the_share_after_a_cancellation_is_pro_rata_by_time(
        moment: datetime, amount: str, quantum: str, expected: str) -> None:
    assert share_after(Decimal(amount), JUNE, moment, Decimal(quantum)) == Decimal(expected)


@given(st.integers(min_value=-10**9, max_value=10**9),
       st.integers(min_value=0, max_value=30 * 24 * 3600))
def test_the_share_after_and_the_rest_sum_to_the_item(cents: int, seconds: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    after = share_after(amount, JUNE, JUNE.start + timedelta(seconds=seconds))

    assert after == after.quantize(Decimal("0.01"))
    assert abs(after) <= abs(amount)
    assert after == 0 or (after > 0) == (amount > 0)
    whole = int(JUNE.duration.total_seconds())
    exact = Fraction(cents, 100) * Fraction(whole - seconds, whole)
    assert abs(Fraction(after) - exact) <= Fraction(1, 200)  # within half a cent
