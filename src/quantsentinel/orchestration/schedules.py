"""Schedules: the whole market graph for each trading day, after the close (16:00 IST)."""

import dagster as dg
from quantsentinel.assets.partitions import PARTITION_TAG, multi_key
from quantsentinel.market.calendar import is_trading_day
from quantsentinel.market.contracts import UNDERLYINGS
from quantsentinel.orchestration.jobs import (
    evaluation_report_job,
    market_daily_job,
    market_job,
    model_health_job,
    risk_sweep_job,
)


@dg.schedule(
    job=market_job,
    cron_schedule="0 16 * * 1-5",
    execution_timezone="Asia/Kolkata",
    description="Every underlying's market partition for the trading day that just closed.",
)
def market_after_close(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    if not is_trading_day(day):
        return dg.SkipReason(f"{day} is an exchange holiday")
    return [
        dg.RunRequest(
            run_key=f"{day}|{underlying}",
            partition_key=multi_key(day, underlying),
            tags={PARTITION_TAG: f"{day}_{underlying}"},
        )
        for underlying in UNDERLYINGS
    ]


@dg.schedule(
    job=market_daily_job,
    cron_schedule="0 16 * * 1-5",
    execution_timezone="Asia/Kolkata",
    description="The volatility index and the news of the trading day that just closed.",
)
def market_daily_after_close(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    if not is_trading_day(day):
        return dg.SkipReason(f"{day} is an exchange holiday")
    return dg.RunRequest(run_key=str(day), partition_key=day.isoformat())


def retrain_schedule(job, cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="Asia/Kolkata",
        description="Retrain on the model type's cadence (its champion goes stale at 2x).",
    )


model_health_hourly = dg.ScheduleDefinition(
    job=model_health_job,
    cron_schedule="0 * * * *",
    execution_timezone="Asia/Kolkata",
    description="Champion freshness of every model type, hourly.",
)

evaluation_reports_weekly = dg.ScheduleDefinition(
    job=evaluation_report_job,
    cron_schedule="0 20 * * 5",
    execution_timezone="Asia/Kolkata",
    description="Volatility evaluation and density accuracy reports, Fridays after the retrains.",
)

risk_sweep_in_session = dg.ScheduleDefinition(
    job=risk_sweep_job,
    cron_schedule="*/5 9-15 * * 1-5",
    execution_timezone="Asia/Kolkata",
    description="Kill-switch sweep every five minutes through the trading session.",
)

SCHEDULES = [
    risk_sweep_in_session,
    market_after_close,
    market_daily_after_close,
    model_health_hourly,
    evaluation_reports_weekly,
]
