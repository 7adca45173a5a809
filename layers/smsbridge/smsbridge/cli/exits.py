"""Exit statuses (documented in ``smsbridge --help`` and docs/operations.md, "Words and exit statuses"), and the
one line an expected failure gets."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FOUND_PROBLEM = 1  # the command ran and reports a problem: drift, refused rows, a failed check, a 4xx/5xx
EXIT_USAGE = 2  # wrong option, value or file: nothing was changed
EXIT_UNREACHABLE = 3  # the local stack, AWS, CI360, Twilio or a port is not available
EXIT_INTERRUPTED = 130

EXIT_STATUSES = """exit statuses:
  0    done
  1    the command ran and reports a problem (drift, refused rows, a failed check, a webhook refused)
  2    wrong usage: an option, value or file the command cannot use; nothing was changed
  3    cannot reach what the command works on (the local stack, AWS, CI360, Twilio, a port)
  130  interrupted (Ctrl-C)"""


def explain(error: BaseException) -> tuple[str, int] | None:  # noqa: PLR0911 - one case per kind of failure
    """The one line and exit status for an expected failure; None for a bug (which keeps its traceback)."""
    from smsbridge.errors import (  # noqa: PLC0415
        ConfigurationError,
        NotReachable,
        RetryableError,
        SmsBridgeError,
        UsageError,
    )

    if isinstance(error, UsageError | ConfigurationError):
        return str(error), EXIT_USAGE
    if isinstance(error, NotReachable | RetryableError):
        return str(error), EXIT_UNREACHABLE
    if isinstance(error, SmsBridgeError):
        return str(error), EXIT_FOUND_PROBLEM
    if isinstance(error, UnicodeDecodeError):
        return 'the file is not UTF-8 text: save it as "CSV UTF-8" and try again', EXIT_USAGE
    if isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError):
        return f"{error.filename}: {error.strerror.lower() if error.strerror else error}", EXIT_USAGE
    aws = _explain_aws(error)
    if aws:
        return aws
    if isinstance(error, ConnectionError | TimeoutError) or type(error).__name__ == "URLError":
        return f"cannot connect: {getattr(error, 'reason', error)}", EXIT_UNREACHABLE
    if isinstance(error, OSError):
        return f"{error.strerror or error}", EXIT_UNREACHABLE
    return None


_NOT_FOUND = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


def _explain_aws(error: BaseException) -> tuple[str, int] | None:  # noqa: PLR0911 - one case per kind of failure
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:  # boto was never imported, so this is not an AWS error
        return None
    if isinstance(error, exceptions.NoRegionError):
        return "no AWS region: give --region, set AWS_REGION, or use --local", EXIT_USAGE
    if isinstance(error, exceptions.NoCredentialsError):
        return "no AWS credentials: set AWS_PROFILE or run `aws configure` (or use --local)", EXIT_UNREACHABLE
    if isinstance(error, exceptions.EndpointConnectionError):
        return (
            f"cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: is the network (or `make serve`) up?",
            EXIT_UNREACHABLE,
        )
    if isinstance(error, exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        detail = error.response.get("Error", {}).get("Message", "")
        if code in _NOT_FOUND:
            return f"{(detail or code).rstrip('.')}: check the name (or --stack and --region)", EXIT_USAGE
        return f"AWS refused: {code}: {detail}".rstrip(": "), EXIT_UNREACHABLE
    if isinstance(error, exceptions.BotoCoreError):
        return f"AWS: {error}", EXIT_UNREACHABLE
    return None
