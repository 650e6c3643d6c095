"""Imports every table so metadata (Alembic, tests) sees the whole schema."""

from app.auth import models as auth_models  # noqa: F401
from app.board import models as board_models  # noqa: F401
from app.core import models as core_models  # noqa: F401
from app.core.db import metadata  # noqa: E402
from app.funding import models as funding_models  # noqa: F401
from app.media import models as media_models  # noqa: F401
from app.projects import models as project_models  # noqa: F401
from app.publicity import models as publicity_models  # noqa: F401
from app.register import models as register_models  # noqa: F401
from app.supervision import models as supervision_models  # noqa: F401
from app.surveys import models as survey_models  # noqa: F401
from app.turnout import models as turnout_models  # noqa: F401
from app.voting import models as voting_models  # noqa: F401

__all__ = ["metadata"]
