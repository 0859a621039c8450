"""SQLAlchemy 2 models, one module per concept: knowledge bases and documents (knowledge), the job
queue (jobs), conversations and what analytics read of them (conversations), the encoder registry
(encoders), API keys and widget usage (access), connected sources (sources).

Portable on purpose: string UUID keys, JSON columns, and a UTC datetime type that comes back
timezone-aware from SQLite too (base). Schema changes go through Alembic (backend/db/migrations); never
``create_all`` in production. Every model is importable from here, and importing this package registers
them all with ``Base.metadata`` (relationships name classes across modules).
"""

from backend.db.models.access import ApiKey, WidgetUsage
from backend.db.models.base import Base, UTCDateTime, new_id, utcnow
from backend.db.models.conversations import Citation, Conversation, Feedback, Lead, Message, QuestionVector
from backend.db.models.encoders import EncoderVersion, EncoderVersionStatus
from backend.db.models.jobs import Job, JobStatus
from backend.db.models.knowledge import (
    Document,
    DocumentContent,
    DocumentFingerprint,
    DocumentStatus,
    KnowledgeBase,
)
from backend.db.models.sources import Source, SourceItem, SourceSync

__all__ = [
    "ApiKey",
    "Base",
    "Citation",
    "Conversation",
    "Document",
    "DocumentContent",
    "DocumentFingerprint",
    "DocumentStatus",
    "EncoderVersion",
    "EncoderVersionStatus",
    "Feedback",
    "Job",
    "JobStatus",
    "KnowledgeBase",
    "Lead",
    "Message",
    "QuestionVector",
    "Source",
    "SourceItem",
    "SourceSync",
    "UTCDateTime",
    "WidgetUsage",
    "new_id",
    "utcnow",
]
