"""What the parts of supervision share: the project a request is about, Shanghai dates and the warranty, and
the photos staged for upload."""

from __future__ import annotations

import calendar
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, timedelta

from fastapi import UploadFile
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Scope
from app.core.config import Settings
from app.core.errors import Invalid
from app.media import service as media_service
from app.media.images import StoredImage
from app.media.storage import Storage
from app.projects import service as project_service
from app.projects.models import Project
from app.rules import business_date
from app.supervision.models import Report, Status
from app.supervision.schemas import MAX_PHOTOS

MAX_AFTER_PHOTOS = 45


async def project_of(session: AsyncSession, *, project_id: str) -> Project:
    return await project_service.project_or_404(session, project_id=project_id)


def scope_of(p: Project) -> Scope:
    return project_service.project_scope(project=p)


def shanghai_date(at: datetime) -> date:
    return business_date(at)


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def warranty_until(*, accepted_at: datetime | None, months: int) -> date | None:
    """The last Shanghai date of the warranty: acceptance date + months, minus one day (None: no warranty)."""
    if accepted_at is None or months <= 0:
        return None
    return add_months(shanghai_date(accepted_at), months) - timedelta(days=1)


def in_warranty(*, accepted_at: datetime | None, months: int, now: datetime) -> bool:
    until = warranty_until(accepted_at=accepted_at, months=months)
    if accepted_at is None or until is None:
        return False
    return shanghai_date(accepted_at) <= shanghai_date(now) <= until


def is_overdue(*, report: Report, today: date) -> bool:
    return report.status == Status.RECTIFYING and report.due_date is not None and report.due_date < today


def too_many_photos(*, limit: int = MAX_PHOTOS) -> Invalid:
    return Invalid("report.too_many_photos", f"照片最多 {limit} 张", f"At most {limit} photos",
                   errors=[{"loc": ["body", "photos"], "msg": f"at most {limit} photos"}])


def no_photos() -> Invalid:
    return Invalid("report.photos_required", "至少需要 1 张照片", "At least one photo is required",
                   errors=[{"loc": ["body", "photos"], "msg": "at least one photo"}])


def staged_photos(session: AsyncSession, *, photos: list[UploadFile], settings: Settings, storage: Storage,
                  limit: int = MAX_PHOTOS) -> AbstractAsyncContextManager[list[StoredImage]]:
    """1–``limit`` photos checked and cleaned with the request's transaction ended (the checks before it only
    read), stored when the block ends without an error: see :func:`app.media.service.staged_images`. One
    refused photo refuses the request."""
    if len(photos) > limit:
        raise too_many_photos(limit=limit)
    if not photos:
        raise no_photos()
    return media_service.staged_images(session, uploads=photos, settings=settings, storage=storage)
