"""The paper channel end to end: a printed slip's QR code, read off the rendered page as a tablet's scanner
reads it, is entered by slip code and counts for the household printed on that page — once, and only after a
second clerk when the profile asks for double entry; the same code is refused for another motion."""

from __future__ import annotations

from tests.documents.helpers import assert_pdf, page_qr_codes, page_texts
from tests.voting.helpers import API, make_motion, setup_motion, tally
from tests.voting.test_paper_checked import clerks, enter, running_equals_full, set_profile


async def _printed_slips(client, world, motion_id: str) -> list[tuple[str, str]]:
    """(page text, the one QR code found on it) for each printed slip."""
    pdf = assert_pdf(await client.get(f"{API}/motions/{motion_id}/slips.pdf", headers=world.staff))
    texts, codes = page_texts(pdf), page_qr_codes(pdf)
    assert all(len(c) == 1 for c in codes), codes
    return [(t, c[0]) for t, c in zip(texts, codes, strict=True)]


def _place(h: dict) -> str:
    return f"房屋 {h['building']}号楼{h['unit']}单元{h['room']}"


def _slip_of(slips: list[tuple[str, str]], world, building: str, unit: str, room: str) -> tuple[dict, str]:
    """The household registered at that place, and the code scanned off the one page that prints it (a room
    whose owner holds no other household, so that the tally moves by exactly this household)."""
    h = world.household(building, unit, room)
    [code] = [code for text, code in slips if _place(h) in text]
    return h, code


async def test_a_scanned_slip_counts_for_the_household_printed_on_it(app, client, world, clock) -> None:
    _, plan, m = await setup_motion(client, world, clock.now())
    other = await make_motion(client, world, plan["id"], clock.now(), title="另一项表决")
    slips = await _printed_slips(client, world, m["id"])
    assert len(slips) == len(world.households)
    h, scanned = _slip_of(slips, world, "1", "2", "102")

    r = await enter(client, world.staff, m["id"], "agree", slip=scanned)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "counted" and r.json()["household_id"] == h["id"]
    counts = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert counts["agree_households"] == 1 and counts["agree_area"] == round(float(h["area_m2"]) * 100)
    # the same paper slip handed in for the other motion is not a slip of that motion
    r = await enter(client, world.staff, other["id"], "agree", slip=scanned)
    assert r.status_code == 422 and r.json()["code"] == "ballot.slip_invalid"
    assert (await tally(client, world.staff, other["id"])).json()["counts"]["agree_households"] == 0
    await running_equals_full(app, m["id"])


async def test_with_double_entry_the_scanned_slip_counts_after_the_second_clerk(app, client, world, clock) -> None:
    await set_profile(client, world, paper_double_entry=True)
    clock.advance(seconds=1)
    _, _, m = await setup_motion(client, world, clock.now())
    [second] = await clerks(client, world)
    h, scanned = _slip_of(await _printed_slips(client, world, m["id"]), world, "2", "2", "201")

    first = await enter(client, world.staff, m["id"], "disagree", slip=scanned)
    assert first.status_code == 201 and first.json()["status"] == "pending", first.text
    assert (await tally(client, world.staff, m["id"])).json()["counts"]["disagree_households"] == 0
    again = await enter(client, second, m["id"], "disagree", slip=scanned)
    assert again.status_code == 201 and again.json()["status"] == "counted", again.text
    assert again.json()["household_id"] == h["id"]
    assert (await tally(client, world.staff, m["id"])).json()["counts"]["disagree_households"] == 1
    await running_equals_full(app, m["id"])
