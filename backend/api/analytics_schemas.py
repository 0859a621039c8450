"""What each analytics report returns (``GET …/analytics/{report}``), so clients and the OpenAPI
document know the fields instead of reading an untyped ``data``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Row(BaseModel):
    # Forbidding unknown fields lets the report's ``data`` union pick the one shape that fits.
    model_config = ConfigDict(extra="forbid")


class Summary(_Row):
    conversations: int
    conversations_by_channel: dict[str, int]
    questions: int
    answers: int
    grounded_answers: int = Field(description="Answers that quoted passages over the confidence cut.")
    grounded_rate: float | None
    agent_messages: int = Field(description="Replies a person wrote in handed-off conversations.")
    waiting_for_a_person: int
    feedback_up: int
    feedback_down: int
    leads: int


class QuestionGroup(_Row):
    """Questions that mean the same (grouped with the knowledge base's encoder)."""

    label: str = Field(description="The group's most typical question.")
    count: int
    share: float = Field(description="Of all questions in the window (content-gaps: of the gaps).")
    last_asked: str
    examples: list[str]
    mean_relevance: float | None
    up: int
    down: int
    reasons: dict[str, int] | None = Field(
        default=None,
        description="content-gaps only: how many of its questions count as gaps for each reason "
        "(no_relevant_passage, low_confidence, downvoted).",
    )


class SourceUsage(_Row):
    document_id: str
    title: str
    source: str
    citations: int
    last_cited: str | None
    exists: bool = Field(description="False: the document was deleted after it was cited.")


class FeedbackDay(_Row):
    day: str
    up: int
    down: int
    up_rate: float


class LeadsDay(_Row):
    day: str
    leads: int


class AnalyticsReport(BaseModel):
    report: str
    since: datetime
    until: datetime
    data: Summary | list[QuestionGroup] | list[SourceUsage] | list[FeedbackDay] | list[LeadsDay]
