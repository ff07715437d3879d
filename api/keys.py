"""API keys and roles: deployment keys from NEEDCAST_API_KEYS and created keys stored as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, select

from store import tables

__all__ = ["Role", "create_key", "env_role", "parse_env_keys", "resolve_role", "stored_role"]


class Role(StrEnum):
    planner = "planner"
    portal = "portal"
    ingest = "ingest"
    admin = "admin"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_env_keys(spec: str) -> list[tuple[str, Role]]:
    """`key:role,key:role` -> pairs; malformed entries raise ValueError naming the entry's position."""
    pairs = []
    for i, entry in enumerate(filter(None, (e.strip() for e in spec.split(","))), start=1):
        key, sep, role = entry.rpartition(":")
        if not sep or not key or role not in Role.__members__:
            raise ValueError(f"NEEDCAST_API_KEYS entry {i} is not key:role with role in {', '.join(Role)}")
        pairs.append((key, Role(role)))
    return pairs


def create_key(engine: Engine, role: Role) -> str:
    """A new random key for `role`; only its hash is stored, the key is returned once."""
    key = f"nc_{role.value}_{secrets.token_urlsafe(24)}"
    with engine.begin() as conn:
        conn.execute(tables.api_keys.insert().values(
            key_hash=_hash(key), role=role.value, created_at=datetime.now(UTC).replace(tzinfo=None)))
    return key


def env_role(env_keys: list[tuple[str, Role]], key: str) -> Role | None:
    """The role of a deployment key, compared in constant time; None when `key` is not one."""
    role: Role | None = None
    for candidate, candidate_role in env_keys:
        if hmac.compare_digest(candidate.encode(), key.encode()):
            role = candidate_role
    return role


def stored_role(engine: Engine, key: str) -> Role | None:
    """The role of a created key, looked up by its hash; None when unknown."""
    with engine.connect() as conn:
        stored = conn.execute(
            select(tables.api_keys.c.role).where(tables.api_keys.c.key_hash == _hash(key))
        ).scalar()
    return Role(stored) if stored else None


def resolve_role(engine: Engine, env_keys: list[tuple[str, Role]], key: str) -> Role | None:
    """The role of `key`, or None: deployment keys first, then created keys."""
    return env_role(env_keys, key) or stored_role(engine, key)
