"""The audit chain verifies, and detects an edited, deleted or reordered entry."""

from __future__ import annotations

from sqlalchemy import text

from app.core import audit


async def _append(app, n: int, chain: str = "c1") -> None:
    async with app.state.db.write_session() as s:
        for i in range(n):
            await audit.append(s, chain=chain, action="test.event", entity_type="thing", entity_id=f"t{i}",
                               actor_id="u1", at=app.state.clock.now(), data={"i": i, "name": "名字"})
        await s.commit()


async def _verify(app):
    async with app.state.db.read_session() as s:
        return await audit.verify(s)


async def test_chain_verifies_and_detects_edit(app) -> None:
    await _append(app, 5)
    await _append(app, 2, chain="c2")
    reports = {r.chain: r for r in await _verify(app)}
    assert reports["c1"].ok and reports["c1"].entries == 5
    assert reports["c2"].ok
    async with app.state.db.write_session() as s:
        await s.exec(text("UPDATE audit_entry SET entity_id = 'forged' WHERE chain = 'c1' AND seq = 3"))
        await s.commit()
    reports = {r.chain: r for r in await _verify(app)}
    assert not reports["c1"].ok and reports["c1"].first_broken_seq == 3
    assert reports["c2"].ok


async def test_chain_detects_deleted_entry(app) -> None:
    await _append(app, 4)
    async with app.state.db.write_session() as s:
        await s.exec(text("DELETE FROM audit_entry WHERE chain = 'c1' AND seq = 2"))
        await s.commit()
    (report,) = await _verify(app)
    assert not report.ok and report.first_broken_seq == 3
