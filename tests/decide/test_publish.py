"""Publishing approved decisions: payloads, per-tenant channels, the in-process publisher and the
failure handling of `publish_approved` (Redis itself: tests/decide/test_publish_redis.py)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import cache

import pytest

from quantsentinel.decide.legs import leg_record
from quantsentinel.decide.publish import (
    InProcessPublisher,
    Publisher,
    PublishReport,
    RedisPublisher,
    channel_for,
    encode,
    in_process_publisher,
    publish_approved,
    publisher_from_url,
    signal_payload,
)
from quantsentinel.decide.store import BatchRecord, DecisionRecord
from quantsentinel.market.simulator import MarketSimulator
from quantsentinel.risk.errors import RiskInputError, TenantError
from quantsentinel.risk.structures import ChainView, analyse, vertical_debit

DAY = date(2025, 3, 4)


@cache
def _view() -> ChainView:
    sim = MarketSimulator()
    return ChainView(sim.chain_snapshot(sim.snapshot_times(DAY)[5], "NIFTY"))


def real_batch() -> BatchRecord:
    view = _view()
    decided = datetime(2025, 3, 4, 4, 10, 7, tzinfo=UTC)
    return BatchRecord(view.snapshot_id, "NIFTY", view.ts.to_pydatetime(), decided, "NORMAL")


@cache
def _analysed():
    view = _view()
    structure = vertical_debit(view, expiry=view.expiries()[1], direction="bullish", lots=2)
    return structure, analyse(structure, view)


def real_approved(tenant_id: str = "acme") -> DecisionRecord:
    """An approved bull call spread on a simulated NIFTY chain, its numbers from the analysis."""
    structure, a = _analysed()
    low, high = -a.net_premium / 150, -a.net_premium / 150 + 1.0  # per unit, 2 lots x 75
    return DecisionRecord(
        tenant_id,
        True,
        strategy="trend",
        structure=structure.kind,
        legs=tuple(leg_record(leg) for leg in structure.legs),
        units=2,
        entry_zone={"low": low, "high": high},
        target=low * 1.5,
        stop=low * 0.5,
        max_profit=a.max_profit,
        max_loss=a.max_loss,
        expected_cost=118.4,
        payoff=((float(a.grid[0]), float(a.pnl[0])), (float(a.grid[-1]), float(a.pnl[-1]))),
        contributions={"multi_timeframe": 0.42, "news": -0.05},
        fallbacks={"direction": "rule_baseline"},
        numbers={"net_ev_per_lot": 210.0},
    )


def blocked(tenant_id: str, wall: str = "cost") -> DecisionRecord:
    return DecisionRecord(tenant_id, False, blocked_by=wall, reason="net_ev_per_lot=-3.00 <= 0.00")


# --- channels and payloads ------------------------------------------------------------------------


def test_channel_is_per_tenant_and_refuses_bad_ids() -> None:
    assert channel_for("acme") == "qs:tenant:acme:decisions"
    assert channel_for("acme-2") == "qs:tenant:acme-2:decisions"
    # ':' would let one id spell another's channel, '*' would be a pattern: both are refused.
    for bad in ("Acme", "acme:beta", "acme*", "", "a" * 65, None):
        with pytest.raises(TenantError) as err:
            channel_for(bad)  # type: ignore[arg-type]
        assert err.value.code == "bad_input"


def test_payload_of_a_real_approved_decision() -> None:
    batch, decision = real_batch(), real_approved()
    structure, a = _analysed()
    payload = signal_payload(batch, decision)
    assert json.loads(encode(payload)) == payload  # plain JSON, survives the wire unchanged
    assert payload["batch_id"] == batch.batch_id == "NIFTY-20250304T041000Z"
    assert payload["decision_id"] == "NIFTY-20250304T041000Z/acme"
    assert payload["tenant_id"] == "acme"
    assert (payload["underlying"], payload["regime"]) == ("NIFTY", "NORMAL")
    assert payload["snapshot_ts"] == "2025-03-04T04:10:00+00:00"
    assert payload["decided_at"] == "2025-03-04T04:10:07+00:00"
    assert (payload["strategy"], payload["structure"]) == ("trend", "vertical_debit")
    expiry = structure.legs[0].expiry.isoformat()
    assert [
        (g["kind"], g["strike"], g["expiry"], g["side"], g["lots"]) for g in payload["legs"]
    ] == [
        ("CE", structure.legs[0].strike, expiry, "BUY", 2),
        ("CE", structure.legs[1].strike, expiry, "SELL", 2),
    ]
    assert structure.legs[1].strike > structure.legs[0].strike  # a bull call spread
    # Everything the stored leg carries (prices, lot size) reaches the subscriber as stored.
    assert payload["legs"] == [leg_record(leg) for leg in structure.legs]
    assert payload["units"] == 2
    assert payload["entry_zone"] == dict(decision.entry_zone)
    assert (payload["target"], payload["stop"]) == (decision.target, decision.stop)
    assert (payload["max_profit"], payload["max_loss"]) == (a.max_profit, a.max_loss)
    assert payload["max_loss"] > 0 and payload["max_profit"] > 0
    assert payload["expected_cost"] == 118.4
    assert payload["payoff"] == [[p, v] for p, v in decision.payoff]
    assert payload["contributions"] == {"multi_timeframe": 0.42, "news": -0.05}
    assert payload["fallbacks"] == {"direction": "rule_baseline"}
    assert "numbers" not in payload and "reason" not in payload


def test_payload_with_literal_legs_and_unbounded_loss() -> None:
    legs = ({"kind": "PE", "strike": 23000.0, "expiry": "2025-03-13", "side": "SELL", "lots": 1},)
    decision = DecisionRecord(
        "beta", True, strategy="iv_reversion", structure="single_leg", legs=legs, units=1,
        max_profit=4_100.0, max_loss=float("inf"), target=None, stop=None,
    )  # fmt: skip
    payload = signal_payload(real_batch(), decision)
    assert payload["max_loss"] is None  # None = unbounded, as the decision row stores it
    assert payload["max_profit"] == 4_100.0
    assert payload["legs"] == [dict(legs[0])]
    assert payload["entry_zone"] is None and payload["payoff"] == []
    json.loads(encode(payload))


def test_blocked_decisions_are_refused() -> None:
    with pytest.raises(RiskInputError) as err:
        signal_payload(real_batch(), blocked("acme", "kill_switch"))
    assert err.value.code == "not_approved"
    assert "kill_switch" in str(err.value)


def test_payloads_that_cannot_be_acted_on_are_refused() -> None:
    no_kind = replace(real_approved(), legs=({"strike": 1.0, "expiry": "x", "side": "BUY"},))
    with pytest.raises(RiskInputError, match="kind, lots") as err:
        signal_payload(real_batch(), no_kind)
    assert err.value.code == "bad_decision"
    with pytest.raises(RiskInputError) as err:
        signal_payload(real_batch(), replace(real_approved(), max_loss=float("nan")))
    assert err.value.code == "bad_decision"


# --- the in-process publisher ---------------------------------------------------------------------


def test_in_process_subscribe_history_and_unsubscribe() -> None:
    publisher = InProcessPublisher()
    assert isinstance(publisher, Publisher)
    got: list[str] = []
    unsubscribe = publisher.subscribe("acme", got.append)
    batch = real_batch()
    report = publish_approved(publisher, batch, [real_approved("acme"), blocked("beta")])
    assert report == PublishReport({"acme": 1}, {}, 1) and report.ok
    assert [json.loads(m) for m in got] == [signal_payload(batch, real_approved("acme"))]
    assert publisher.history("acme") == got
    assert publisher.history("beta") == []  # a blocked decision is never published
    unsubscribe()
    unsubscribe()  # harmless twice
    assert publisher.subscribers("acme") == 0
    assert publisher.publish(channel_for("acme"), "later") == 0
    assert got == publisher.history("acme")[:1] and publisher.history("acme")[1] == "later"


def test_history_is_bounded() -> None:
    publisher = InProcessPublisher(history=3)
    for i in range(5):
        publisher.publish(channel_for("acme"), str(i))
    assert publisher.history("acme") == ["2", "3", "4"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="history"):
            InProcessPublisher(history=bad)  # type: ignore[arg-type]


def test_a_raising_callback_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    publisher = InProcessPublisher()
    got: list[str] = []

    def broken(message: str) -> None:
        raise RuntimeError("subscriber bug")

    publisher.subscribe("acme", broken)
    publisher.subscribe("acme", got.append)
    with caplog.at_level(logging.ERROR, logger="quantsentinel.decide.publish"):
        report = publish_approved(publisher, real_batch(), [real_approved("acme")])
    assert report.published == {"acme": 1} and report.ok  # one of two took it
    assert len(got) == 1 and publisher.callback_errors == 1
    assert "subscriber bug" in caplog.text


def test_channel_isolation_under_concurrent_publishing() -> None:
    publisher = InProcessPublisher(history=10_000)
    seen: dict[str, list[str]] = {"acme": [], "beta": []}
    for tenant in seen:
        publisher.subscribe(tenant, seen[tenant].append)

    def flood(tenant: str) -> None:
        for i in range(500):
            publisher.publish(channel_for(tenant), f"{tenant}:{i}")

    threads = [threading.Thread(target=flood, args=(t,)) for t in ("acme", "beta") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tenant, messages in seen.items():
        assert len(messages) == 1000
        assert all(m.startswith(f"{tenant}:") for m in messages)  # never the other's
        assert sorted(publisher.history(tenant)) == sorted(messages)


def test_one_tenant_never_sees_anothers_decision() -> None:
    publisher = InProcessPublisher()
    a_seen: list[str] = []
    publisher.subscribe("acme", a_seen.append)
    batch = real_batch()
    report = publish_approved(publisher, batch, [real_approved("acme"), real_approved("beta")])
    assert report.published == {"acme": 1, "beta": 0}
    assert [json.loads(m)["tenant_id"] for m in a_seen] == ["acme"]
    assert [json.loads(m)["decision_id"] for m in publisher.history("beta")] == [
        f"{batch.batch_id}/beta"
    ]


# --- publish_approved failure handling ------------------------------------------------------------


class FlakyPublisher:
    """Refuses the channels in `down` with the error a dead connection raises."""

    def __init__(self, down: set[str] = frozenset(), always: bool = False) -> None:
        self.down, self.always, self.calls = down, always, []

    def publish(self, channel: str, message: str) -> int:
        self.calls.append(channel)
        if self.always or channel in self.down:
            raise ConnectionError(f"connection to {channel} refused")
        return 1

    def close(self) -> None:
        pass


def test_a_failed_publish_is_recorded_and_the_rest_continue() -> None:
    publisher = FlakyPublisher(down={channel_for("beta")})
    decisions = [real_approved("acme"), real_approved("beta"), blocked("gamma"), real_approved("z")]
    report = publish_approved(publisher, real_batch(), decisions)
    assert report.published == {"acme": 1, "z": 1}
    assert report.failed == {
        "beta": "ConnectionError: connection to qs:tenant:beta:decisions refused"
    }
    assert report.skipped_blocked == 1 and not report.ok


def test_a_dead_publisher_is_given_up_after_consecutive_failures() -> None:
    publisher = FlakyPublisher(always=True)
    tenants = [f"t{i}" for i in range(6)]
    report = publish_approved(publisher, real_batch(), [real_approved(t) for t in tenants])
    assert len(publisher.calls) == 3  # a blackholed Redis costs 3 timeouts, not one per tenant
    assert report.published == {} and list(report.failed) == tenants
    assert all(report.failed[t].startswith("not attempted: publisher down") for t in tenants[3:])


def test_a_bad_payload_is_recorded_and_the_others_still_go_out() -> None:
    publisher = InProcessPublisher()
    bad = replace(real_approved("beta"), max_loss=float("nan"))
    report = publish_approved(publisher, real_batch(), [bad, real_approved("acme")])
    assert report.published == {"acme": 0}
    assert report.failed["beta"].startswith("bad_payload: bad_decision")
    assert publisher.history("beta") == []


# --- choosing a publisher -------------------------------------------------------------------------


def test_publisher_from_url() -> None:
    shared = in_process_publisher()
    assert publisher_from_url("memory://") is shared
    assert publisher_from_url("") is shared and publisher_from_url(None) is shared
    redis = publisher_from_url("redis://127.0.0.1:6379/0")  # nothing connects yet
    assert isinstance(redis, RedisPublisher)
    redis.close()
    for bad in ("http://127.0.0.1:6379", "memory://other", "127.0.0.1:6379", "kafka://k:9092"):
        with pytest.raises(ValueError, match=r"memory://, redis://, rediss://") as err:
            publisher_from_url(bad)
        assert repr(bad) in str(err.value)
    with pytest.raises(ValueError) as err:
        publisher_from_url("amqp://user:s3cret@mq:5672/")
    assert "s3cret" not in str(err.value) and "amqp://user:***@mq:5672/" in str(err.value)


def test_the_shared_publisher_holds_what_a_run_published() -> None:
    tenant = "shared-history-check"
    report = publish_approved(
        publisher_from_url("memory://"), real_batch(), [real_approved(tenant)]
    )
    assert report.published == {tenant: 0}
    assert json.loads(in_process_publisher().history(tenant)[-1])["tenant_id"] == tenant


def test_publisher_resource_caches_per_url() -> None:
    from quantsentinel.resources.publish import PublisherResource

    assert PublisherResource().publisher() is in_process_publisher()
    url = "redis://127.0.0.1:6379/0"
    first = PublisherResource(url=url).publisher()
    assert isinstance(first, RedisPublisher) and PublisherResource(url=url).publisher() is first
    with pytest.raises(ValueError, match="ftp://x"):
        PublisherResource(url="ftp://x").publisher()


def test_publishing_imports_neither_redis_nor_dagster() -> None:
    code = (
        "import sys, quantsentinel.decide.publish as p; p.publisher_from_url('memory://'); "
        "print(sorted(m for m in ('redis', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
