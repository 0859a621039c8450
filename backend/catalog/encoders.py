"""The encoder registry: fine-tuned versions, which one serves each knowledge base, and activations.

Each knowledge base points at one encoder version (``KnowledgeBase.encoder_version_id``; none: the
configured ``KBCHAT_ENCODER__MODEL``, named ``base``). Training registers a version owned by the
knowledge base it trained for. Activating a version for a knowledge base is a background job that
re-embeds that knowledge base alone into the version's collection and then switches it
(``finetune/rollout.py``); no other knowledge base's search changes. A version may serve other
knowledge bases only when an operator shares it; versions trained without a knowledge base (on a
dataset, from the CLI) are the operator's and open to all. "Activate for every knowledge base" is
the operator's service-wide switch: it also makes the version the default for new knowledge bases.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from backend.db.models import EncoderVersion, EncoderVersionStatus, Job, JobStatus, KnowledgeBase, utcnow
from backend.errors import Conflict, InvalidInput, NotFound
from backend.jobs.kinds import ACTIVATE_JOB
from backend.jobs.queue import enqueue
from backend.keywords import encoder as keywords

log = logging.getLogger(__name__)

BASE = "base"
_LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def list_all(session: Session) -> list[EncoderVersion]:
    return list(session.scalars(select(EncoderVersion).order_by(EncoderVersion.created_at.desc())))


def get(session: Session, name_or_id: str) -> EncoderVersion:
    version = session.scalar(
        select(EncoderVersion).where(or_(EncoderVersion.id == name_or_id, EncoderVersion.name == name_or_id))
    )
    if version is None:
        raise NotFound(f"encoder version {name_or_id!r} does not exist; GET /v1/encoders lists them")
    return version


def default(session: Session) -> EncoderVersion | None:
    """The version new knowledge bases start on (None: the base model)."""
    return session.scalar(select(EncoderVersion).where(EncoderVersion.active.is_(True)))


def set_default(session: Session, version: EncoderVersion | None) -> None:
    session.execute(update(EncoderVersion).where(EncoderVersion.active.is_(True)).values(active=False))
    if version is not None:
        version.active = True


def usage(session: Session) -> dict[str | None, int]:
    """Knowledge bases per version id (None: on the base model)."""
    rows = session.execute(
        select(KnowledgeBase.encoder_version_id, func.count()).group_by(KnowledgeBase.encoder_version_id)
    )
    return {version_id: count for version_id, count in rows}


def places(session: Session) -> set[tuple[str | None, str]]:
    """Every (version id, keyword analysis) some knowledge base is served from: the collections in use."""
    rows = session.execute(select(KnowledgeBase.encoder_version_id, KnowledgeBase.keywords).distinct())
    return {(version_id, kw or keywords.LEGACY) for version_id, kw in rows}


def served_by(session: Session, kb_id: str) -> EncoderVersion | None:
    kb = session.get(KnowledgeBase, kb_id)
    if kb is None:
        raise NotFound(f"knowledge base {kb_id} does not exist; GET /v1/knowledge-bases lists them")
    return session.get(EncoderVersion, kb.encoder_version_id) if kb.encoder_version_id else None


def visible_to(session: Session, kb_id: str) -> list[EncoderVersion]:
    """The versions this knowledge base may activate: its own, shared ones and the operator's."""
    return [v for v in list_all(session) if v.kb_id in (kb_id, None) or v.shared]


def check_usable(version: EncoderVersion, kb_id: str) -> None:
    """Raise unless ``version`` is trained and may serve ``kb_id``."""
    if version.status is EncoderVersionStatus.TRAINING:
        raise Conflict(f"encoder version {version.name!r} is still training; activate it once its job ends")
    if version.status is not EncoderVersionStatus.READY:
        raise InvalidInput(f"encoder version {version.name!r} failed to train and cannot be activated")
    if version.kb_id not in (kb_id, None) and not version.shared:
        raise NotFound(
            f"encoder version {version.name!r} does not exist for this knowledge base (it belongs to "
            'another one; an operator can share it: PATCH /v1/encoders/{version} {"shared": true})'
        )


def assign(session: Session, kb_id: str, version_id: str | None, analysis: str = keywords.CURRENT) -> None:
    """Record that ``kb_id`` is now served by ``version_id`` and ``analysis``: only once its points are
    in place."""
    kb = session.get(KnowledgeBase, kb_id, with_for_update=True)
    if kb is None:
        raise NotFound(f"knowledge base {kb_id} was deleted during the activation")
    kb.encoder_version_id = version_id
    kb.keywords = analysis
    if version_id is not None:
        version = session.get(EncoderVersion, version_id)
        if version is not None:
            version.activated_at = utcnow()


