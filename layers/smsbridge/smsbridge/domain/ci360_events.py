"""The CI360 event mapping: which change on record becomes which CI360 external event, with which attributes.

Sources, read from the tables' streams:

- a new inbound message whose intent is ``reply`` → ``reply`` (opt-outs, opt-ins and HELP come from the ledger);
- a message's status moving to sent, delivered, undelivered, failed or read → that kind, once per message;
- every state a journey waits for, whatever order Twilio's callbacks arrive in (the stored status only moves up,
  ``domain/status.py``; the stream carries the item before and after, and its ``history``):

  - ``read`` on a message that never recorded ``delivered`` (the callbacks raced, or the carrier sent no delivery
    receipt) also yields ``delivered``, with ``implied=true``: a read message was delivered;
  - ``delivered`` after ``undelivered`` (a carrier's late receipt correcting the first) yields ``delivered`` with
    ``corrects=undelivered``; so does a ``read`` implying it. The ``undelivered`` event already sent stands;
  - ``delivered`` arriving after ``read`` changes nothing stored, so nothing more is sent: the implied one was;
  - each kind is sent at most once per message (the event key is ``<kind>:<MessageSid>``, claimed once);
- a consent state changing to opted_out or opted_in → ``opt_out`` / ``opt_in`` (a repeat that changes nothing
  sends nothing); a HELP entry in the consent history → ``help``. Consent events for one number and sender reach
  CI360 in ledger order (their ``order_key``): one at a time, a later one held back while an earlier one is unsent,
  and one older than the last CI360 accepted for the number not sent (``domain/claims.py``, consent lanes), so
  CI360's last consent event matches the ledger.

Attributes are flat top-level keys (``EVENT_ATTRIBUTES``), or nested under ``"attributes"`` with
``Ci360AttributeShape=nested`` (``AttributeShape``: SAS's samples use both, and a tenant reading the other shape
may answer 2xx and drop them); ``smsbridge ci360 events`` prints them for defining the events in CI360.
Identity: the datahub id carried by the status callback URL (see ``connector_body``), else the last one seen for
the number from the same account's number (or Messaging Service), else the unknown-identity policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote

from smsbridge.domain.error_codes import ErrorClass, classify_error
from smsbridge.domain.field_forms import ABSORBED_FIELD
from smsbridge.domain.privacy import mask_address

IDENTITY_TYPES = ("datahub_id", "customer_id", "subject_id", "login_id")
Flat = str | int | bool


class AttributeShape(StrEnum):
    """Where an event's custom attributes go: flat top-level keys (SAS's API text, most samples) or nested under
    ``"attributes"`` (SAS's REST collection, "Inject Single External Event"). Which one a tenant reads is not
    documented: ``smsbridge smoke --stack`` says where to look in CI360 (docs/contracts.md)."""

    FLAT = "flat"
    NESTED = "nested"


NESTED_ATTRIBUTES_KEY = "attributes"


class EventKind(StrEnum):
    REPLY = "reply"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"


DEFAULT_EVENT_NAMES: dict[EventKind, str] = {
    EventKind.REPLY: "SMS Reply",
    EventKind.OPT_OUT: "SMS Opt-Out",
    EventKind.OPT_IN: "SMS Opt-In",
    EventKind.HELP: "SMS Help",
    EventKind.SENT: "",  # off by default: most journeys wait for the final state
    EventKind.DELIVERED: "SMS Delivered",
    EventKind.UNDELIVERED: "SMS Undelivered",
    EventKind.FAILED: "SMS Failed",
    EventKind.READ: "SMS Read",
}

# attribute → (CI360 type, meaning, the kinds that carry it)
_CONSENT = (EventKind.OPT_OUT, EventKind.OPT_IN, EventKind.HELP)
_STATUS = (EventKind.SENT, EventKind.DELIVERED, EventKind.UNDELIVERED, EventKind.FAILED, EventKind.READ)
_ALL = tuple(EventKind)
EVENT_ATTRIBUTES: dict[str, tuple[str, str, tuple[EventKind, ...]]] = {
    "message_sid": ("character", "Twilio MessageSid of the reply or of the message sent", (EventKind.REPLY, *_STATUS)),
    "customer_number": ("character", "the person's number (masked unless CI360_FULL_NUMBERS=true)", _ALL),
    "business_sender": ("character", "our sender number or Messaging Service SID (the opt-out scope)", _ALL),
    "reply_text": ("character", "the text of the reply", (EventKind.REPLY,)),
    "intent": ("character", "reply, opt_out, opt_in or help", (EventKind.REPLY, *_CONSENT)),
    "keyword": ("character", "the keyword or revocation phrase matched", (EventKind.REPLY, *_CONSENT)),
    "opt_out_suspected": ("character", "true when a reply reads like an opt-out", (EventKind.REPLY,)),
    "opt_in_suspected": (
        "character",
        "true when a reply is an opt-in word Twilio does not act on (ALTA, REPRENDRE, YES on toll-free): consent "
        "unchanged, Twilio still blocks the number",
        (EventKind.REPLY,),
    ),
    "consent_source": ("character", "reply_keyword, twilio_opt_out_type, twilio_21610, import, ...", _CONSENT),
    "status": ("character", "Twilio MessageStatus", _STATUS),
    "error_code": ("numeric", "Twilio ErrorCode", _STATUS),
    "error_class": (
        "character",
        ", ".join(ErrorClass),
        _STATUS,
    ),
    "task_code": ("character", "CI360 task code of the message (from the status callback URL)", _ALL),
    "response_tracking_code": ("character", "CI360 response tracking code of the message", _ALL),
    "occurred_at": ("datetime", "when smsbridge received it (ISO 8601, UTC)", _ALL),
    "event_id": ("character", "unique id of this event: a resend after a gateway timeout repeats it", _ALL),
    "implied": (
        "character",
        "true when a read receipt implies the delivery no receipt reported",
        (EventKind.DELIVERED,),
    ),
    "corrects": ("character", "undelivered when this delivery corrects an earlier undelivered", (EventKind.DELIVERED,)),
}

_CORRELATION_VALUE = re.compile(r"^[A-Za-z0-9._~-]{1,128}$")
# The keys of the StatusCallback query that carries a message's correlation: ``connector_body`` writes them,
# ``parse_correlation`` reads them, and the webhook refuses a request that repeats one or has one in its body
# (``domain/ingress.py``).
DATAHUB_KEY, TASK_KEY, TRACKING_KEY = "dh", "tc", "rtc"
CORRELATION_KEYS = (DATAHUB_KEY, TASK_KEY, TRACKING_KEY)
_STATUS_KINDS = {kind.value: kind for kind in _STATUS}


@dataclass(frozen=True)
class Correlation:
    """Who a message was for in CI360 and which task sent it, as carried by the StatusCallback URL."""

    datahub_id: str
    task_code: str = ""
    response_tracking_code: str = ""


# `smsbridge smoke` marks its synthetic messages with this task code; their events (and replies attributed to
# them) go to CI360 under SMOKE_EVENT_NAME, an external event to define with no journey on it.
SMOKE_TASK_CODE = "SMSBRIDGE-SMOKE"
SMOKE_EVENT_NAME = "smsbridge smoke test"


def _earlier_statuses(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> set[str]:
    """The statuses a message recorded before this change: its history but the last entry, and the old image's."""
    history = new.get("history") or []
    earlier = {str(entry.get("status")) for entry in history[:-1] if isinstance(entry, Mapping)}
    return earlier | ({str(old["status"])} if old and old.get("status") else set())


def parse_correlation(query: str) -> Correlation | None:
    """Read ``dh`` (datahub id), ``tc`` (task code) and ``rtc`` (response tracking code) from a callback query.

    Values outside the unreserved URL characters are ignored: CI360 substituted something it should not have.
    """
    values = {name: value for name, value in parse_qsl(query or "") if _CORRELATION_VALUE.match(value)}
    if not values.get(DATAHUB_KEY):
        return None
    return Correlation(values[DATAHUB_KEY], values.get(TASK_KEY, ""), values.get(TRACKING_KEY, ""))


def callback_query(correlation: Correlation) -> str:
    """The StatusCallback query carrying ``correlation``, its keys in alphabetical order (Twilio may sort them)."""
    values = {
        DATAHUB_KEY: correlation.datahub_id,
        TASK_KEY: correlation.task_code,
        TRACKING_KEY: correlation.response_tracking_code,
    }
    return "&".join(f"{key}={values[key]}" for key in sorted(values))


def connector_body(status_url: str, *, messaging_service: str | None = "{{$messagingServiceSid}}",
                   fragment: str = "") -> str:  # fmt: skip
    """The form body for CI360's Twilio connector endpoint, with a StatusCallback that carries the correlation.

    ``{{$...}}`` are CI360 variables to map in the endpoint: ``$toPhoneNumber`` and ``$messageBody`` as in SAS's
    no-code connector, ``$datahubId`` → ``$.identityId``, ``$taskCode`` → ``$.properties.externalCode``,
    ``$responseTrackingCode`` → ``$.contactResponse.responseTrackingCode``. The sender is ``MessagingServiceSid``
    (``messaging_service``: a SID, or a variable to map) or, with ``messaging_service=None``, ``From=
    {{$fromPhoneNumber}}``. The StatusCallback URL is form-encoded once (Twilio decodes it), its parameters are in
    alphabetical order (Twilio may sort them) and the ids it carries are plain identifiers, so the URL Twilio signs
    is the one smsbridge checks; ``fragment`` (Twilio's connection overrides) follows it after ``#``.
    """
    variables = Correlation("{{$datahubId}}", "{{$taskCode}}", "{{$responseTrackingCode}}")
    callback = f"{status_url}?{callback_query(variables)}"
    if fragment.strip("#"):
        callback += "#" + fragment.lstrip("#")
    encoded = quote(callback, safe="{}$")
    sender = ("From={{$fromPhoneNumber}}" if messaging_service is None
              else f"MessagingServiceSid={quote(messaging_service, safe='{}$')}")  # fmt: skip
    return f"To={{{{$toPhoneNumber}}}}&{sender}&Body={{{{$messageBody}}}}&StatusCallback={encoded}"


@dataclass(frozen=True)
class PendingEvent:
    """A CI360 event to send, before its identity is resolved. ``key`` makes it unique: it is sent once."""

    kind: EventKind
    key: str
    phone: str
    scope: str
    attributes: dict[str, Flat]
    correlation: Correlation | None = None
    order: str = ""  # a consent state's ledger order key: consent events for a number are sent in this order
    account_sid: str = ""  # the Twilio account and our number: the identity is looked up for that pair
    sender: str = ""
    attributed: bool = False  # ``correlation`` was settled when the fact arrived (None then: nobody to credit)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value}

    def age_seconds(self, now: datetime) -> float:
        """Seconds since smsbridge received the fact behind the event (0 when it does not say)."""
        try:
            occurred = datetime.fromisoformat(str(self.attributes.get("occurred_at", "")))
        except ValueError:
            return 0.0
        return max(0.0, (now - occurred).total_seconds())

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingEvent:
        correlation = data.get("correlation")
        return cls(
            kind=EventKind(data["kind"]), key=data["key"], phone=data["phone"], scope=data["scope"],
            attributes=dict(data["attributes"]), correlation=Correlation(**correlation) if correlation else None,
            order=str(data.get("order") or ""),
            account_sid=data.get("account_sid", ""), sender=data.get("sender", ""),
            attributed=bool(data.get("attributed", False)),
        )  # fmt: skip


@dataclass(frozen=True)
class EventMapping:
    """The mapping's settings: event names per kind (empty disables a kind), whether numbers go in full, and the
    attributes' shape in the body."""

    names: Mapping[EventKind, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_NAMES))
    full_numbers: bool = False
    attribute_shape: AttributeShape = AttributeShape.FLAT

    def name_for(self, kind: EventKind) -> str:
        return self.names.get(kind, "")

    def message_change(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[PendingEvent]:
        """Events for a change to a messages-table item (None ``old``: a new item)."""
        if new.get("kind") == "inbound" and new.get("intent") == "reply" and not _absorbed(new):
            # a reply's event when it is first recorded, or when the genuine copy replaces a re-cut one (whose text
            # may not be the person's: it sends no event)
            return self._enabled(self._reply(new)) if old is None or _absorbed(old) else []
        if new.get("kind") == "status" and new.get("status") != (old or {}).get("status"):
            kind = _STATUS_KINDS.get(str(new.get("status")))
            return [event for event in self._status_events(kind, new, old) if self.name_for(event.kind)] if kind else []
        return []

    def _status_events(
        self, kind: EventKind, new: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> list[PendingEvent]:
        """The status's own event, and the ``delivered`` it implies or corrects (rules in the module docstring)."""
        earlier = _earlier_statuses(new, old)
        corrects = {"corrects": EventKind.UNDELIVERED.value} if EventKind.UNDELIVERED in earlier else {}
        events = [self._status(kind, new, **corrects) if kind is EventKind.DELIVERED else self._status(kind, new)]
        if kind is EventKind.READ and EventKind.DELIVERED not in earlier:
            events.insert(0, self._status(EventKind.DELIVERED, new, implied="true", **corrects))
        return events

    def consent_change(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[PendingEvent]:
        """Events for a change to a consent-table item: a state that changed, or a new HELP entry."""
        if new.get("record_type") == "state" and new.get("status") != (old or {}).get("status"):
            kind = EventKind.OPT_OUT if new["status"] == "opted_out" else EventKind.OPT_IN
            return self._enabled(self._consent(kind, new, f"{kind}:{new['event_id']}", order=new.get("order_key", "")))
        if new.get("record_type") == "event" and old is None and new.get("action") == "help":
            return self._enabled(self._consent(EventKind.HELP, new, f"help:{new['event_id']}"))
        return []

    def _enabled(self, event: PendingEvent) -> list[PendingEvent]:
        return [event] if self.name_for(event.kind) else []

    def _number(self, phone: str) -> str:
        return phone if self.full_numbers else mask_address(phone)

    def _reply(self, item: Mapping[str, Any]) -> PendingEvent:
        attributes: dict[str, Flat] = {
            "message_sid": item["message_sid"], "customer_number": self._number(item["sender"]),
            "business_sender": item["scope"], "reply_text": item.get("body", ""), "intent": "reply",
            "keyword": item.get("keyword") or "", "occurred_at": item["received_at"],
            "opt_out_suspected": "true" if item.get("opt_out_suspected") else "false",
            "opt_in_suspected": "true" if item.get("opt_in_suspected") else "false",
        }  # fmt: skip
        return PendingEvent(EventKind.REPLY, f"reply:{item['message_sid']}", item["sender"], item["scope"], attributes,
                            account_sid=item.get("account_sid", ""), sender=item.get("recipient", ""),
                            **_attribution(item))  # fmt: skip

    def _status(self, kind: EventKind, item: Mapping[str, Any], **marks: str) -> PendingEvent:
        code = item.get("error_code")
        error_class = classify_error(int(code)) if code is not None else None
        correlation = parse_correlation(item.get("callback_query", ""))
        attributes: dict[str, Flat] = {
            "message_sid": item["message_sid"], "customer_number": self._number(item["recipient"]),
            "business_sender": item["scope"], "status": kind.value, "occurred_at": item["updated_at"], **marks,
        }  # fmt: skip
        if code is not None and error_class:
            attributes.update(error_code=int(code), error_class=error_class.value)
        key = f"{kind}:{item['message_sid']}"
        return PendingEvent(kind, key, item["recipient"], item["scope"], attributes, correlation,
                            account_sid=item.get("account_sid", ""), sender=item.get("sender", ""))  # fmt: skip

    def _consent(self, kind: EventKind, item: Mapping[str, Any], key: str, order: str = "") -> PendingEvent:
        attributes: dict[str, Flat] = {
            "customer_number": self._number(item["phone"]), "business_sender": item["scope"],
            "intent": kind.value, "consent_source": item["source"],
            "occurred_at": item.get("updated_at") or item["occurred_at"],
        }  # fmt: skip
        if item.get("keyword"):
            attributes["keyword"] = item["keyword"]
        return PendingEvent(kind, key, item["phone"], item["scope"], attributes, order=str(order or ""),
                            account_sid=item.get("account_sid") or "", sender=item.get("sender") or "",
                            **_attribution(item))  # fmt: skip


def correlation_for(event: PendingEvent, lookup: Callable[[], Correlation | None]) -> Correlation | None:
    """The correlation to send ``event`` with: its own, else what ``lookup`` finds in the contact memory now. Who the
    person is may be known by now; but the task a reply answered was settled when it arrived (``attributed``, to
    none then), so a later message lends its identity and never its task and tracking code."""
    if event.correlation is not None:
        return event.correlation
    found = lookup()
    return Correlation(found.datahub_id) if found and event.attributed else found


def _absorbed(item: Mapping[str, Any]) -> bool:
    """A record of a request that holds another field inside a value: a re-cut copy, its sender in doubt."""
    return ABSORBED_FIELD in str(item.get("unverified") or "").split(",")


def _attribution(item: Mapping[str, Any]) -> dict[str, Any]:
    """The correlation a reply's or a consent fact's event is credited to, settled when it arrived (the webhook
    stores ``attributed_query``: "" for nobody); facts recorded before that are credited when sent, as they were."""
    if "attributed_query" not in item:
        return {}
    return {"correlation": parse_correlation(str(item["attributed_query"])), "attributed": True}


@dataclass(frozen=True)
class Ci360Event:
    """An event ready for ``POST /marketingGateway/events``."""

    name: str
    identity_type: str
    identity_value: str
    attributes: Mapping[str, Flat]
    shape: AttributeShape = AttributeShape.FLAT

    def body(self) -> dict[str, Any]:
        """``eventName`` and the identity, then the attributes as top-level keys, or under ``"attributes"``."""
        head: dict[str, Any] = {"eventName": self.name, self.identity_type: self.identity_value}
        if self.shape is AttributeShape.NESTED:
            return {**head, NESTED_ATTRIBUTES_KEY: dict(self.attributes)}
        return {**head, **self.attributes}


def with_identity(event: PendingEvent, mapping: EventMapping, correlation: Correlation | None,
                  unknown_identity: str) -> Ci360Event | None:  # fmt: skip
    """The event addressed to a CI360 identity: the datahub id when known (with its task and tracking code), else
    the number under the ``unknown_identity`` type, or None when that policy is ``hold``."""
    attributes = {**event.attributes, "event_id": event.key}
    if correlation:
        if correlation.task_code:
            attributes["task_code"] = correlation.task_code
        if correlation.response_tracking_code:
            attributes["response_tracking_code"] = correlation.response_tracking_code
        smoke = correlation.task_code == SMOKE_TASK_CODE  # `smsbridge smoke`: an event no journey listens to
        name = SMOKE_EVENT_NAME if smoke else mapping.name_for(event.kind)
        return Ci360Event(name, "datahub_id", correlation.datahub_id, attributes, mapping.attribute_shape)
    if unknown_identity in IDENTITY_TYPES and unknown_identity != "datahub_id":
        return Ci360Event(mapping.name_for(event.kind), unknown_identity, event.phone, attributes,
                          mapping.attribute_shape)  # fmt: skip
    return None


def event_definitions(mapping: EventMapping) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Per enabled event name: its attributes as (name, CI360 type, meaning), for defining it in CI360; last, the
    event ``smsbridge smoke`` sends (a reply's and a delivery's attributes)."""
    definitions = []
    for kind in EventKind:
        name = mapping.name_for(kind)
        if name:
            attributes = [(attr, kind_type, meaning) for attr, (kind_type, meaning, kinds) in EVENT_ATTRIBUTES.items()
                          if kind in kinds]  # fmt: skip
            definitions.append((name, attributes))
    smoke = [(attr, kind_type, meaning) for attr, (kind_type, meaning, kinds) in EVENT_ATTRIBUTES.items()
             if EventKind.REPLY in kinds or EventKind.DELIVERED in kinds]  # fmt: skip
    definitions.append((SMOKE_EVENT_NAME, smoke))  # `smsbridge smoke`'s events: define it with no journey on it
    return definitions
