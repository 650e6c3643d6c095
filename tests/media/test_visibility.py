"""GET /photos/{id} asks the check the owning domain registered (app/media/visibility.py, app/wiring.py): paper
ballot photos (voting), notice attachments (publicity), report photos (supervision); an owner type without a
check is never served, and the app refuses to start with one missing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app import wiring
from app.media import visibility
from app.voting.models import Ballot
from tests.factories import add_staff, auth, create_community
from tests.media.imaging import phone_jpeg
from tests.publicity.test_files import jpeg_with_gps, notice
from tests.supervision.helpers import file_report, project_with_people
from tests.voting.helpers import API, jpeg, paper, setup_motion


async def _outside_staff(client, world) -> dict[str, str]:
    """Staff of another community of the same jurisdiction."""
    other = await create_community(client, world.admin, world.jurisdiction_id, "另一个小区")
    _, token = await add_staff(client, world.admin, other, "other_staff")
    return auth(token)


async def test_paper_ballot_photo_for_staff_of_its_community_only(app, client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    r = await paper(client, world, m["id"], world.household("2", "2", "201")["id"], "agree", photo=jpeg())
    assert r.status_code == 201, r.text
    async with app.state.db.read_session() as s:
        ballot = (await s.exec(select(Ballot).where(Ballot.id == r.json()["ballot_id"]))).one()
    url = f"{API}/photos/{ballot.photo_media_id}"
    assert (await client.get(url, headers=world.staff)).status_code == 200
    assert (await client.get(url, headers=world.admin)).status_code == 200
    for who in (world.residents[0].headers, await _outside_staff(client, world)):
        r = await client.get(url, headers=who)
        assert r.status_code == 404 and r.json()["code"] == "photo.not_found"


async def test_notice_attachment_for_the_community_only(client, world) -> None:
    n = await notice(client, world)
    r = await client.post(f"{API}/notices/{n['id']}/attachments", headers=world.staff,
                          files=[("files", ("效果图.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    url = f"{API}/photos/{r.json()['attachments'][0]['id']}"
    assert (await client.get(url, headers=world.residents[0].headers)).status_code == 200
    r = await client.get(url, headers=await _outside_staff(client, world))
    assert r.status_code == 404 and r.json()["code"] == "photo.not_found"


async def test_owner_type_without_a_check_is_never_served(client, world, monkeypatch) -> None:
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(64, 48))
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    assert (await client.get(photo["url"], headers=world.staff)).status_code == 200
    monkeypatch.delitem(visibility.CHECKS, "report")
    for url in (photo["url"], photo["thumbnail_url"]):
        r = await client.get(url, headers=world.staff)
        assert r.status_code == 404 and r.json()["code"] == "photo.not_found"


def test_wiring_refuses_an_owner_type_without_a_check(monkeypatch) -> None:
    wiring.wire()
    assert visibility.missing_checks() == []
    monkeypatch.setattr(visibility, "OWNER_TYPES", (*visibility.OWNER_TYPES, "meter_reading"))
    with pytest.raises(RuntimeError, match="meter_reading"):
        wiring.wire()