def _live_activation(session: Session, kb_id: str | None) -> Job | None:
    """A queued or running activation that a new one for ``kb_id`` (None: every KB) would race."""
    query = select(Job).where(Job.kind == ACTIVATE_JOB, Job.status.in_(_LIVE))
    if kb_id is not None:
        query = query.where(or_(Job.kb_id == kb_id, Job.kb_id.is_(None)))
    return session.scalar(query.limit(1))


def request_activation(session: Session, name_or_id: str, *, kb_id: str | None, max_attempts: int = 3) -> Job:
    """Queue the re-index that makes ``name_or_id`` (or ``base``) serve ``kb_id`` (None: every KB)."""
    target = None if name_or_id == BASE else get(session, name_or_id)
    if kb_id is not None:
        current = served_by(session, kb_id)
        if target is not None:
            check_usable(target, kb_id)
        kb = session.get(KnowledgeBase, kb_id)
        up_to_date = kb is not None and kb.keywords == keywords.CURRENT
        if (target.id if target else None) == (current.id if current else None) and up_to_date:
            raise Conflict(f"{name_or_id!r} already serves this knowledge base")
    else:
        if target is not None and target.status is not EncoderVersionStatus.READY:
            raise Conflict(
                f"encoder version {target.name!r} is {target.status}; only a trained one can serve"
            )
        current_default = default(session)
        target_id = target.id if target else None
        if (
            places(session) <= {(target_id, keywords.CURRENT)}
            and (current_default.id if current_default else None) == target_id
        ):
            raise Conflict(f"{name_or_id!r} already serves every knowledge base and is the default")
    running = _live_activation(session, kb_id)
    if running is not None:
        raise Conflict(
            f"encoder activation {running.id} is still {running.status}; "
            f"wait for it (GET /v1/jobs/{running.id})"
        )
    return enqueue(
        session,
        kind=ACTIVATE_JOB,
        kb_id=kb_id,
        payload={"version_id": target.id if target is not None else None},
        max_attempts=max_attempts,
    )


def request_keyword_upgrades(session: Session, *, max_attempts: int = 3) -> list[Job]:
    """Queue an activation of its own encoder for each knowledge base whose sparse vectors were made
    with an older keyword analysis: it moves to the current one with zero downtime (no encoder call).
    Knowledge bases with an activation already queued or running are left to it (it moves them too)."""
    stale = session.execute(
        select(KnowledgeBase.id, KnowledgeBase.encoder_version_id, KnowledgeBase.keywords).where(
            or_(KnowledgeBase.keywords.is_(None), KnowledgeBase.keywords != keywords.CURRENT)
        )
    ).all()
    jobs = []
    for kb_id, version_id, analysis in stale:
        if _live_activation(session, kb_id) is not None:
            continue
        log.info(
            "knowledge base %s: keyword analysis %s -> %s; queued a re-index of its sparse vectors "
            "(its search keeps answering from the old ones until it switches)",
            kb_id,
            analysis or keywords.LEGACY,
            keywords.CURRENT,
        )
        jobs.append(
            enqueue(
                session,
                kind=ACTIVATE_JOB,
                kb_id=kb_id,
                payload={"version_id": version_id},
                max_attempts=max_attempts,
            )
        )
    return jobs


def pending_targets(session: Session) -> set[str | None]:
    """Versions that a queued or running activation is about to fill (their collections must stay)."""
    jobs = session.scalars(select(Job).where(Job.kind == ACTIVATE_JOB, Job.status.in_(_LIVE)))
    return {job.payload.get("version_id") for job in jobs}


def delete(session: Session, version: EncoderVersion) -> None:
    """Remove a version nobody uses (its files and collection are the caller's to drop)."""
    users = usage(session).get(version.id, 0)
    if users:
        raise Conflict(
            f"encoder version {version.name!r} serves {users} knowledge base(s); activate another "
            "encoder for them first (POST /v1/knowledge-bases/{id}/encoder)"
        )
    if version.active:
        raise Conflict(f"encoder version {version.name!r} is the default for new knowledge bases")
    if version.id in pending_targets(session):
        raise Conflict(f"an activation of {version.name!r} is under way; wait for it to finish")
    session.delete(version)
