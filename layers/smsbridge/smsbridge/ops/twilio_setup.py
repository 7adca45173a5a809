"""``smsbridge twilio configure``: point a Twilio number or Messaging Service at the deployed webhooks.

What to set is decided here (pure); reading and writing Twilio goes through ``adapters.twilio_api``. The default
is a dry run that prints the difference; ``--apply`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Twilio's connection overrides ("Webhooks (HTTP callbacks): Connection Overrides"), appended after '#' to every
# URL smsbridge gives Twilio and the template's TwilioUrlFragment default: retry twice (rc) on a 5xx answer, a
# failed connect or a read timeout (rp); connect within 2 s (ct), read within 5 s (rt: the webhook answers in well
# under a second warm, a cold start fits; its function times out at 10 s), all attempts within Twilio's 15 s
# ceiling (tt). Retried webhooks are recorded once.
DEFAULT_URL_FRAGMENT = "rc=2&rp=5xx,ct,rt&ct=2000&rt=5000&tt=15000"


@dataclass(frozen=True)
class WebhookTargets:
    """The URLs Twilio should call; ``fragment`` (connection overrides such as ``rc=3&rp=5xx``) is appended."""

    inbound_url: str
    status_url: str
    fallback_url: str = ""
    fragment: str = ""

    def _with_fragment(self, url: str) -> str:
        return f"{url}#{self.fragment.lstrip('#')}" if url and self.fragment else url

    def for_number(self) -> dict[str, str]:
        """A phone number's messaging fields. (Its ``status_callback`` is for voice; messages carry their own.)"""
        wanted = {"sms_url": self._with_fragment(self.inbound_url), "sms_method": "POST"}
        if self.fallback_url:
            wanted.update(sms_fallback_url=self._with_fragment(self.fallback_url), sms_fallback_method="POST")
        return wanted

    def for_service(self) -> dict[str, str]:
        """A Messaging Service's fields: its inbound webhook wins over the numbers' own."""
        wanted = {
            "inbound_request_url": self._with_fragment(self.inbound_url),
            "inbound_method": "POST",
            "status_callback": self._with_fragment(self.status_url),
            "use_inbound_webhook_on_number": "false",
        }
        if self.fallback_url:
            wanted.update(fallback_url=self._with_fragment(self.fallback_url), fallback_method="POST")
        return wanted


@dataclass(frozen=True)
class Change:
    field: str
    current: str
    wanted: str


def changes(current: Mapping[str, object], wanted: Mapping[str, str]) -> list[Change]:
    """The fields whose value differs, in the order of ``wanted``."""
    found = []
    for field, value in wanted.items():
        now = current.get(field)
        shown = "" if now is None else (str(now).lower() if isinstance(now, bool) else str(now))
        if shown != value:
            found.append(Change(field, shown, value))
    return found


def describe(target: str, found: list[Change], applied: bool) -> list[str]:
    if not found:
        return [f"{target}: already points at smsbridge; nothing to change"]
    verb = "changed" if applied else "would change (dry run; --apply to write)"
    lines = [f"{target}: {verb}"]
    lines += [f"  {change.field}: {change.current or '(empty)'} -> {change.wanted}" for change in found]
    return lines
