"""Stream records and retry-queue messages → CI360 external events, each accepted once, none lost."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsbridge.bootstrap import startup_problems
from smsbridge.config import Settings
from smsbridge.forwarder_bootstrap import build_forwarder

logger = Logger()
metrics = Metrics()
settings = Settings.from_env()
forwarder = build_forwarder(settings)
for problem in startup_problems(settings, forwarder=True):
    logger.error(problem)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = forwarder.handle(event, context.get_remaining_time_in_millis)
    for outcome, count in report.outcomes.items():
        metrics.add_metric(name=f"Events_{outcome}", unit=MetricUnit.Count, value=count)
    logger.info("batch forwarded", outcomes=dict(report.outcomes), failed_records=len(report.failed_records))
    return report.response()
