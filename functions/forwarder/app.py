"""Stream records and retry-queue messages → CI360 external events, each accepted once, none lost."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsbridge.app.forwarder import Settings, build_forwarder_function, startup_problems

logger = Logger()
metrics = Metrics()
settings = Settings.from_env()
forwarder, sweep = build_forwarder_function(settings)
for problem in startup_problems(settings):
    logger.error(problem)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if event.get("source") == "aws.events":  # the schedule: the recovery sweep
        summary = sweep(context.get_remaining_time_in_millis)
        for outcome, count in summary.outcomes.items():
            metrics.add_metric(name=f"Recovered_{outcome}", unit=MetricUnit.Count, value=count)
        metrics.add_metric(name="Recovered_descriptions", unit=MetricUnit.Count, value=summary.descriptions)
        logger.info("recovery sweep", facts=summary.facts, outcomes=dict(summary.outcomes),
                    descriptions=summary.descriptions, unfinished=summary.unfinished)  # fmt: skip
        return {"facts": summary.facts, "sent": summary.outcomes["sent"]}
    report = forwarder.handle(event, context.get_remaining_time_in_millis)
    for outcome, count in report.outcomes.items():
        metrics.add_metric(name=f"Events_{outcome}", unit=MetricUnit.Count, value=count)
    for seconds in report.opt_out_seconds:
        metrics.add_metric(name="OptOutToCi360Seconds", unit=MetricUnit.Seconds, value=seconds)
    logger.info("batch forwarded", outcomes=dict(report.outcomes), failed_records=len(report.failed_records))
    if report.outcomes["visibility_not_held"]:  # the queue's own visibility timeout applies to those messages
        logger.warning(
            "retry-queue messages not held hidden for one lease", messages=report.outcomes["visibility_not_held"]
        )
    return report.response()
