"""Demo steps beyond the register — a project with a willingness survey, a needs survey from the catalog,
a plan with a civil-code motion, and a plan notice — each through the HTTP API."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.demo import DemoContext


async def _post(ctx: DemoContext, path: str, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    r = await ctx.client.post(path, headers=ctx.staff, json=body)
    if r.status_code != expect:
        raise RuntimeError(f"demo step {path} failed: {r.status_code} {r.text}")
    return r.json()


async def run_steps(ctx: DemoContext) -> None:
    now = ctx.now
    project = await _post(ctx, f"/api/v1/communities/{ctx.community_id}/projects",
                          {"title": "示范小区综合改造", "description": "屋面防水、管网改造、加装电梯"})
    pid = project["id"]
    willingness = await _post(ctx, f"/api/v1/projects/{pid}/questionnaires",
                              {"kind": "willingness", "title": "改造意愿征询"})
    await _post(ctx, f"/api/v1/questionnaires/{willingness['id']}/open",
                {"closes_at": (now + timedelta(days=14)).isoformat()}, expect=200)
    needs = await _post(ctx, f"/api/v1/projects/{pid}/questionnaires",
                        {"kind": "needs", "title": "改造内容需求征询", "from_catalog": True})
    await _post(ctx, f"/api/v1/questionnaires/{needs['id']}/open",
                {"closes_at": (now + timedelta(days=14)).isoformat()}, expect=200)
    plan = await _post(ctx, f"/api/v1/projects/{pid}/plans", {
        "title": "示范小区改造方案（第一版）",
        "items": [
            {"catalog": "qingdao", "catalog_seq": 2, "title": "道路铺装", "budget_fen": 80_000_00,
             "funding": [{"source": "central_subsidy", "amount_fen": 50_000_00},
                         {"source": "district_subsidy", "amount_fen": 30_000_00}]},
            {"title": "屋面防水", "budget_fen": 120_000_00,
             "funding": [{"source": "city_subsidy", "amount_fen": 84_000_00},
                         {"source": "residents", "amount_fen": 36_000_00}]},
        ]})
    motion = await _post(ctx, f"/api/v1/plans/{plan['id']}/motions", {
        "title": "关于实施示范小区改造方案的表决", "matter": "renovation_plan",
        "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=7)).isoformat()})
    notice = await _post(ctx, f"/api/v1/projects/{pid}/notices", {
        "kind": "plan", "title": "示范小区改造方案公示", "plan_id": plan["id"],
        "body": "改造内容：道路铺装、屋面防水。总预算 200 万元，居民分担 36 万元。如有异议，请在公示期内提出。",
        "start_date": ctx.today.isoformat()})
    ctx.out.update({
        "project_id": pid, "willingness_questionnaire_id": willingness["id"],
        "needs_questionnaire_id": needs["id"], "plan_id": plan["id"], "motion_id": motion["id"],
        "notice": {"id": notice["id"], "end_date": notice.get("end_date"), "status": notice.get("status")},
    })
