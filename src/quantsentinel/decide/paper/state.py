"""Learners' state between runs (a tenant's bandit, a combiner's weights) as versioned JSON rows.

Each row holds the learner's own JSON verbatim (`to_json` of a `ThompsonBandit`, say) and a
version. A writer loads (state, version), updates in memory and saves with `expected_version`:
the UPDATE only matches while the row is still at that version, so of two runs updating the same
state concurrently one wins and the other gets `StateConflict` instead of silently erasing the
winner's rewards (compare-and-set; reload and re-apply on conflict). Creating a row is the same
race with `expected_version=None`: a second creator gets `StateConflict`.

The table is system-scoped (no row-level security): learners run in the decide and mark jobs, not
in a tenant's request, and a tenant's row is named by its key ("bandit:<tenant_id>") and carries
the tenant id (a foreign key) so a tenant's state cannot outlive it or name an unknown one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from quantsentinel.decide.paper.schema import learning_states
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.scope import system_scope


class StateConflict(RiskInputError):
    """A learning-state save lost a race: the row is not at the version the writer read."""

    def __init__(self, key: str, expected: int | None, found: int | None) -> None:
        want = "no row" if expected is None else f"version {expected}"
        have = "no row" if found is None else f"version {found}"
        super().__init__(
            "state_conflict",
            f"learning state {key!r}: expected {want}, found {have}; reload and re-apply",
            key=key,
            expected_version=expected,
            found_version=found,
        )


@dataclass(frozen=True)
class StateWrite:
    """One save of `LearningStateStore.save_many` (the arguments of `save`)."""

    key: str
    kind: str
    state_json: str
    tenant_id: str | None = None
    expected_version: int | None = None


class LearningStateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, key: str) -> tuple[str, int] | None:
        """(state JSON, version), or None when no state is stored under `key`."""
        return self.load_many([key]).get(_key(key))

    def load_many(self, keys: Iterable[str]) -> dict[str, tuple[str, int]]:
        """Every stored key of `keys` -> (state JSON, version), in one query; absent keys are left
        out."""
        wanted = list(dict.fromkeys(_key(k) for k in keys))
        if not wanted:
            return {}
        t = learning_states.c
        with system_scope(self.engine) as conn:
            rows = conn.execute(
                sa.select(t.state_key, t.state, t.version).where(t.state_key.in_(wanted))
            ).all()
        return {r.state_key: (r.state, int(r.version)) for r in rows}

    def save(
        self,
        key: str,
        kind: str,
        state_json: str,
        *,
        tenant_id: str | None = None,
        expected_version: int | None,
    ) -> int:
        """Create (`expected_version=None`) or update (the row must be at `expected_version`) one
        state; returns the version now stored. A lost race raises StateConflict, writing nothing."""
        return self.save_many([StateWrite(key, kind, state_json, tenant_id, expected_version)])[
            _key(key)
        ]

    def save_many(self, writes: Sequence[StateWrite]) -> dict[str, int]:
        """Several saves in ONE transaction: all are stored, or (one conflict or bad write) none.
        Returns key -> the version now stored."""
        checked = [_checked(w) for w in writes]
        keys = [w.key for w in checked]
        if len(set(keys)) != len(keys):
            raise RiskInputError("bad_state", "save_many got the same key twice", keys=keys)
        if not checked:
            return {}
        now = datetime.now(UTC)
        versions: dict[str, int] = {}
        try:
            with system_scope(self.engine) as conn:
                for w in checked:
                    versions[w.key] = _write(conn, w, now)
        except sa.exc.IntegrityError as exc:
            # A concurrent creator inserted a key first, or a tenant id names no tenant: a
            # create whose key now exists lost the race; anything else is a bad write.
            lost = _first_taken(self.engine, checked)
            if lost is not None:
                raise StateConflict(lost.key, None, self._version(lost.key)) from exc
            raise RiskInputError(
                "bad_state", f"learning state refused by the database: {exc.orig}"
            ) from exc
        return versions

    def _version(self, key: str) -> int | None:
        found = self.load(key)
        return None if found is None else found[1]


def _write(conn: Connection, w: StateWrite, now: datetime) -> int:
    t = learning_states.c
    if w.expected_version is None:
        conn.execute(
            learning_states.insert().values(
                state_key=w.key, kind=w.kind, tenant_id=w.tenant_id, state=w.state_json,
                version=1, updated_at=now,
            )
        )  # fmt: skip
        return 1
    new = w.expected_version + 1
    result = conn.execute(
        learning_states.update()
        .where(t.state_key == w.key, t.version == w.expected_version)
        .values(kind=w.kind, tenant_id=w.tenant_id, state=w.state_json, version=new, updated_at=now)
    )
    if result.rowcount != 1:
        found = conn.execute(sa.select(t.version).where(t.state_key == w.key)).scalar()
        raise StateConflict(w.key, w.expected_version, found)
    return new


def _first_taken(engine: Engine, writes: Sequence[StateWrite]) -> StateWrite | None:
    creates = [w for w in writes if w.expected_version is None]
    if not creates:
        return None
    stored = LearningStateStore(engine).load_many(w.key for w in creates)
    return next((w for w in creates if w.key in stored), None)


def _key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > 200:
        raise RiskInputError("bad_state", f"a state key is a non-blank string <= 200, got {key!r}")
    return key


def _checked(w: StateWrite) -> StateWrite:
    _key(w.key)
    if not isinstance(w.kind, str) or not w.kind.strip() or len(w.kind) > 32:
        raise RiskInputError("bad_state", f"{w.key}: kind must be a non-blank string <= 32")
    if not isinstance(w.state_json, str):
        raise RiskInputError(
            "bad_state", f"{w.key}: state must be a JSON string, got {type(w.state_json).__name__}"
        )
    try:
        json.loads(w.state_json)
    except ValueError as exc:
        raise RiskInputError("bad_state", f"{w.key}: state is not valid JSON ({exc})") from exc
    version = w.expected_version
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or version < 1
    ):
        raise RiskInputError(
            "bad_state", f"{w.key}: expected_version must be an int >= 1 or None, got {version!r}"
        )
    if w.tenant_id is not None and (not isinstance(w.tenant_id, str) or not w.tenant_id.strip()):
        raise RiskInputError("bad_state", f"{w.key}: tenant_id must be a tenant id or None")
    return w
