"""Publishing approved decisions as live signals, one channel per tenant (seed 001 §4 steps 8-9).

The order is fixed: the batch is committed to the database first (`DecisionStore.write_batch`),
then each approved decision's payload is published on its tenant's channel. The database row is
the durable record; pub/sub is notification only. So a publish that fails is reported
(`PublishReport.failed`) and never raised: raising after the commit would fail a run whose
decisions are already recorded, and a retry of that run is refused (`batch_exists`).

Channels are `qs:tenant:<tenant_id>:decisions`. Tenant ids are validated slugs (a-z, 0-9, '-'),
so a channel name can never contain ':' from an id, '*' or any other pattern character: one
tenant's channel name cannot address, or be matched by a subscription to, another's.

Publishers:
- `InProcessPublisher` (embedded default, `memory://`): callbacks in this process plus a bounded
  history per channel, so a CLI or a test reads what a run in the same process published;
- `RedisPublisher` (production, `redis://...`): Redis PUBLISH, with short socket timeouts so a dead
  Redis costs seconds. `redis` is imported only when one is created: decide runs stay light.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from quantsentinel.decide.store import BatchRecord, DecisionRecord, decision_id
from quantsentinel.risk.errors import RiskInputError
from quantsentinel.risk.tenancy.audit import json_safe
from quantsentinel.risk.tenancy.validation import validate_tenant_id

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
DEFAULT_HISTORY = 1000
DEFAULT_TIMEOUT_S = 2.0
MEMORY_URL = "memory://"
URL_SCHEMES = ("memory://", "redis://", "rediss://")
# The fields a subscriber needs to act on a leg; the rest of a stored leg (prices, lot size) is
# passed through as is.
_LEG_REQUIRED = ("kind", "expiry", "strike", "side", "lots")


def channel_for(tenant_id: str) -> str:
    """The tenant's decision channel; refuses (TenantError) an id that is not a valid slug."""
    return f"qs:tenant:{validate_tenant_id(tenant_id)}:decisions"


# --- payload --------------------------------------------------------------------------------------


def signal_payload(batch: BatchRecord, decision: DecisionRecord) -> dict[str, Any]:
    """The live-signal payload of an approved decision: plain JSON (json.dumps(allow_nan=False)
    accepts it). `max_profit` / `max_loss` are None when unbounded. A blocked decision is refused
    with RiskInputError('not_approved'): only approved decisions are signals."""
    tenant_id = validate_tenant_id(decision.tenant_id)
    if not decision.approved:
        raise RiskInputError(
            "not_approved",
            f"decision {decision_id(batch.batch_id, tenant_id)!r} was blocked by "
            f"{decision.blocked_by!r}; only approved decisions are published",
            tenant_id=tenant_id,
            blocked_by=decision.blocked_by,
        )
    payload = {
        "version": PAYLOAD_VERSION,
        "batch_id": batch.batch_id,
        "decision_id": decision_id(batch.batch_id, tenant_id),
        "tenant_id": tenant_id,
        "underlying": batch.underlying,
        "snapshot_ts": batch.snapshot_ts,
        "decided_at": batch.decided_at,
        "regime": batch.regime,
        "strategy": decision.strategy,
        "structure": decision.structure,
        "legs": [_leg(leg, i, tenant_id) for i, leg in enumerate(decision.legs)],
        "units": int(decision.units),
        "entry_zone": None if decision.entry_zone is None else dict(decision.entry_zone),
        "target": decision.target,
        "stop": decision.stop,
        "max_profit": _bound(decision.max_profit, "max_profit", tenant_id),
        "max_loss": _bound(decision.max_loss, "max_loss", tenant_id),
        "expected_cost": decision.expected_cost,
        "payoff": [[price, pnl] for price, pnl in decision.payoff],
        "contributions": dict(decision.contributions),
        "fallbacks": dict(decision.fallbacks),
    }
    return json_safe(payload)


