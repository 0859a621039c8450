"""Visitor identity: short-lived tokens the customer's backend signs for its logged-in visitors.

Without identity a widget visitor is anonymous (limited per IP address). With it, the customer's
server signs ``{"sub": "<their user id>", "exp": <unix time>}`` as an HS256 JWT with the knowledge
base's identity secret and hands it to the page; the widget sends it as ``X-Visitor-Token``. We then
know who asks: limits count per visitor, conversations belong to that visitor, leads carry the id.

JWT because every backend language has a well-kept library for it (we use PyJWT); HS256 only, so a
token cannot pick its own algorithm (``none``, or RS256 with our secret as a "public key").
"Short-lived" is enforced: a token must expire, and no later than ``MAX_LIFETIME_S`` from now.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt
from sqlalchemy.orm import Session

from backend.catalog import knowledge_bases as kbs
from backend.errors import Unauthorized

ALGORITHM = "HS256"
MAX_LIFETIME_S = 24 * 3600
LEEWAY_S = 30
"""Clock skew tolerated between the customer's server and ours."""
MAX_TOKEN_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Visitor:
    id: str
    """The token's subject, prefixed ``user:`` so it never collides with anonymous scopes."""


def rotate_secret(session: Session, kb_id: str) -> str:
    """A new identity secret (the old one stops verifying at once); returned once to the caller."""
    kb = kbs.get(session, kb_id)
    kb.identity_secret = f"kbid_{secrets.token_urlsafe(32)}"
    return kb.identity_secret


def clear_secret(session: Session, kb_id: str) -> None:
    kbs.get(session, kb_id).identity_secret = None


def verify(token: str, secret: str, *, kb_id: str, now: float | None = None) -> Visitor:
    """The visitor a token names, or Unauthorized saying exactly what is wrong with it."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(f"visitor token is longer than {MAX_TOKEN_CHARS} characters")
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"], "verify_aud": False},
            leeway=LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("visitor token expired; have your server sign a fresh one") from None
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"visitor token lacks the {exc.claim!r} claim; sign sub and exp") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized(
            "visitor token signature does not verify; sign it with this knowledge base's identity "
            "secret (rotating the secret invalidates older tokens)"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"visitor token is not a valid HS256 JWT: {exc}") from None
    expires = claims["exp"]
    if isinstance(expires, bool) or not isinstance(expires, int | float):  # PyJWT accepts "123"
        raise Unauthorized("visitor token's 'exp' must be a number: seconds since 1970 (UTC)")
    if expires > now + MAX_LIFETIME_S + LEEWAY_S:
        raise Unauthorized(
            f"visitor token lives too long; sign tokens that expire within {MAX_LIFETIME_S // 3600} h"
        )
    audience = claims.get("aud")
    if audience is not None and audience != kb_id and not (isinstance(audience, list) and kb_id in audience):
        raise Unauthorized("visitor token is for another knowledge base (its 'aud' claim)")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 1 <= len(subject) <= 190:
        raise Unauthorized("visitor token's 'sub' must be a string of 1 to 190 characters")
    return Visitor(f"user:{subject}")
