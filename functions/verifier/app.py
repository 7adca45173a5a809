"""Consent-table stream → each pending consent fact checked with Twilio's Messages API (app/verification.py)."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsbridge.app.verification import Settings, build_verifier

logger = Logger()
metrics = Metrics()
verifier = build_verifier(Settings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    report = verifier.handle(event)
    for outcome, count in report.outcomes.items():  # Verification_contradicted, _retracted, _unavailable: alarmed
        metrics.add_metric(name=f"Verification_{outcome}", unit=MetricUnit.Count, value=count)
    for problem in report.problems:
        logger.warning("Twilio's Messages API could not be asked; the fact waits", problem=problem)
    logger.info("consent facts checked with Twilio", outcomes=dict(report.outcomes))
    return report.response()
