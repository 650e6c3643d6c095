"""The one place that decides who may do what where.

Every request resolves the resource it touches to a :class:`Scope` (jurisdiction, community, project) and
calls :func:`authorize`. A user with no relation at all to the scope gets 404 (the resource's existence
is not revealed); a related user lacking the permission gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from app.auth.models import ACTING_RELATIONS, Role
from app.core.errors import Forbidden, NotFound

ALL = "*"


@dataclass(frozen=True)
class HouseholdRef:
    household_id: str
    community_id: str
    building_id: str
    unit_id: str
    relation: str

    @property
    def may_act(self) -> bool:
        return self.relation in ACTING_RELATIONS


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    admin_of: frozenset[str] = field(default_factory=frozenset)
    staff_of: frozenset[str] = field(default_factory=frozenset)
    supervisor_of: frozenset[str] = field(default_factory=frozenset)
    contractor_of: frozenset[str] = field(default_factory=frozenset)
    households: tuple[HouseholdRef, ...] = ()

    @property
    def is_global_admin(self) -> bool:
        return ALL in self.admin_of

    def households_in(self, community_id: str) -> list[HouseholdRef]:
        return [h for h in self.households if h.community_id == community_id]


@dataclass(frozen=True)
class Scope:
    jurisdiction_id: str
    community_id: str | None = None
    project_id: str | None = None


ADMIN, STAFF, RESIDENT, SUPERVISOR, CONTRACTOR = (
    Role.ADMIN, Role.STAFF, Role.RESIDENT, Role.SUPERVISOR, Role.CONTRACTOR
)
_MANAGERS = frozenset({ADMIN, STAFF})
_EVERYONE = frozenset({ADMIN, STAFF, RESIDENT, SUPERVISOR, CONTRACTOR})

# permission -> roles that hold it (relative to the scope of the resource)
PERMISSIONS: dict[str, frozenset[Role]] = {
    "jurisdiction.manage": frozenset({ADMIN}),
    "jurisdiction.view": frozenset({ADMIN}),
    "ranking.view": frozenset({ADMIN}),
    "community.create": frozenset({ADMIN}),
    "community.grant_staff": frozenset({ADMIN}),
    "community.manage": _MANAGERS,
    "community.view": _EVERYONE,
    "register.manage": _MANAGERS,
    "register.view": _MANAGERS,
    "project.manage": _MANAGERS,
    "project.view": _EVERYONE,
    "survey.manage": _MANAGERS,
    "survey.respond": frozenset({RESIDENT}),
    "survey.view": frozenset({ADMIN, STAFF, RESIDENT}),
    "plan.manage": _MANAGERS,
    "plan.view": frozenset({ADMIN, STAFF, RESIDENT}),
    "funding.view": frozenset({ADMIN, STAFF, RESIDENT}),
    "funding.pledge": frozenset({ADMIN, STAFF, RESIDENT}),  # residents for their own household (owner, co-owner)
    "funding.manage": _MANAGERS,
    "motion.manage": _MANAGERS,
    "motion.vote": frozenset({RESIDENT}),
    "motion.view": frozenset({ADMIN, STAFF, RESIDENT}),
    "motion.paper_ballot": _MANAGERS,
    "turnout.view": _MANAGERS,
    "reminder.send": _MANAGERS,
    "notice.manage": _MANAGERS,
    "notice.view": _EVERYONE,
    "objection.file": frozenset({RESIDENT}),
    "objection.resolve": _MANAGERS,
    "supervision.manage": _MANAGERS,
    # the street office's views of a jurisdiction (overdue reports, figures): its admins all of it, community
    # staff the part of their communities (see jurisdiction_reach)
    "supervision.overview": _MANAGERS,
    "report.file": frozenset({SUPERVISOR, RESIDENT}),
    "report.view": frozenset({ADMIN, STAFF, SUPERVISOR, CONTRACTOR}),
    "report.act": frozenset({ADMIN, STAFF, SUPERVISOR, CONTRACTOR}),
    "acceptance.manage": _MANAGERS,
    # approve or reject what WeChat's content check held for review, release or hide photos (app.core.content)
    "content.moderate": _MANAGERS,
}


def roles_in(principal: Principal, scope: Scope) -> frozenset[Role]:
    roles: set[Role] = set()
    if principal.is_global_admin or scope.jurisdiction_id in principal.admin_of:
        roles.add(ADMIN)
    if scope.community_id is not None:
        if scope.community_id in principal.staff_of:
            roles.add(STAFF)
        if any(h.community_id == scope.community_id for h in principal.households):
            roles.add(RESIDENT)
    if scope.project_id is not None:
        if scope.project_id in principal.supervisor_of:
            roles.add(SUPERVISOR)
        if scope.project_id in principal.contractor_of:
            roles.add(CONTRACTOR)
    return frozenset(roles)


@dataclass(frozen=True)
class Visible:
    """Where a permission holds for a principal, as a filter for lists: everything, or the listed
    jurisdictions (with all that is in them) and the listed communities."""

    everything: bool
    jurisdiction_ids: frozenset[str]
    community_ids: frozenset[str]


def visible(principal: Principal, permission: str) -> Visible:
    """The jurisdiction and community scopes where ``authorize(principal, permission, scope)`` passes
    (the relations of :func:`roles_in`: admin grants cover their jurisdictions, or all; staff grants and
    households their communities). Project roles are not included: a project-level list filters them itself."""
    allowed = PERMISSIONS[permission]
    as_admin = ADMIN in allowed
    communities: set[str] = set()
    if STAFF in allowed:
        communities |= principal.staff_of
    if RESIDENT in allowed:
        communities |= {h.community_id for h in principal.households}
    return Visible(everything=as_admin and principal.is_global_admin,
                   jurisdiction_ids=frozenset(principal.admin_of - {ALL}) if as_admin else frozenset(),
                   community_ids=frozenset(communities))


def jurisdiction_reach(principal: Principal, permission: str, *, jurisdiction_id: str,
                       community_ids: Iterable[str]) -> frozenset[str] | None:
    """How much of a jurisdiction-wide view the principal may see: ``None`` for all of it (the permission
    holds at the jurisdiction's scope: its admins, global admins), else the ones of ``community_ids`` (the
    caller passes communities of the jurisdiction) where :func:`authorize` would pass. 404 when neither: a
    jurisdiction is related only to its admins and to whom the permission reaches inside it."""
    allowed = PERMISSIONS[permission]
    if roles_in(principal, Scope(jurisdiction_id=jurisdiction_id)) & allowed:
        return None
    reach = frozenset(c for c in community_ids
                      if roles_in(principal, Scope(jurisdiction_id=jurisdiction_id, community_id=c)) & allowed)
    if not reach:
        raise NotFound()
    return reach


def authorize(principal: Principal, permission: str, scope: Scope) -> frozenset[Role]:
    """Raise 404 when the principal has nothing to do with the scope, 403 when it lacks the permission.

    Returns the principal's roles in the scope so callers can shape what they show (e.g. staff vs resident).
    """
    allowed = PERMISSIONS[permission]
    roles = roles_in(principal, scope)
    if not roles:
        raise NotFound()
    if not roles & allowed:
        raise Forbidden()
    return roles


# ---- a household's members and invitations ---------------------------------------------------------------
# Who may touch a household's membership (GET/DELETE /households/{id}/members[/{user_id}], /invites):
#  * staff and admins of its community: look (register.view), invite, revoke invitations, remove anyone
#    (register.manage);
#  * its owners and co-owners (the acting members): look, invite family and tenants, list and revoke the
#    household's open invitations, remove family members and tenants (never another owner or co-owner: the
#    register's owners change only through staff);
#  * every member: look at the members, and leave (remove themself);
#  * a neighbour (related to the community otherwise): 403; nobody related to the community: 404.
HOUSEHOLD_PERMISSIONS: dict[str, str] = {  # household permission -> the community permission staff need for it
    "household.members_view": "register.view",
    "household.invite": "register.manage",  # also listing and revoking invitations
    "household.member_remove": "register.manage",
}


@dataclass(frozen=True)
class HouseholdAccess:
    """How the caller relates to a household: as staff of its community, and by their own membership."""

    manager: bool
    member: HouseholdRef | None


@dataclass(frozen=True)
class MemberTarget:
    """The member a removal names; ``relation`` None: the user is not a member of the household."""

    user_id: str
    relation: str | None


def _owner_only() -> Forbidden:
    return Forbidden("household.owner_only", "只有业主、共有人或社区工作人员可以管理本户成员",
                     "Only the household's owners and co-owners, or community staff, may do this")


def _member_not_found() -> NotFound:
    return NotFound("member.not_found", "该用户不是本户成员", "Not a member of this household")


def authorize_household(principal: Principal, permission: str, scope: Scope, *, household_id: str,
                        target: MemberTarget | None = None) -> HouseholdAccess:
    """The one decision for a household's membership (the rules above); ``target``: the member a removal names.
    404 when the caller has nothing to do with the community, 403 (``household.owner_only``,
    ``member.owner_protected``, or the plain one for a neighbour) when they may not, 404 ``member.not_found``
    when a caller who may remove members names a user who is not one."""
    roles = roles_in(principal, scope)
    if not roles:
        raise NotFound()
    manager = bool(roles & PERMISSIONS[HOUSEHOLD_PERMISSIONS[permission]])
    member = next((h for h in principal.households if h.household_id == household_id), None)
    access = HouseholdAccess(manager=manager, member=member)
    if permission == "household.member_remove" and target is None:
        raise ValueError("a removal names its target")
    if manager:
        if target is not None and target.relation is None:
            raise _member_not_found()
        return access
    if member is None:
        raise Forbidden()
    if permission == "household.members_view":
        return access
    if permission == "household.member_remove" and target is not None and target.user_id == principal.user_id:
        return access  # leaving
    if not member.may_act:
        raise _owner_only()
    if target is not None:
        if target.relation is None:
            raise _member_not_found()
        if target.relation in ACTING_RELATIONS:
            raise Forbidden("member.owner_protected", "业主和共有人只能由社区工作人员移除，或自行退出",
                            "An owner or co-owner is taken off only by community staff, or leaves themself")
    return access


def is_manager(roles: frozenset[Role]) -> bool:
    return bool(roles & _MANAGERS)
