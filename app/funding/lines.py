"""The ledger lines of a project: one per plan item with a residents' share, kept across plan versions, and
where each stands — its share, what is pledged and collected, its status — and how its share splits among
households.

**Following an item across versions.** A plan revision stores new item rows, so a line follows its item by a
key: ``catalog:<catalog>:<seq>`` for an item taken from a catalog, else ``title:`` and a digest of its title
(NFKC, case-folded); then its scope (``community``, ``building:<id>``, ``unit:<id>``); a second item with the
same key in one version gets ``#2``, and so on. A revision that keeps the item (same catalog entry or title,
same scope) keeps the line with its pledges and payments, taking the new share; one that drops the item, or
its residents' share, makes the line ``dropped``; one that lists it again revives it.

**Status.** ``funded`` when what counts covers the share: what was collected (net of refunds), or — where
the rules profile has ``residents_funded_when: pledged`` — the larger of the pledges and the net collections;
otherwise ``funding``. The setting is taken from the profile when the line is stored, as a motion freezes its
rule. A refund or a larger share can move a line back to ``funding``.

**Shares follow the register until money comes in.** A household's share is its part of the line's share
(``app.rules.shares``) over the households the line is split among: until the line's first collection, the
active households of its scope in the register now (an import, a deactivation or an area correction changes
everyone's share); the first collection freezes them — each household with its area then — into the line's roll
(``funding_roll``, audited ``funding.shares_frozen``), and from then on the shares are split over that roll
whatever the register says, until staff recompute it from the register (``PUT …/funding/split`` with
``recompute_shares``, audited ``funding.shares_recomputed``). For an ``opted_in`` line the opt-ins are part of
the rule: each opt-in or opt-out changes every opted-in household's share, frozen roll or not.

**"My share" pledges.** A pledge without an amount stores none: it counts the household's share as it is when
read (0 once the household is out of the split), so such pledges never add up to more than the line's share and
an ``opted_in`` line is not covered by its first opt-in. Explicit amounts count as they are.

**Reads never write.** :func:`load` computes every line from the current plan and the stored rows (a line the
plan lists but no write has stored yet — a plan made before this ledger existed — is shown with the profile's
defaults). Every write first calls :func:`sync`, which locks the project's lines, stores what :func:`load`
computed and audits each change (a line opened, revised by a plan version, its status changed), and calls it
again after its own change so the status follows at once. The plan listener (voting's ``PLAN_LISTENERS``) runs
it in the transaction of each new plan version.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import audit
from app.funding import repository as repo
from app.funding.models import FundingLine, LineStatus, PaymentKind
from app.register import service as register_service
from app.register.profiles import RulesProfile
from app.register.service import PlacedHousehold
from app.rules.shares import SplitRule, short_of, split_share
from app.voting import service as voting_service
from app.voting.service import PlanFacts, PlanItemFacts

SOURCE_ZH = {"central_subsidy": "中央补助", "provincial_subsidy": "省级补助", "city_subsidy": "市级补助",
             "district_subsidy": "区级补助", "utility": "专营单位", "residents": "居民出资",
             "original_owner_unit": "原产权单位", "social_capital": "社会资本"}
STATUS_ZH = {LineStatus.FUNDING: "筹集中", LineStatus.FUNDED: "已到位", LineStatus.DROPPED: "已撤销"}
COUNTS_ZH = {"collected": "已收缴", "pledged": "已认缴"}


def _what(it: PlanItemFacts) -> str:
    if it.catalog is not None and it.catalog_seq is not None:
        return f"catalog:{it.catalog}:{it.catalog_seq}"
    norm = unicodedata.normalize("NFKC", it.title).strip().casefold()
    return "title:" + hashlib.sha256(norm.encode()).hexdigest()[:32]


def _where(it: PlanItemFacts) -> str:
    if it.scope == "unit":
        return f"unit:{it.unit_id}"
    if it.scope == "building":
        return f"building:{it.building_id}"
    return "community"


def keyed_items(items: Sequence[PlanItemFacts]) -> list[tuple[str, PlanItemFacts]]:
    """The items with a residents' share, each with its line key (see the module doc), in plan order."""
    seen: dict[str, int] = {}
    out: list[tuple[str, PlanItemFacts]] = []
    for it in sorted(items, key=lambda i: i.position):
        if it.residents_share_fen <= 0:
            continue
        base = f"{_what(it)}|{_where(it)}"
        seen[base] = seen.get(base, 0) + 1
        out.append((base if seen[base] == 1 else f"{base}#{seen[base]}", it))
    return out


