"""On a schedule: consent changes since the last checkpoint → CI360 SMS contact preferences (OPT-OUT)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsbridge.app.preferences import Settings, build_preference_sync

logger = Logger()
metrics = Metrics()
sync = build_preference_sync(Settings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = sync.run()
    metrics.add_metric(name=f"PreferenceSync_{report.outcome}", unit=MetricUnit.Count, value=1)
    if report.earlier_failure and report.outcome != "failed":
        metrics.add_metric(name="PreferenceSync_failed", unit=MetricUnit.Count, value=1)
    if report.outcome == "done":
        metrics.add_metric(name="PreferencesSynced", unit=MetricUnit.Count, value=len(report.preferences))
    if report.lag_seconds is not None:
        metrics.add_metric(name="PreferenceSyncLag", unit=MetricUnit.Seconds, value=report.lag_seconds)
    if report.backlog_seconds is not None:  # changes recorded and not yet in CI360 (beyond the settle time)
        metrics.add_metric(name="PreferenceSyncBacklog", unit=MetricUnit.Seconds, value=report.backlog_seconds)
    if report.unknown_status:
        metrics.add_metric(name="PreferenceJobStatusUnknown", unit=MetricUnit.Count, value=1)
    if report.pending_seconds is not None:
        metrics.add_metric(name="PreferenceJobPendingSeconds", unit=MetricUnit.Seconds, value=report.pending_seconds)
    if report.stuck:
        metrics.add_metric(name="PreferenceJobStuck", unit=MetricUnit.Count, value=1)
    if report.job_type_refused:  # running on the fallback job type: confirm in CI360 that it applies SMS preferences
        metrics.add_metric(name="PreferenceJobTypeFallback", unit=MetricUnit.Count, value=1)
    log = logger.warning if report.outcome == "failed" or report.stuck or report.unknown_status else logger.info
    log("preference sync", outcome=report.outcome, job=report.job, numbers=len(report.preferences),
        through=report.through, status=report.status, status_description=report.description,
        unknown_status=report.unknown_status, pending_seconds=report.pending_seconds, stuck=report.stuck,
        earlier_failure=report.earlier_failure, backlog_seconds=report.backlog_seconds, job_type=report.job_type,
        job_type_refused=report.job_type_refused)  # fmt: skip
    return {"outcome": report.outcome, "numbers": len(report.preferences), "job": report.job}
