"""Activation letters: POST /communities/{id}/activation-codes answers a PDF — one page per code with the
community, building, unit, room, code, expiry and a QR code the mini-program scans — when asked for one;
JSON stays the default. The code read from the QR code activates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from app.core.models import AuditEntry
from tests.documents.helpers import assert_pdf, nfkc, page_qr_codes, page_texts
from tests.factories import activate, all_households

API = "/api/v1"


def _codes_url(world) -> str:
    return f"{API}/communities/{world.community_id}/activation-codes"


async def test_letters_one_page_per_code_and_the_qr_code_activates(app, client, world, clock) -> None:
    waiting = sorted(world.codes)  # households nobody activated yet
    chosen = [h for h in world.households if h["id"] in waiting][:3]
    r = await client.post(_codes_url(world), headers=world.staff | {"Accept": "application/pdf"},
                          json={"household_ids": [h["id"] for h in chosen]})
    pdf = assert_pdf(r, 201)
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    texts, qrs = page_texts(pdf), page_qr_codes(pdf)
    assert len(texts) == len(qrs) == 3
    expiry = (clock.now() + timedelta(days=30)).astimezone(_shanghai())
    seen: dict[str, str] = {}
    for h, text, qr in zip(chosen, texts, qrs, strict=True):  # printed in building, unit, room order
        assert "幸福里小区" in text and "住户激活通知书" in text
        assert f"{h['building']}号楼" in text and f"{h['unit']}单元" in text and h["room"] in text
        assert nfkc(f"有效期至：{expiry.year}年{expiry.month}月{expiry.day}日 {expiry:%H:%M}（北京时间）") in text
        assert "扫描本页二维码" in text and "业主" in text
        [content] = qr
        assert content.startswith("pages/activate/index?code=")
        code = content.removeprefix("pages/activate/index?code=")
        assert len(code) == 14 and code in text  # the same code printed and in the QR code
        seen[h["id"]] = code
    # issuing replaced the codes the world had for these households: the old ones are refused ...
    old = world.codes[chosen[0]["id"]]
    assert (await activate(client, old, "老码")).json()["code"] == "activation.code_replaced"
    # ... and the code read from each letter's QR code activates its household
    for i, h in enumerate(chosen):
        r = await activate(client, seen[h["id"]], f"纸质{i}", phone=f"1370013{i:04d}")
        assert r.status_code == 200, r.text
        me = (await client.get(f"{API}/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})).json()
        assert [x["household_id"] for x in me["households"]] == [h["id"]]
    async with app.state.db.read_session() as s:
        q = select(AuditEntry).where(AuditEntry.action == "activation_codes.issued").order_by(col(AuditEntry.seq))
        last = list((await s.exec(q)).all())[-1]
    assert last.data == {"count": 3, "relation": "owner", "replaced": 3, "format": "pdf"}


def _shanghai():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


async def test_format_parameter_and_json_default(client, world) -> None:
    hid = sorted(world.codes)[0]
    body = {"household_ids": [hid], "relation": "tenant"}
    r = await client.post(_codes_url(world), headers=world.staff, params={"format": "pdf"}, json=body)
    texts = page_texts(assert_pdf(r, 201))
    assert len(texts) == 1 and "租户" in texts[0]
    # no Accept, */*, JSON preferred over PDF, and ?format=json over an Accept for PDF: JSON
    for headers, params in (({}, {}), ({"Accept": "*/*"}, {}),
                            ({"Accept": "application/json, application/pdf;q=0.5"}, {}),
                            ({"Accept": "application/pdf"}, {"format": "json"})):
        r = await client.post(_codes_url(world), headers=world.staff | headers, params=params, json=body)
        assert r.status_code == 201 and r.headers["content-type"] == "application/json", (headers, params)
        [item] = r.json()["items"]
        assert item["household_id"] == hid and len(item["code"]) == 14
    r = await client.post(_codes_url(world), headers=world.staff, params={"format": "docx"}, json=body)
    assert r.status_code == 422


async def test_all_not_activated_letters_and_who_may_print_them(client, world) -> None:
    r = await client.post(_codes_url(world), headers=world.staff | {"Accept": "application/pdf"},
                          json={"all_not_activated": True})
    texts = page_texts(assert_pdf(r, 201))
    assert len(texts) == len(world.codes) == 8
    rooms = [(h["building"], h["unit"], h["room"]) for h in world.households if h["id"] in world.codes]
    for (b, u, room), text in zip(sorted(rooms), texts, strict=True):  # building, unit, room order
        assert f"楼栋 {b}号楼单元 {u}单元房号 {room}身份" in text
    r = await client.post(_codes_url(world), headers=world.residents[0].headers | {"Accept": "application/pdf"},
                          json={"all_not_activated": True})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await client.post(f"{API}/communities/{'0' * 32}/activation-codes",
                          headers=world.staff | {"Accept": "application/pdf"}, json={"all_not_activated": True})
    assert r.status_code == 404


async def test_no_font_is_503_and_nothing_is_issued(app, client, world, tmp_path: Path) -> None:
    app.state.settings.pdf_font_path = tmp_path / "missing.ttf"
    before = {h["id"]: h["pending_codes"] for h in await all_households(client, world.staff, world.community_id)}
    r = await client.post(_codes_url(world), headers=world.staff | {"Accept": "application/pdf"},
                          json={"all_not_activated": True})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "documents.font_missing"
    # the old codes still work: nothing was issued or replaced
    after = {h["id"]: h["pending_codes"] for h in await all_households(client, world.staff, world.community_id)}
    assert after == before
    hid, code = sorted(world.codes.items())[0]
    assert (await activate(client, code, "旧码仍有效")).status_code == 200
    # JSON needs no font
    r = await client.post(_codes_url(world), headers=world.staff, json={"household_ids": [hid], "relation": "family"})
    assert r.status_code == 201 and r.json()["items"][0]["household_id"] == hid