def unallocated_residents(plan: PlanFacts) -> int:
    """Residents' funding the plan lists for the plan as a whole (on no item)."""
    return sum(s.amount_fen for s in plan.sources if s.source == "residents")


@dataclass
class Line:
    """One line as it stands now. ``row`` is the stored line (None: not stored yet); ``item`` the current plan's
    item (None: dropped). Amounts in fen; ``collected_fen`` is gross, :attr:`net_fen` net of refunds."""

    row: FundingLine | None
    key: str
    item: PlanItemFacts | None
    plan_id: str
    item_id: str
    position: int
    title: str
    scope: str
    building_id: str | None
    unit_id: str | None
    share_fen: int
    split: SplitRule
    funded_when: str
    standing: dict[str, int | None] = field(default_factory=dict)  # household -> its standing pledge (None: its share)
    pledged_fen: int = 0  # set by :meth:`settle`
    pledges: int = 0
    collected_fen: int = 0
    refunded_fen: int = 0

    @property
    def line_id(self) -> str | None:
        return self.row.id if self.row is not None else None

    @property
    def frozen_at(self) -> datetime | None:
        return self.row.roll_frozen_at if self.row is not None else None

    @property
    def opted(self) -> set[str]:
        """The households with a standing pledge (for an ``opted_in`` line: those opted in)."""
        return set(self.standing)

    @property
    def follows_share(self) -> bool:
        """Whether some household pledged "my share" (its amount then depends on the split)."""
        return any(a is None for a in self.standing.values())

    def pledge_of(self, household_id: str, split: Split | None) -> int:
        """What the household's pledge counts: its amount, or for "my share" its share now (0 without one)."""
        amount = self.standing.get(household_id, 0)
        if amount is not None:
            return amount
        return (split.share_of(household_id) or 0) if split is not None else 0

    def settle(self, split: Split | None) -> None:
        """Sum the standing pledges, "my share" ones at the households' shares in ``split``."""
        amounts = [self.pledge_of(h, split) for h in self.standing]
        self.pledged_fen, self.pledges = sum(amounts), sum(1 for a in amounts if a > 0)

    @property
    def net_fen(self) -> int:
        return self.collected_fen - self.refunded_fen

    @property
    def counted_fen(self) -> int:
        return max(self.pledged_fen, self.net_fen) if self.funded_when == "pledged" else self.net_fen

    @property
    def short_fen(self) -> int:
        return 0 if self.item is None else short_of(self.counted_fen, self.share_fen)

    @property
    def status(self) -> LineStatus:
        if self.item is None:
            return LineStatus.DROPPED
        return LineStatus.FUNDED if self.counted_fen >= self.share_fen else LineStatus.FUNDING

    def figures(self) -> dict[str, int | str | None]:
        """What the audit and the gate record of the line."""
        return {"line_id": self.line_id, "item_id": self.item_id, "title": self.title,
                "residents_share_fen": self.share_fen, "pledged_fen": self.pledged_fen,
                "collected_fen": self.net_fen, "counts": self.funded_when, "counted_fen": self.counted_fen,
                "short_fen": self.short_fen, "status": self.status.value}


@dataclass
class Ledger:
    project_id: str
    community_id: str
    current: PlanFacts | None
    profile: RulesProfile
    lines: list[Line] = field(default_factory=list)  # the current plan's, in plan order, then dropped ones
    rolls: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # line id -> its frozen roll
    split_cache: dict[str, Split] = field(default_factory=dict)  # line key -> its split, once computed
    scope_cache: dict[tuple[str, str | None, str | None], list[PlacedHousehold]] = field(default_factory=dict)

    def pledge_of(self, ln: Line, household_id: str) -> int:
        """What the household's pledge for ``ln`` counts (see :meth:`Line.pledge_of`)."""
        return ln.pledge_of(household_id, self.split_cache.get(ln.key))

    def live(self) -> list[Line]:
        return [ln for ln in self.lines if ln.item is not None]

    def line_for(self, item_id: str, *, dropped_too: bool = False) -> Line | None:
        """The line of an item of the current plan (or, with ``dropped_too``, of a dropped line's last item)."""
        for ln in self.lines:
            if ln.item_id == item_id and (ln.item is not None or dropped_too):
                return ln
        return None


