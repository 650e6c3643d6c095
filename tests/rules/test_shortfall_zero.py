"""The shortfall of a condition and, where it is null, the reason.

An agree-of-participants condition (majority of participants; the civil-code agree shares of area and
headcount) has no distance while nobody has taken part: ``null`` with ``no_participants`` (the old ``1``
only said that one agreeing participant makes 1/1). ``out_of_reach`` is the other null: not attainable
even if everyone not yet counted took part and agreed, or nobody in scope."""

from __future__ import annotations

import pytest

from app.rules import Counts, Rule, RuleKind, evaluate
from tests.voting.helpers import setup_motion, vote

SHARE = Rule.default(RuleKind.SHARE_OF_ALL_HOUSEHOLDS)
MAJOR = Rule.default(RuleKind.CIVIL_CODE_MAJOR)
ORDINARY = Rule.default(RuleKind.CIVIL_CODE_ORDINARY)
MAJORITY = Rule.default(RuleKind.MAJORITY_OF_PARTICIPANTS)
NONE, NOBODY, GONE = None, "no_participants", "out_of_reach"


def households(n: int, agree: int = 0, disagree: int = 0, abstain: int = 0, area_each: int = 10_000) -> Counts:
    """n single-household owners of equal area."""
    return Counts(n, n, n * area_each, agree, agree, agree * area_each, disagree, disagree, disagree * area_each,
                  abstain, abstain, abstain * area_each)


# rule, counts → {condition: (shortfall, shortfall_reason)}
TABLE = [
    # nobody has voted: agree-of-participants conditions have no distance; the fixed ones do
    (MAJORITY, households(10), {"agree_households": (None, NOBODY)}),
    (SHARE, households(9), {"agree_households": (6, NONE)}),
    (MAJOR, households(12), {"participation_area": (80_000, NONE), "participation_headcount": (8, NONE),
                             "agree_area": (None, NOBODY), "agree_headcount": (None, NOBODY)}),
    (ORDINARY, households(12), {"participation_area": (80_000, NONE), "participation_headcount": (8, NONE),
                                "agree_area": (None, NOBODY), "agree_headcount": (None, NOBODY)}),
    # one participant: the shares exist and have a distance
    (MAJORITY, households(10, agree=1), {"agree_households": (0, NONE)}),
    (MAJORITY, households(10, disagree=1), {"agree_households": (2, NONE)}),   # 2/3 > 1/2
    (MAJORITY, households(10, abstain=1), {"agree_households": (2, NONE)}),    # abstaining is taking part
    (MAJOR, households(12, disagree=1), {"agree_area": (30_000, NONE), "agree_headcount": (3, NONE)}),  # 3/4
    # out of reach
    (SHARE, households(9, agree=4, disagree=4), {"agree_households": (None, GONE)}),
    (MAJORITY, households(4, disagree=4), {"agree_households": (None, GONE)}),
    (MAJOR, households(4, agree=1, disagree=2), {"agree_headcount": (None, GONE)}),
    # nobody in scope: nothing can be met
    (MAJORITY, households(0), {"agree_households": (None, GONE)}),
    (SHARE, households(0), {"agree_households": (None, GONE)}),
    (MAJOR, households(0), {"participation_area": (None, GONE), "participation_headcount": (None, GONE),
                            "agree_area": (None, GONE), "agree_headcount": (None, GONE)}),
]


@pytest.mark.parametrize(("rule", "counts", "expected"), TABLE)
def test_shortfall_and_reason(rule, counts, expected) -> None:
    conditions = {c.name: c for c in evaluate(rule, counts, window_open=True).conditions}
    got = {name: (conditions[name].shortfall, conditions[name].shortfall_reason) for name in expected}
    assert got == expected
    for c in conditions.values():  # a reason exactly when there is no number
        assert (c.shortfall is None) is (c.shortfall_reason is not None)
        assert c.to_dict()["shortfall_reason"] == c.shortfall_reason


async def test_tally_and_progress_serve_the_reason(client, world, clock) -> None:
    _, _, motion = await setup_motion(client, world, clock.now(), rule={"kind": "civil_code_major"})
    mid = motion["id"]

    async def views() -> tuple[dict, dict]:
        t = (await client.get(f"/api/v1/motions/{mid}/tally", headers=world.staff)).json()
        p = (await client.get(f"/api/v1/motions/{mid}/progress", headers=world.staff)).json()
        return ({c["name"]: c for c in t["conditions"]}, {c["name"]: c for c in p["rule"]["conditions"]})

    tally, progress = await views()
    for name in ("agree_area", "agree_headcount"):
        assert (tally[name]["shortfall"], tally[name]["shortfall_reason"]) == (None, "no_participants")
        assert (progress[name]["shortfall"], progress[name]["shortfall_reason"]) == (None, "no_participants")
        assert progress[name]["reachable"] is True and progress[name]["hint_zh"] == "尚无人参与表决，暂无同意比例"
    assert tally["participation_headcount"]["shortfall"] > 0
    assert tally["participation_headcount"]["shortfall_reason"] is None
    r = await vote(client, world.residents[0].headers, mid, "agree")
    assert r.status_code == 200, r.text
    tally, progress = await views()
    assert (tally["agree_headcount"]["shortfall"], tally["agree_headcount"]["shortfall_reason"]) == (0, None)
    assert progress["agree_headcount"]["met"] is True and progress["agree_headcount"]["shortfall_reason"] is None
