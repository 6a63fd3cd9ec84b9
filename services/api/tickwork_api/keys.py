"""API keys: created once and shown once, stored only as a SHA-256 hash (see `ApiKey`).

A key is `tw_` plus 43 URL-safe characters (256 random bits). Such a key cannot be
guessed, so a fast hash is as good as a slow one and lets each request find its key by
an index lookup. The first characters are kept as `prefix` so a listing can tell keys
apart. The CLI (`tickwork api-key …`), `tickwork dev` and `/api-keys` call these functions.
A key may expire (`expires_at`); past it, it is refused like a revoked one.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.camel import format_utc
from tickwork_shared.db.dialect import db_now, db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ApiKey
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import Role

from tickwork_api.errors import NotFound, ValidationFailed
from tickwork_api.repositories.paging import fetch_page
from tickwork_api.schemas.common import Paging
from tickwork_api.schemas.names import refuse_hidden_characters
from tickwork_api.services import audit

KEY_PREFIX = "tw_"
PREFIX_LENGTH = 10
MAX_NAME_LENGTH = 200
# `last_used_at` is refreshed at most this often, so reads do not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(name: str) -> None:
    """The checks of `PrintableName` for callers that bypass the REST schema (the CLI)."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed.one("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    try:
        refuse_hidden_characters(name)
    except ValueError as error:
        raise ValidationFailed.one("name", str(error)) from None


async def _insert(
    session: AsyncSession, key: str, name: str, role: Role, expires_at: datetime | None = None
) -> ApiKey:
    now = await db_now(session)
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed.one("expiresAt", "must be in the future")
    record = ApiKey(
        name=name,
        role=Role(role).value,
        key_hash=hash_key(key),
        prefix=key[:PREFIX_LENGTH],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(record)
    await session.flush()
    return record


def _audited(record: ApiKey) -> dict[str, Any]:
    """What the audit log keeps of a key: never its hash."""
    return {
        "name": record.name,
        "role": record.role,
        "prefix": record.prefix,
        "expiresAt": format_utc(record.expires_at) if record.expires_at else None,
    }


async def create_api_key(
    sessions: SessionFactory,
    name: str,
    role: Role,
    *,
    expires_at: datetime | None = None,
    actor_id: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key with `role`: the stored record and the key itself (shown only now).

    `expires_at` must be in the future (else `ValidationFailed` naming `expiresAt`).
    With an `actor_id` (a REST call), the creation is written to the audit log.
    """
    _check_name(name)
    key = generate_key()

    async def work(session: AsyncSession) -> ApiKey:
        record = await _insert(session, key, name, role, expires_at)
        if actor_id is not None:
            changes = audit.diff(None, _audited(record))
            audit.record(
                session, actor_id, "created", "api_key", record.id, changes, record.created_at
            )
        return record

    return await run_in_transaction(sessions, work, what="create api key"), key


async def ensure_api_key(sessions: SessionFactory, key: str, name: str, role: Role) -> None:
    """Make `key` valid with `role` if its hash is not stored yet; idempotent.

    `tickwork dev` keeps its admin key in a file and calls this at every start. A key
    already stored (even revoked) is left as it is.
    """
    _check_name(name)
    digest = hash_key(key)

    async def work(session: AsyncSession) -> None:
        if await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest)) is None:
            await _insert(session, key, name, role)

    # IntegrityError: inserted concurrently by another process; the key exists now.
    with contextlib.suppress(IntegrityError):
        await run_in_transaction(sessions, work, what="ensure api key")


async def list_api_keys(sessions: SessionFactory) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first (hashes are never shown)."""

    async def work(session: AsyncSession) -> list[ApiKey]:
        return list((await session.scalars(select(ApiKey).order_by(ApiKey.id))).all())

    return await run_in_transaction(sessions, work, what="list api keys")


async def page_api_keys(sessions: SessionFactory, paging: Paging) -> tuple[list[ApiKey], int]:
    """One page of every key, revoked and expired ones included, oldest first."""

    async def work(session: AsyncSession) -> tuple[list[ApiKey], int]:
        return await fetch_page(session, ApiKey, [], [ApiKey.id.asc()], paging)

    return await run_in_transaction(sessions, work, what="list api keys")


async def revoke_api_key(
    sessions: SessionFactory, key_id: int, *, actor_id: str | None = None
) -> None:
    """Revoke the key at once (its next request gets 401); raises `NotFound` if unknown.

    Revoking a revoked key keeps its first revocation time. With an `actor_id` (a REST
    call), the revocation is written to the audit log.
    """

    async def work(session: AsyncSession) -> None:
        record = await session.get(ApiKey, key_id)
        if record is None:
            raise NotFound(f"API key {key_id} not found")
        if record.revoked_at is None:
            now = await db_now(session)
            record.revoked_at = now
            if actor_id is not None:
                audit.record(session, actor_id, "revoked", "api_key", record.id, None, now)

    await run_in_transaction(sessions, work, what="revoke api key")


async def find_active_key(sessions: SessionFactory, key: str) -> ApiKey | None:
    """The unrevoked, unexpired key whose hash matches, its `last_used_at` refreshed
    (at most once per `LAST_USED_RESOLUTION`, so a busy key is not a write per request)."""
    digest = hash_key(key)

    async def work(session: AsyncSession) -> ApiKey | None:
        record = await session.scalar(
            select(ApiKey).where(
                ApiKey.key_hash == digest,
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > db_now_expr(session)),
            )
        )
        if record is None:
            return None
        last = record.last_used_at
        if last is None or datetime.now(UTC) - last >= LAST_USED_RESOLUTION:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == record.id)
                .values(last_used_at=db_now_expr(session))
                .execution_options(synchronize_session=False)
            )
        return record

    return await run_in_transaction(sessions, work, what="authenticate")