async def load(session: AsyncSession, *, project_id: str, community_id: str, lock: bool = False) -> Ledger:
    """Every line of the project as it stands (see the module doc); reads only."""
    current = await voting_service.current_plan_facts(session, project_id=project_id)
    rows = await repo.lines_of(session, project_id, lock=lock)
    profile = await register_service.profile_for_community(session, community_id=community_id)
    standing: dict[str, dict[str, int | None]] = {}
    for line_id, household_id, amount in await repo.live_pledges(session, project_id):
        standing.setdefault(line_id, {})[household_id] = amount
    paid = await repo.payment_sums(session, project_id)
    led = Ledger(project_id=project_id, community_id=community_id, current=current, profile=profile,
                 rolls=await repo.rolls_of(session, project_id) if rows else {})
    by_key = {r.key: r for r in rows}

    def sums(ln: Line) -> Line:
        if ln.row is not None:
            ln.standing = standing.get(ln.row.id, {})
            ln.collected_fen = paid.get((ln.row.id, PaymentKind.COLLECTION), 0)
            ln.refunded_fen = paid.get((ln.row.id, PaymentKind.REFUND), 0)
        return ln

    listed: set[str] = set()
    for key, it in keyed_items(current.items) if current else []:
        row = by_key.get(key)
        listed.add(key)
        led.lines.append(sums(Line(
            row=row, key=key, item=it, plan_id=current.id if current else "", item_id=it.id,
            position=it.position, title=it.title, scope=it.scope, building_id=it.building_id, unit_id=it.unit_id,
            share_fen=it.residents_share_fen,
            split=SplitRule(row.split if row else profile.residents_split_default),
            funded_when=row.funded_when if row else profile.residents_funded_when)))
    for row in rows:
        if row.key not in listed:
            led.lines.append(sums(Line(
                row=row, key=row.key, item=None, plan_id=row.plan_id, item_id=row.item_id, position=row.position,
                title=row.title, scope=row.scope, building_id=row.building_id, unit_id=row.unit_id,
                share_fen=row.share_fen, split=SplitRule(row.split), funded_when=row.funded_when)))
    following = [ln for ln in led.lines if ln.follows_share]
    found = await splits(session, led, following) if following else {}
    for ln in led.lines:
        ln.settle(found.get(ln.key))
    return led


def _differs(row: FundingLine, ln: Line) -> bool:
    return (row.plan_id, row.item_id, row.position, row.title, row.scope, row.building_id, row.unit_id,
            row.share_fen) != (ln.plan_id, ln.item_id, ln.position, ln.title, ln.scope, ln.building_id, ln.unit_id,
                               ln.share_fen)


