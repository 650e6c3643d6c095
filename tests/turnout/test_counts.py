"""The aggregate SQL of turnout against the rules engine's reference count, on the world's register with a
stand-in for the current-answers table (any selectable of (household_id, choice) works the same)."""

from __future__ import annotations

import random

from sqlalchemy import false, literal, union_all
from sqlmodel import select

from app.register.models import Household
from app.rules import Choice, Voter, count_electorate
from app.turnout import repository as repo
from app.turnout.repository import Population


def answers(pairs: list[tuple[str, str]]):
    """A selectable (household_id, choice) made of literals."""
    if not pairs:
        return select(literal("").label("household_id"), literal("").label("choice")).where(false())
    parts = [select(literal(h).label("household_id"), literal(c).label("choice")) for h, c in pairs]
    return parts[0] if len(parts) == 1 else union_all(*parts)


def population(world, pairs, *, building_id=None, owner_grouping=True) -> Population:
    sub = answers(pairs).subquery()
    return Population(community_id=world.community_id, building_id=building_id, unit_id=None,
                      answered_ids=select(sub.c.household_id), owner_grouping=owner_grouping)


async def voters(session, world, building_id=None) -> list[Voter]:
    q = select(Household).where(Household.community_id == world.community_id)
    if building_id:
        q = q.where(Household.building_id == building_id)
    return [Voter(h.id, h.owner_key, h.area_centi) for h in (await session.exec(q)).all()]


async def test_owner_choice_counts_match_the_reference_count(app, world) -> None:
    rng = random.Random(20261123)
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(Household).where(Household.community_id == world.community_id))).all()
        building_1 = next(h.building_id for h in rows if h.room == "101")
        for trial in range(25):
            scope = building_1 if trial % 3 == 0 else None
            ballots = {h.id: rng.choice(list(Choice)) for h in rows if rng.random() < 0.5}
            pairs = [(h, c.value) for h, c in ballots.items()]
            pop = population(world, pairs, building_id=scope)
            expected = count_electorate(await voters(s, world, scope), ballots)
            by_choice = await repo.owner_choice_counts(s, pop, answers(pairs))
            for c in Choice:
                o, n, a = by_choice.get(c.value, (0, 0, 0))
                assert (o, n, a) == (getattr(expected, f"{c.value}_owners"), getattr(expected, f"{c.value}_households"),
                                     getattr(expected, f"{c.value}_area")), (trial, c)
            assert sum(v[0] for v in by_choice.values()) == expected.total_owners
            assert sum(v[1] for v in by_choice.values()) == expected.total_households
            assert sum(v[2] for v in by_choice.values()) == expected.total_area
            # answered households (owner grouping) = participating households of the reference count
            units = await repo.counts_by_unit(s, pop)
            assert sum(u.answered_households for u in units) == expected.participating_households
            assert sum(u.answered_area for u in units) == expected.participating_area
            assert await repo.owner_totals(s, pop) == (expected.total_owners, expected.participating_owners)
            pending = await repo.non_responders(s, pop)
            assert len(pending) == expected.remaining_households


async def test_owner_who_voted_once_has_answered_for_all_their_households(app, world) -> None:
    a_households = [world.household(*k)["id"] for k in (("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101"))]
    async with app.state.db.read_session() as s:
        pop = population(world, [(a_households[1], "agree")])
        pending = {p.household_id for p in await repo.non_responders(s, pop)}
        assert not pending & set(a_households) and len(pending) == 9
        # without owner grouping (questionnaires) only that household answered
        pop = population(world, [(a_households[1], "agree")], owner_grouping=False)
        pending = {p.household_id for p in await repo.non_responders(s, pop)}
        assert len(pending) == 11 and a_households[0] in pending
        # scoped to building 2: the owner's vote through building 1 does not count there
        b2 = next(h for h in await voters(s, world) if h.household_id == a_households[2])
        q = select(Household.building_id).where(Household.id == b2.household_id)
        building_2 = (await s.exec(q)).one()
        pop = population(world, [(a_households[1], "agree")], building_id=building_2)
        assert a_households[2] in {p.household_id for p in await repo.non_responders(s, pop)}


async def test_fewest_households_to_cover_an_area(app, world) -> None:
    async with app.state.db.read_session() as s:
        pop = population(world, [], owner_grouping=False)
        # the largest areas: 120.10, 100.00, 99.99, 90.25 …
        assert await repo.fewest_to_cover(s, pop, 12010, by_owner=False) == 1
        assert await repo.fewest_to_cover(s, pop, 12011, by_owner=False) == 2
        assert await repo.fewest_to_cover(s, pop, 12010 + 10000 + 9999, by_owner=False) == 3
        assert await repo.fewest_to_cover(s, pop, 0, by_owner=False) == 0
        assert await repo.fewest_to_cover(s, pop, 10 ** 9, by_owner=False) is None
        # by owner: OWNER-A's three households (80 + 60 + 100 = 240 m²) are one owner
        pop = population(world, [])
        assert await repo.fewest_to_cover(s, pop, 24000, by_owner=True) == 1
