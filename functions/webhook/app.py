"""Twilio's inbound-SMS webhook and status callback: verify, record once, answer fast."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from smsbridge.app.webhook import (
    INBOUND_ROUTE,
    STATUS_ROUTE,
    Accepted,
    RejectedRequest,
    RetryableError,
    Settings,
    as_http_api_event,
    build_webhook_service,
    startup_problems,
    webhook_request,
)

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
UNAVAILABLE = "smsbridge could not verify or record this webhook just now; nothing was recorded, retry later\n"

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()
settings = Settings.from_env()
service = build_webhook_service(settings)
for problem in startup_problems(settings):
    logger.error(problem)


@app.route(INBOUND_ROUTE, method=ANY_METHOD)
def inbound() -> Response[str]:
    report(service.accept_inbound(webhook_request(app.current_event.raw_event, INBOUND_ROUTE)))
    return Response(status_code=200, content_type="text/xml", body=EMPTY_TWIML)


@app.route(STATUS_ROUTE, method=ANY_METHOD)
def status() -> Response[str]:
    report(service.accept_status(webhook_request(app.current_event.raw_event, STATUS_ROUTE)))
    return Response(status_code=204, content_type="text/plain", body="")


def report(accepted: Accepted) -> None:  # type: ignore[type-arg]
    logger.info(f"{accepted.kind} accepted", **accepted.log_fields())
    for name in accepted.metric_names():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@app.exception_handler(RejectedRequest)
def rejected(error: RejectedRequest) -> Response[str]:
    # The answer says what was wrong with the request; only the log names the setting involved, if any.
    logger.warning("webhook rejected", status_code=error.status_code, reason=error.reason, detail=str(error),
                   **error.log_fields())  # fmt: skip
    metrics.add_metric(name=f"Rejected_{error.reason}", unit=MetricUnit.Count, value=1)
    headers = {"Allow": ["POST"]} if error.status_code == 405 else None
    return Response(status_code=error.status_code, content_type="text/plain", body=f"{error}\n", headers=headers)


@app.exception_handler(RetryableError)
def unavailable(error: RetryableError) -> Response[str]:
    # The caller may not be Twilio: the answer names no secret, ARN or setting; the log says what is wrong.
    logger.error("webhook not recorded; Twilio may retry", error=type(error).__name__, detail=str(error))
    metrics.add_metric(name="WebhookFailed", unit=MetricUnit.Count, value=1)
    return Response(status_code=503, content_type="text/plain", body=UNAVAILABLE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(as_http_api_event(event), context)
