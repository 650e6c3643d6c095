"""The audit chain verifies, and detects an edited, deleted or reordered entry."""

from __future__ import annotations

from sqlalchemy import text

from app.core import audit
from tests.statements import app_statements


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


async def test_a_transaction_reads_the_head_it_holds_once(app) -> None:
    """Once a transaction holds a chain's head locked, its further entries need no locking read; after a
    rollback, and after a savepoint rolled back, the head is read again, so the chain neither forks nor skips."""
    at = app.state.clock.now()

    async def add(s, i: int) -> None:
        await audit.append(s, chain="c1", action="test.event", entity_type="thing", entity_id=f"t{i}",
                           actor_id="u1", at=at, data={"i": i})

    await _append(app, 1)  # t0: the chain and its head exist
    async with app.state.db.write_session() as s:
        with app_statements(app) as seen:
            for i in range(1, 4):
                await add(s, i)
        await s.commit()
    assert len([x for x in seen if x.startswith("SELECT audit_head")]) == 1, seen
    assert len([x for x in seen if x.startswith("INSERT INTO audit_entry")
                or "INSERT INTO audit_entry" in x]) == 3, seen

    async with app.state.db.write_session() as s:  # entry t4 rolled back: the next transaction reads the head
        await add(s, 4)
        await s.rollback()
        await add(s, 5)
        await s.commit()
    async with app.state.db.write_session() as s:
        await add(s, 6)
        nested = await s.begin_nested()
        await add(s, 7)
        await nested.rollback()  # the savepoint's entry is gone, and so is its head
        await add(s, 8)
        await s.commit()

    (report,) = await _verify(app)
    assert report.ok and report.entries == 7, report
    async with app.state.db.read_session() as s:
        ids = (await s.exec(text("SELECT entity_id FROM audit_entry WHERE chain = 'c1' ORDER BY seq"))).all()
    assert [r[0] for r in ids] == ["t0", "t1", "t2", "t3", "t5", "t6", "t8"]