def _leg(leg: Mapping[str, Any], index: int, tenant_id: str) -> dict[str, Any]:
    # A leg without its kind, strike or side cannot be acted on: refuse rather than send it.
    missing = [name for name in _LEG_REQUIRED if name not in leg]
    if missing:
        raise RiskInputError(
            "bad_decision",
            f"{tenant_id}: leg {index} lacks {', '.join(missing)}",
            tenant_id=tenant_id,
            leg=index,
        )
    first = {name: leg[name] for name in _LEG_REQUIRED}
    return {**first, **{k: v for k, v in leg.items() if k not in first}}


def _bound(value: float | None, name: str, tenant_id: str) -> float | None:
    # +inf is how the risk layer says "unbounded"; a subscriber gets None (as the decision row
    # stores it) instead of the string json_safe would make of it. NaN is not "unbounded", it is
    # a bug upstream, and a signal claiming an unknown loss is unbounded would mislead.
    if value is None or value == math.inf:
        return None
    if not math.isfinite(value):
        raise RiskInputError(
            "bad_decision", f"{tenant_id}: {name} is {value!r}", tenant_id=tenant_id
        )
    return float(value)


def encode(payload: Mapping[str, Any]) -> str:
    """The wire form: compact JSON, strict (no NaN/Infinity tokens other parsers reject)."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))


# --- publishers -----------------------------------------------------------------------------------


@runtime_checkable
class Publisher(Protocol):
    def publish(self, channel: str, message: str) -> int:
        """Send `message` on `channel`; returns how many receivers it reached."""
        ...

    def close(self) -> None: ...


class InProcessPublisher:
    """Callbacks in this process, plus the last `history` messages of every channel.

    Thread-safe. Callbacks run in the publishing thread, outside the lock, so a callback may itself
    publish or (un)subscribe. A callback that raises is logged and counted (`callback_errors`) and
    does not keep the message from the other subscribers; `publish` returns how many callbacks
    took the message without raising.
    """

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be a whole number >= 1, got {history!r}")
        self.history_size = history
        self._lock = threading.Lock()
        self._subscribers: dict[str, dict[int, Callable[[str], object]]] = {}
        self._history: dict[str, deque[str]] = {}
        self._next_token = 0
        self.callback_errors = 0

    def subscribe(self, tenant_id: str, callback: Callable[[str], object]) -> Callable[[], None]:
        """Call `callback(message)` for every message on the tenant's channel from now on;
        returns the function that unsubscribes it (calling it twice is harmless)."""
        channel = channel_for(tenant_id)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers.setdefault(channel, {})[token] = callback

        def unsubscribe() -> None:
            with self._lock:
                subscribers = self._subscribers.get(channel, {})
                subscribers.pop(token, None)
                if not subscribers:
                    self._subscribers.pop(channel, None)

        return unsubscribe

    def publish(self, channel: str, message: str) -> int:
        with self._lock:
            self._history.setdefault(channel, deque(maxlen=self.history_size)).append(message)
            callbacks = list(self._subscribers.get(channel, {}).values())
        reached = 0
        for callback in callbacks:
            try:
                callback(message)
            except Exception:
                # One broken subscriber must not cost the others their signal.
                with self._lock:
                    self.callback_errors += 1
                log.exception(
                    "subscriber %r on %s raised; the others still get it", callback, channel
                )
            else:
                reached += 1
        return reached

    def history(self, tenant_id: str) -> list[str]:
        """The tenant's last messages, oldest first (at most `history_size`)."""
        channel = channel_for(tenant_id)
        with self._lock:
            return list(self._history.get(channel, ()))

    def subscribers(self, tenant_id: str) -> int:
        with self._lock:
            return len(self._subscribers.get(channel_for(tenant_id), {}))

    def close(self) -> None:
        """Drops the subscribers; the history stays readable (a CLI reads it after a run)."""
        with self._lock:
            self._subscribers.clear()