async def sync(session: AsyncSession, *, project_id: str, community_id: str, now: datetime,
               actor_id: str | None) -> Ledger:
    """Lock the project's lines, store them as :func:`load` computes them, audit each change; the ledger after."""
    led = await load(session, project_id=project_id, community_id=community_id, lock=True)
    inserted: set[str] = set()
    for ln in led.live():
        if ln.row is None:
            row = FundingLine(project_id=project_id, community_id=community_id, key=ln.key, plan_id=ln.plan_id,
                              item_id=ln.item_id, position=ln.position, title=ln.title, scope=ln.scope,
                              building_id=ln.building_id, unit_id=ln.unit_id, share_fen=ln.share_fen,
                              split=ln.split.value, funded_when=ln.funded_when, status=LineStatus.FUNDING,
                              status_at=now, created_at=now)
            if await repo.insert_line(session, row):
                inserted.add(ln.key)
        elif _differs(ln.row, ln):
            row = ln.row
            before = {"plan_id": row.plan_id, "item_id": row.item_id, "residents_share_fen": row.share_fen}
            row.plan_id, row.item_id, row.position, row.title = ln.plan_id, ln.item_id, ln.position, ln.title
            row.scope, row.building_id, row.unit_id, row.share_fen = ln.scope, ln.building_id, ln.unit_id, ln.share_fen
            session.add(row)
            if before != {"plan_id": ln.plan_id, "item_id": ln.item_id, "residents_share_fen": ln.share_fen}:
                await audit.append(session, chain=community_id, action="funding.line_revised",
                                   entity_type="funding_line", entity_id=row.id, actor_id=actor_id, at=now,
                                   data={"project_id": project_id, "before": before,
                                         "after": {"plan_id": ln.plan_id, "item_id": ln.item_id,
                                                   "residents_share_fen": ln.share_fen}})
    if any(ln.row is None for ln in led.live()):
        await session.flush()
        fresh = {r.key: r for r in await repo.lines_of(session, project_id, lock=True)}
        for ln in led.live():
            if ln.row is None and (new := fresh.get(ln.key)) is not None:
                ln.row = new
                if ln.key in inserted:  # stored by this request (a concurrent first write stores it once)
                    await audit.append(session, chain=community_id, action="funding.line_opened",
                                       entity_type="funding_line", entity_id=new.id, actor_id=actor_id, at=now,
                                       data={"project_id": project_id, "plan_id": new.plan_id,
                                             "item_id": new.item_id, "title": new.title,
                                             "residents_share_fen": new.share_fen, "split": new.split,
                                             "funded_when": new.funded_when})
    for ln in led.lines:
        stored = ln.row
        if stored is not None and stored.status != ln.status.value:
            was = stored.status
            stored.status, stored.status_at = ln.status.value, now
            session.add(stored)
            await audit.append(session, chain=community_id, action="funding.status_changed",
                               entity_type="funding_line", entity_id=stored.id, actor_id=actor_id, at=now,
                               data={"project_id": project_id, "from": was, "to": stored.status, **ln.figures()})
    await session.flush()
    return led


# ---- households and their shares -------------------------------------------------------------------

@dataclass
class Split:
    """How a line's share falls on households now: those in its scope (active, by id), those of them opted in,
    and each one's share (None when nobody is there to split among)."""

    households: list[PlacedHousehold]
    opted: set[str]
    shares: dict[str, int] | None
    ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.ids = {h.id for h in self.households}

    def in_scope(self, household_id: str) -> bool:
        return household_id in self.ids

    def share_of(self, household_id: str) -> int | None:
        if self.shares is None:
            return None
        return self.shares.get(household_id, 0) if self.in_scope(household_id) else 0

    @property
    def sharing(self) -> int:
        return 0 if self.shares is None else sum(1 for v in self.shares.values() if v > 0)


def split_among(ln: Line, households: list[PlacedHousehold], opted: set[str]) -> Split:
    """``ln``'s share over ``households`` (its scope, by id) with ``opted`` the households opted in."""
    shares = split_share(ln.share_fen, ln.split, areas=[h.area_centi for h in households],
                         opted_in=[h.id in opted for h in households])
    return Split(households=households, opted=opted & {h.id for h in households},
                 shares=None if shares is None else {h.id: s for h, s in zip(households, shares, strict=True)})


async def households_of(session: AsyncSession, led: Ledger, ln: Line) -> list[PlacedHousehold]:
    """The households ``ln``'s share is split among, by id: its frozen roll (each with the area it had when the
    roll froze), else the active households of its scope in the register now."""
    if ln.frozen_at is not None and ln.line_id is not None:
        roll = led.rolls.get(ln.line_id, [])
        placed = {h.id: h for h in await register_service.households_by_id(
            session, community_id=led.community_id, household_ids=[hid for hid, _ in roll])}
        return [replace(placed[hid], area_centi=area) for hid, area in roll if hid in placed]
    where = (ln.scope, ln.building_id if ln.scope != "community" else None, ln.unit_id if ln.scope == "unit" else None)
    if where not in led.scope_cache:
        led.scope_cache[where] = await register_service.households_in_scope(
            session, community_id=led.community_id, building_id=where[1], unit_id=where[2])
    return led.scope_cache[where]


async def splits(session: AsyncSession, led: Ledger, lines: Sequence[Line] | None = None) -> dict[str, Split]:
    """line key -> its split now, for ``lines`` (default: every line of the current plan)."""
    out: dict[str, Split] = {}
    for ln in led.live() if lines is None else lines:
        if ln.key not in led.split_cache:
            led.split_cache[ln.key] = split_among(ln, await households_of(session, led, ln), ln.opted)
        out[ln.key] = led.split_cache[ln.key]
    return out
