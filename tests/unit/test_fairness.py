"""How a worker's claim shares its slots: lanes first, tenants in turn, the oldest job one slot
in ten, caps held, and what is left shared again."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from policyjobs.engine.fairness import OLDEST_EVERY, Group, Load, Pick, Rotation, leftover
from policyjobs.engine.jobs import ClaimedJob, Lane

T0 = datetime(2027, 1, 1, tzinfo=UTC)
INTERACTIVE, STANDARD, BATCH = Lane.INTERACTIVE, Lane.STANDARD, Lane.BATCH


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def shares(picks: list[Pick]) -> dict[tuple[str, int], int]:
    return {(p.tenant, p.lane): p.count for p in picks}


def worn() -> Rotation:
    """A rotation whose next oldest-job slot is nine slots away."""
    rotation = Rotation()
    rotation.allot([], {}, OLDEST_EVERY)
    return rotation


def test_every_slot_goes_to_the_lowest_lane_with_due_work() -> None:
    groups = [Group("a", BATCH, at(0)), Group("a", INTERACTIVE, at(5))]
    assert shares(worn().allot(groups, {"a": Load()}, 8)) == {("a", INTERACTIVE): 8}


def test_one_slot_in_ten_goes_to_the_oldest_due_job_whatever_its_lane() -> None:
    groups = [Group("a", BATCH, at(0)), Group("b", INTERACTIVE, at(5))]
    loads = {"a": Load(), "b": Load()}
    assert shares(Rotation().allot(groups, loads, 10)) == {("a", BATCH): 1, ("b", INTERACTIVE): 9}
    rotation = Rotation()
    given = Counter[tuple[str, int]]()
    for _ in range(30):  # one slot at a time, as a worker with slow jobs claims
        given.update(shares(rotation.allot(groups, loads, 1)))
    assert given == {("a", BATCH): 3, ("b", INTERACTIVE): 27}


def test_tenants_share_a_lane_by_their_jobs_running() -> None:
    groups = [Group("a", STANDARD, at(0)), Group("b", STANDARD, at(1)),
              Group("c", STANDARD, at(2))]
    loads = {"a": Load(running=6), "b": Load(running=0), "c": Load(running=2)}
    # b first until it runs as many as c, then both until they run as many as a, then all.
    assert shares(worn().allot(groups, loads, 11)) == {
        ("a", STANDARD): 1, ("b", STANDARD): 6, ("c", STANDARD): 4}


def test_a_worker_claiming_one_slot_at_a_time_takes_the_tenants_in_turn() -> None:
    """A tenant's backlog is older, and no job of either runs between claims: the tie goes
    to the tenant this worker served least recently."""
    groups = [Group("a", STANDARD, at(0)), Group("b", STANDARD, at(100))]
    loads = {"a": Load(), "b": Load()}
    rotation = worn()
    order = []
    for _ in range(4):
        [pick] = rotation.allot(groups, loads, 1)
        rotation.served([pick.tenant])
        order.append(pick.tenant)
    assert order == ["a", "b", "a", "b"]


def test_a_tenant_new_to_this_worker_goes_first() -> None:
    rotation = worn()
    rotation.served(["a"])
    groups = [Group("a", STANDARD, at(0)), Group("b", STANDARD, at(100))]
    assert rotation.allot(groups, {"a": Load(), "b": Load()}, 1) == [Pick("b", STANDARD, 1)]


def test_a_cap_bounds_a_tenant_and_its_slots_go_to_the_next_lane() -> None:
    groups = [Group("a", INTERACTIVE, at(0)), Group("b", BATCH, at(1))]
    loads = {"a": Load(running=3, cap=5), "b": Load()}
    assert shares(worn().allot(groups, loads, 10)) == {("a", INTERACTIVE): 2, ("b", BATCH): 8}


def test_a_tenant_at_its_cap_gets_no_slot_not_even_the_oldest() -> None:
    groups = [Group("a", STANDARD, at(0)), Group("b", STANDARD, at(1))]
    loads = {"a": Load(running=2, cap=2), "b": Load()}
    assert shares(Rotation().allot(groups, loads, 10)) == {("b", STANDARD): 10}
    assert Rotation().allot(groups[:1], loads, 10) == []


def job(tenant: str, lane: int) -> ClaimedJob:
    return ClaimedJob(1, "L", tenant, "k", None, None, None, 1, 5, {}, T0, T0, None, lane)


def test_what_is_left_is_the_groups_that_gave_all_they_were_asked() -> None:
    groups = [Group("a", INTERACTIVE, at(0)), Group("a", BATCH, at(0)),
              Group("b", BATCH, at(1))]
    loads = {"a": Load(running=1), "b": Load()}
    picks = [Pick("a", INTERACTIVE, 3), Pick("b", BATCH, 1)]
    leased = [job("a", INTERACTIVE), job("b", BATCH)]  # a had one interactive job due
    left, after = leftover(groups, loads, picks, leased)
    assert left == [Group("a", BATCH, at(0)), Group("b", BATCH, at(1))]
    assert after == {"a": Load(running=2), "b": Load(running=1)}
    assert shares(worn().allot(left, after, 2, first=False)) == {("b", BATCH): 1, ("a", BATCH): 1}


def test_a_read_that_finds_nothing_keeps_the_group_that_was_alone() -> None:
    rotation = Rotation()
    rotation.saw([Group("a", STANDARD, at(0))], {"a": Load()})
    rotation.saw([], {})
    assert rotation.lone(8) == Pick("a", STANDARD, 8)
    rotation.saw([Group("a", STANDARD, at(0)), Group("b", STANDARD, at(1))],
                 {"a": Load(), "b": Load()})
    assert rotation.lone(8) is None
    rotation.saw([Group("b", BATCH, at(1))], {"b": Load(cap=2)})
    assert rotation.lone(8) is None  # a capped tenant is never leased alone