class RedisPublisher:
    """Redis PUBLISH on one client (connection pool). Nothing connects until the first publish.

    Timeouts are short and there is one immediate retry (which reconnects a pooled connection that
    went stale when Redis restarted) instead of redis-py's default backoff: a dead Redis costs a
    few seconds per publish, and `publish_approved` stops trying after a few in a row.
    """

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        # Imported here, not at module import: runs that never publish to Redis don't pay for it.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
        )

    def publish(self, channel: str, message: str) -> int:
        return int(self._client.publish(channel, message))

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisPublisher({redact(self.url)!r})"


_shared_lock = threading.Lock()
_shared: InProcessPublisher | None = None


def in_process_publisher() -> InProcessPublisher:
    """The process-wide in-process publisher `memory://` names."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = InProcessPublisher()
        return _shared


def publisher_from_url(url: str | None) -> Publisher:
    """`memory://` or empty: the process-wide InProcessPublisher; `redis://` / `rediss://`: a new
    RedisPublisher (the caller closes it). Anything else is a ValueError naming the url."""
    text = (url or "").strip()
    if not text or text == MEMORY_URL:
        return in_process_publisher()
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("redis", "rediss"):
        return RedisPublisher(text)
    raise ValueError(
        f"publisher url {redact(text)!r} is not supported; use one of {', '.join(URL_SCHEMES)} "
        "(memory:// or empty for the in-process publisher)"
    )


def redact(url: str) -> str:
    """The url without its password (error messages and logs must not carry credentials)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:  # an unparseable port: say nothing more of it than the scheme
        return f"{url.split('://', 1)[0]}://***"


# --- publishing a batch ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishReport:
    """What `publish_approved` did: receivers reached per tenant, why a tenant's publish failed,
    how many blocked decisions were not published."""

    published: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped_blocked: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def publish_approved(
    publisher: Publisher,
    batch: BatchRecord,
    decisions: Iterable[DecisionRecord],
    *,
    max_consecutive_failures: int = 3,
) -> PublishReport:
    """Publish each approved decision on its tenant's channel; never raises for a failure.

    Call it after the batch is committed. A failed publish is recorded in `failed` and the next
    tenant is tried; after `max_consecutive_failures` publishes in a row failed, the publisher is
    taken as down and the remaining tenants are recorded as failed without trying (a blackholed
    Redis would otherwise cost its timeout once per tenant). A decision whose payload cannot be
    built is recorded in `failed` too: its row is already durable, and the other tenants' signals
    must still go out.
    """
    if isinstance(max_consecutive_failures, bool) or max_consecutive_failures < 1:
        raise ValueError(f"max_consecutive_failures must be >= 1, got {max_consecutive_failures}")
    published: dict[str, int] = {}
    failed: dict[str, str] = {}
    skipped = 0
    in_a_row = 0
    down: str | None = None
    for decision in decisions:
        if not decision.approved:
            skipped += 1
            continue
        tenant_id = decision.tenant_id
        try:
            channel = channel_for(tenant_id)
            message = encode(signal_payload(batch, decision))
        except (RiskInputError, ValueError) as exc:
            failed[tenant_id] = f"bad_payload: {exc}"
            log.error("decision %s not published: %s", decision_id(batch.batch_id, tenant_id), exc)
            continue
        if down is not None:
            failed[tenant_id] = f"not attempted: {down}"
            continue
        try:
            published[tenant_id] = int(publisher.publish(channel, message))
        except Exception as exc:
            # Any publisher failure (connection refused, timeout, auth): the row is the record.
            error = f"{type(exc).__name__}: {exc}"
            failed[tenant_id] = error
            in_a_row += 1
            log.warning("publish to %s failed (%s); the decision row stands", channel, error)
            if in_a_row >= max_consecutive_failures:
                down = f"publisher down after {in_a_row} failures in a row (last: {error})"
                log.error("%s; not publishing the rest of batch %s", down, batch.batch_id)
        else:
            in_a_row = 0
    return PublishReport(published, failed, skipped)
