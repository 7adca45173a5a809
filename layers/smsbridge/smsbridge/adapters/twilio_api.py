"""The Twilio REST API through the twilio package (CLI only: the webhook never imports ``twilio.rest``)."""

from __future__ import annotations

import re
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from smsbridge.errors import ConfigurationError


class TwilioAccount:
    """Reads and updates the webhook fields of phone numbers and Messaging Services."""

    def __init__(self, account_sid: str, auth_token: str, *, api_url: str = "", messaging_url: str = "") -> None:
        if not account_sid or not auth_token:
            raise ConfigurationError("give the Twilio account: --account-sid and --auth-token (or TWILIO_ACCOUNT_SID, "
                                     "TWILIO_AUTH_TOKEN)")  # fmt: skip
        self.client = Client(account_sid, auth_token)
        if api_url:  # a local stand-in of Twilio's API, for tests
            self.client.api.base_url = api_url
            self.client.messaging.base_url = messaging_url or api_url

    def number(self, phone_number: str) -> tuple[str, dict[str, Any]]:
        """The SID and messaging fields of the account's number ``phone_number`` (E.164)."""
        found = self._call(lambda: self.client.incoming_phone_numbers.list(phone_number=phone_number, limit=2))
        if not found:
            raise ConfigurationError(f"the Twilio account has no number {phone_number}")
        number = found[0]
        fields = ("sms_url", "sms_method", "sms_fallback_url", "sms_fallback_method")
        return number.sid, {field: getattr(number, field) for field in fields}

    def update_number(self, sid: str, fields: dict[str, str]) -> None:
        self._call(lambda: self.client.incoming_phone_numbers(sid).update(**fields))

    def service(self, sid: str) -> dict[str, Any]:
        service = self._call(lambda: self.client.messaging.v1.services(sid).fetch())
        fields = ("inbound_request_url", "inbound_method", "status_callback", "use_inbound_webhook_on_number",
                  "fallback_url", "fallback_method")  # fmt: skip
        return {field: getattr(service, field) for field in fields}

    def update_service(self, sid: str, fields: dict[str, str]) -> None:
        values: dict[str, Any] = {
            k: (v == "true" if k == "use_inbound_webhook_on_number" else v) for k, v in fields.items()
        }
        self._call(lambda: self.client.messaging.v1.services(sid).update(**values))

    @staticmethod
    def _call(request: Any) -> Any:
        try:
            return request()
        except TwilioRestException as exc:
            status, detail = exc.status, exc.msg
        except TwilioException as exc:  # a failed page fetch carries only text: "HTTP 401 {...}"
            found = re.search(r"HTTP (\d{3})", str(exc))
            status, detail = (int(found.group(1)) if found else 0), str(exc)
        if status == 401:
            raise ConfigurationError("Twilio answered 401: check the account SID and auth token")
        raise ConfigurationError(f"Twilio answered {status or 'with an error'}: {detail}")
