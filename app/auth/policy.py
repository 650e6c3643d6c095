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


def is_manager(roles: frozenset[Role]) -> bool:
    return bool(roles & _MANAGERS)
