"""A stand-in for the parts of Twilio's REST API that `smsbridge twilio configure` uses, on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ACCOUNT = "AC" + "7" * 32
TOKEN = "t" * 32
NUMBER_SID = "PN" + "1" * 32
SERVICE_SID = "MG" + "2" * 32


class TwilioApiStub:
    """Holds one number and one Messaging Service; checks Basic auth; records every update."""

    def __init__(self) -> None:
        self.number: dict[str, Any] = {
            "sid": NUMBER_SID,
            "account_sid": ACCOUNT,
            "phone_number": "+14155550199",
            "sms_url": "https://demo.twilio.com/welcome/sms/reply",
            "sms_method": "POST",
            "sms_fallback_url": None,
            "sms_fallback_method": "POST",
        }
        self.service: dict[str, Any] = {
            "sid": SERVICE_SID,
            "account_sid": ACCOUNT,
            "inbound_request_url": None,
            "inbound_method": "POST",
            "status_callback": None,
            "fallback_url": None,
            "fallback_method": "POST",
            "use_inbound_webhook_on_number": True,
        }
        self.updates: list[tuple[str, dict[str, str]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TwilioApiStub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Silent."""

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                if parts.path == f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json":
                    found = [stub.number] if query.get("PhoneNumber") == stub.number["phone_number"] else []
                    self._answer(
                        200,
                        {
                            "incoming_phone_numbers": found,
                            "next_page_uri": None,
                            "page": 0,
                            "page_size": 50,
                            "uri": parts.path,
                            "first_page_uri": parts.path,
                            "previous_page_uri": None,
                            "start": 0,
                            "end": len(found),
                        },
                    )
                elif parts.path == f"/v1/Services/{SERVICE_SID}":
                    self._answer(200, stub.service)
                else:
                    self._answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                fields = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                path = urlsplit(self.path).path
                if path == f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{NUMBER_SID}.json":
                    target = stub.number
                    target.update({re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in fields.items()})
                elif path == f"/v1/Services/{SERVICE_SID}":
                    target = stub.service
                    converted = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in fields.items()}
                    if "use_inbound_webhook_on_number" in converted:
                        converted["use_inbound_webhook_on_number"] = (
                            converted["use_inbound_webhook_on_number"] == "true"
                        )
                    target.update(converted)
                else:
                    self._answer(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                stub.updates.append((path, fields))
                self._answer(200, target)

        return Handler
