"""The encoder registry: fine-tuned versions, which one is active, and requests to switch.

Training (``finetune``) registers versions; activating one is a background job that re-embeds every
knowledge base into the version's own collection and then switches the alias, so search keeps
answering throughout (see ``finetune/rollout.py``). ``base`` names the configured
``KBCHAT_ENCODER__MODEL``: activating it is the rollback to the stock encoder.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from backend.db.models import EncoderVersion, Job, JobStatus, utcnow
from backend.errors import Conflict, NotFound
from backend.jobs.queue import enqueue

ACTIVATE_JOB = "activate_encoder"
FINETUNE_JOB = "finetune"
BASE = "base"


def list_all(session: Session) -> list[EncoderVersion]:
    return list(session.scalars(select(EncoderVersion).order_by(EncoderVersion.created_at.desc())))


def get(session: Session, name_or_id: str) -> EncoderVersion:
    version = session.scalar(
        select(EncoderVersion).where(or_(EncoderVersion.id == name_or_id, EncoderVersion.name == name_or_id))
    )
    if version is None:
        raise NotFound(f"encoder version {name_or_id!r} does not exist; GET /v1/encoders lists them")
    return version


def active(session: Session) -> EncoderVersion | None:
    return session.scalar(select(EncoderVersion).where(EncoderVersion.active.is_(True)))


def mark_active(session: Session, version: EncoderVersion | None) -> None:
    """Record ``version`` (None: the configured base model) as the one the service uses."""
    session.execute(update(EncoderVersion).where(EncoderVersion.active.is_(True)).values(active=False))
    if version is not None:
        version.active = True
        version.activated_at = utcnow()


def request_activation(session: Session, name_or_id: str, *, max_attempts: int = 3) -> Job:
    """Queue the re-index that makes ``name_or_id`` (or ``base``) the active encoder."""
    target = None if name_or_id == BASE else get(session, name_or_id)
    running = session.scalar(
        select(Job).where(Job.kind == ACTIVATE_JOB, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
    )
    if running is not None:
        raise Conflict(
            f"encoder activation {running.id} is still {running.status}; "
            f"wait for it (GET /v1/jobs/{running.id})"
        )
    current = active(session)
    if (target is None and current is None) or (
        target is not None and current is not None and target.id == current.id
    ):
        raise Conflict(f"{name_or_id!r} is already the active encoder")
    return enqueue(
        session,
        kind=ACTIVATE_JOB,
        payload={"version_id": target.id if target is not None else None},
        max_attempts=max_attempts,
    )
