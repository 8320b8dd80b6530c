"""All models, imported here so that Alembic and the app see one complete metadata."""

from survey.models.api import ApiToken
from survey.models.audit import AuditEvent
from survey.models.base import Base, utcnow
from survey.models.comments import CommentReview, CommentState
from survey.models.org import Desk, ServiceArea, Unit, UnitLevel
from survey.models.responses import (
    Answer,
    Channel,
    DossierCodeUse,
    FormUse,
    ListedDossierCode,
    Response,
    ResponseStatus,
)
from survey.models.rounds import (
    TRANSITIONS,
    DossierCount,
    Round,
    RoundLevelTarget,
    RoundSnapshot,
    RoundState,
    RoundStatistics,
    RoundUnit,
)
from survey.models.samples import (
    DEFAULT_TRIM_RATIO,
    AllocationMethod,
    AnswerMode,
    Invitation,
    InvitationEntry,
    InvitationState,
    RoundKind,
    SampleDraw,
    SampleFrameRow,
    SampleStratum,
)
from survey.models.templates import (
    Aspect,
    Element,
    IndexDefinition,
    Item,
    ItemOption,
    ItemRole,
    Scale,
    Template,
    TemplateVersion,
)
from survey.models.users import Role, User

__all__ = [
    "DEFAULT_TRIM_RATIO",
    "TRANSITIONS",
    "AllocationMethod",
    "Answer",
    "AnswerMode",
    "ApiToken",
    "Aspect",
    "AuditEvent",
    "Base",
    "Channel",
    "CommentReview",
    "CommentState",
    "Desk",
    "DossierCodeUse",
    "DossierCount",
    "Element",
    "FormUse",
    "IndexDefinition",
    "Invitation",
    "InvitationEntry",
    "InvitationState",
    "Item",
    "ItemOption",
    "ItemRole",
    "ListedDossierCode",
    "Response",
    "ResponseStatus",
    "Role",
    "Round",
    "RoundKind",
    "RoundLevelTarget",
    "RoundSnapshot",
    "RoundState",
    "RoundStatistics",
    "RoundUnit",
    "SampleDraw",
    "SampleFrameRow",
    "SampleStratum",
    "Scale",
    "ServiceArea",
    "Template",
    "TemplateVersion",
    "Unit",
    "UnitLevel",
    "User",
    "utcnow",
]
