"""The two webhooks Twilio sends, as validated models, and the consent evidence each carries.

Only the fields smsbridge acts on are declared; every other parameter is kept as it came (``fields``), because
Twilio adds parameters without notice. Models are checked after the signature, so a malformed field from Twilio
is a 400 with the field named, never a 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from smsbridge.domain.consent import ConsentAction, ConsentCheck, ConsentEvent, ConsentSource
from smsbridge.domain.field_forms import ABSORBED_FIELD, FORMS, NUMBERED, UNKNOWN_FIELD
from smsbridge.domain.keywords import Intent, KeywordRules, ReplyClassification, classify_reply
from smsbridge.domain.status import MessageStatus
from smsbridge.errors import InvalidPayload

# E.164, a short code, an alphanumeric sender ID, or a channel address such as ``whatsapp:+14155550123``.
_ADDRESS = re.compile(
    r"^(\+[1-9]\d{6,14}|\d{3,8}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}|[a-z][a-z0-9_-]{1,20}:\S{1,120})$"
)
_PHONE = re.compile(r"^(\+[1-9]\d{6,14}|[a-z][a-z0-9_-]{1,20}:\S{1,120})$")
_MESSAGE_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
OPTED_OUT_AT_TWILIO = 21610  # "Attempt to send to unsubscribed recipient"
BLOCKED_BY_CARRIER = 30004  # "Message blocked": the recipient or the carrier blocks us


# The parameters Twilio sends with the two webhooks (its docs' tables and captured requests; docs/contracts.md), with
# the numbered media fields up to 9: the names ``ingress.canonical_problem`` recognises a moved boundary by
# (``BodyS=TOP`` for ``Body=STOP``), which the signature cannot see. Their forms: ``field_forms.FORMS``.
TWILIO_FIELDS = frozenset(FORMS) | frozenset(f"{stem}{n}" for stem in NUMBERED for n in range(10))
# What each webhook always carries (inbound: Twilio's messaging webhook request; status: its status callbacks).
# A status callback may lack From when a Messaging Service message fails before a sender is chosen (a 21610 at
# service level): MessagingServiceSid then names the scope (``StatusCallback.scope``).
INBOUND_REQUIRED = ("MessageSid", "AccountSid", "From", "To", "Body")
STATUS_REQUIRED = ("MessageSid", "AccountSid", "MessageStatus", "To")


def _matching(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, str) and not pattern.match(value):
            raise ValueError(f"not {what}")
        return value

    return BeforeValidator(check)


def is_address(value: str) -> bool:
    """True for what Twilio uses as a From or To: E.164, short code, sender ID or channel address."""
    return bool(_ADDRESS.match(value))


def is_phone(value: str) -> bool:
    """True for a person's address: an E.164 number or a channel address (not a short code or sender ID)."""
    return bool(_PHONE.match(value))


def is_scope(value: str) -> bool:
    """True for what an opt-out applies to: a Messaging Service SID or a sender address."""
    return bool(_SERVICE_SID.match(value)) or is_address(value)


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


Address = Annotated[str, _matching(_ADDRESS, "a phone number, short code, sender ID or channel address")]
MessageSid = Annotated[str, _matching(_MESSAGE_SID, "a message SID (two letters and 32 hex digits)")]
AccountSid = Annotated[str, _matching(_ACCOUNT_SID, "an account SID (AC and 32 hex digits)")]
ServiceSid = Annotated[
    str | None,
    BeforeValidator(_blank_is_none),
    _matching(_SERVICE_SID, "a Messaging Service SID (MG and 32 hex digits)"),
]


class _TwilioWebhook(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    message_sid: MessageSid = Field(validation_alias=AliasChoices("MessageSid", "SmsSid"))
    account_sid: AccountSid = Field(validation_alias="AccountSid")
    sender: Address = Field(validation_alias="From")
    recipient: Address = Field(validation_alias="To")
    messaging_service_sid: ServiceSid = Field(default=None, validation_alias="MessagingServiceSid")

    _unverified: tuple[str, ...] = PrivateAttr(default=())

    @property
    def fields(self) -> dict[str, Any]:
        """The parameters this model does not declare, as Twilio sent them."""
        return dict(self.model_extra or {})

    @property
    def unverified(self) -> tuple[str, ...]:
        """Why the request is not in the form Twilio documents (``field_forms`` reasons), or ``()``."""
        return self._unverified

    def flagged(self, reasons: tuple[str, ...]) -> Self:
        """This webhook, flagged ``unverified`` for ``reasons`` (none: as it is)."""
        if not reasons:
            return self
        copy = self.model_copy()
        copy._unverified = reasons
        return copy


class InboundMessage(_TwilioWebhook):
    """A message a person sent to one of the account's numbers (the inbound-SMS webhook)."""

    body: str = Field(default="", validation_alias="Body", max_length=4096)
    num_media: int = Field(default=0, ge=0, le=100, validation_alias="NumMedia")
    opt_out_type: Annotated[
        Literal["STOP", "START", "HELP"] | None,
        BeforeValidator(lambda v: _blank_is_none(v.upper() if isinstance(v, str) else v)),
    ] = Field(default=None, validation_alias="OptOutType")

    @property
    def scope(self) -> str:
        """What a Twilio opt-out applies to: the Messaging Service if any, else our number (``To`` here)."""
        return self.messaging_service_sid or self.recipient


class StatusCallback(_TwilioWebhook):
    """Twilio's report on a message the account sent (the ``StatusCallback`` webhook)."""

    sender: Annotated[str, _matching(_ADDRESS, "a phone number, short code, sender ID or channel address")] = Field(
        default="", validation_alias="From"
    )  # "" only with a MessagingServiceSid (``_has_scope``)
    status: MessageStatus = Field(validation_alias=AliasChoices("MessageStatus", "SmsStatus"))
    error_code: Annotated[int | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, ge=0, lt=1_000_000, validation_alias="ErrorCode"
    )
    raw_dlr_done_date: Annotated[str | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, max_length=32, validation_alias="RawDlrDoneDate"
    )

    @model_validator(mode="after")
    def _has_scope(self) -> StatusCallback:
        if not self.sender and not self.messaging_service_sid:
            raise ValueError("From is required when there is no MessagingServiceSid")
        return self

    @property
    def scope(self) -> str:
        """What a Twilio opt-out applies to: the Messaging Service if any, else our number (``From`` here)."""
        return self.messaging_service_sid or self.sender


M = TypeVar("M", bound=_TwilioWebhook)


def parse_webhook(model: type[M], params: Sequence[tuple[str, str]]) -> M:
    """Build ``model`` from form pairs; a repeated declared field or a bad value raises ``InvalidPayload``."""
    fields: dict[str, str | list[str]] = {}
    for name, value in params:
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        else:
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidPayload(_describe(exc, fields)) from None


def _describe(exc: ValidationError, fields: Mapping[str, object]) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:  # a rule over several fields
            problems.append(error["msg"].removeprefix("Value error, "))
        elif error["type"] == "missing":
            problems.append(f"{name} is required")
        elif isinstance(fields.get(name), list):
            problems.append(f"{name} is given more than once")
        else:
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return "invalid Twilio webhook: " + "; ".join(problems)


_ACTIONS = {Intent.OPT_OUT: ConsentAction.OPT_OUT, Intent.OPT_IN: ConsentAction.OPT_IN, Intent.HELP: ConsentAction.HELP}


def carries_action(body: str, action: ConsentAction, rules: KeywordRules, *, sender: str) -> bool:
    """Whether a message's text, read with the keyword rules as a reply to ``sender`` is, carries ``action`` (the
    verifier's check of Twilio's copy of a keyword reply, whose text the ledger does not keep)."""
    return _ACTIONS.get(classify_reply(body, rules, None, sender=sender).intent) is action


def in_doubt(webhook: InboundMessage | StatusCallback) -> bool:
    """True when ``webhook`` may be a re-cut copy: a value out of its documented form, fields that disagree, an
    absorbed field, or an undocumented name where a cut could have made one (``field_forms.SPLIT_VALUE``). An
    undocumented name elsewhere is not: Twilio adds fields without notice, and holding every opt-in and every
    callback's correlation until a release knows the new name would stop the service. It is flagged and alarmed."""
    return bool(set(webhook.unverified) - {UNKNOWN_FIELD})


def reading_of(message: InboundMessage, rules: KeywordRules, *, verify: bool = False) -> ReplyClassification:
    """What a reply means (``classify_reply``). From a request ``in_doubt``, an opt-in does not move consent unless
    Twilio confirms it: with ``verify`` (Twilio verification on) it stays an opt-in, held until Twilio's Messages
    API confirms the message; without, it is a reply flagged ``opt_in_suspected`` (rule ``opt_in_unverified``)."""
    reading = classify_reply(message.body, rules, message.opt_out_type, sender=message.recipient)
    if in_doubt(message) and reading.intent is Intent.OPT_IN and not verify:
        return replace(reading, intent=Intent.REPLY, rule="opt_in_unverified", opt_in_suspected=True)
    return reading


def held_for_verification(webhook: InboundMessage | StatusCallback) -> bool:
    """True when ``webhook``'s consent evidence must wait for Twilio's word: it holds another field's name and
    value inside a value, so it is a re-cut copy whose sender is in doubt (an opt-out from a request only unusual
    in form applies at once: no STOP waits)."""
    return ABSORBED_FIELD in webhook.unverified


def consent_check(webhook: InboundMessage | StatusCallback, action: ConsentAction, *, suppresses: bool = False,
                  verify: bool) -> ConsentCheck | None:  # fmt: skip
    """Whether a consent fact waits for Twilio's word (``verify``: Twilio verification is on). Every opt-in and
    every fact from a re-cut request (``held_for_verification``) is held until Twilio confirms it; an opt-out from a
    request only unusual in form moves the state at once and is retracted if Twilio contradicts it (no STOP waits).
    A fact that sets no state (HELP, a 30004 that does not suppress) is not checked."""
    sets_state = action in (ConsentAction.OPT_OUT, ConsentAction.OPT_IN) or (
        action is ConsentAction.BLOCKED and suppresses
    )
    if not verify or not sets_state:
        return None
    if action is ConsentAction.OPT_IN or held_for_verification(webhook):
        return ConsentCheck.HELD
    return ConsentCheck.APPLIED if webhook.unverified else None


def consent_from_reply(
    message: InboundMessage, reading: ReplyClassification, received_at: datetime, *, verify: bool = False
) -> ConsentEvent | None:
    """The consent event a reply carries (STOP, START, HELP and their kin), or None for a plain reply. Without
    ``verify``, a re-cut request's consent is dropped (nothing could confirm it), as is its HELP always."""
    action = _ACTIONS.get(reading.intent)
    check = consent_check(message, action, verify=verify) if action else None
    if action is None or (held_for_verification(message) and check is None):
        return None
    source = ConsentSource.TWILIO_OPT_OUT_TYPE if reading.rule == "twilio_opt_out_type" else ConsentSource.REPLY_KEYWORD
    return ConsentEvent(
        phone=message.sender, scope=message.scope, action=action, occurred_at=received_at, source=source,
        event_id=message.message_sid, rule=reading.rule, keyword=reading.keyword,
        matcher_version=reading.matcher_version, account_sid=message.account_sid, sender=message.recipient,
        check=check,
    )  # fmt: skip


def consent_from_status(
    callback: StatusCallback, received_at: datetime, *, suppress_on_30004: bool = False, verify: bool = False
) -> ConsentEvent | None:
    """A status callback's evidence: 21610 means Twilio already blocks this recipient for this sender (back-fill
    the opt-out); 30004 means the message was blocked (an opt-out only if so configured)."""
    if callback.error_code == OPTED_OUT_AT_TWILIO:
        action, source, suppresses = ConsentAction.OPT_OUT, ConsentSource.TWILIO_21610, True
    elif callback.error_code == BLOCKED_BY_CARRIER:
        action, source, suppresses = ConsentAction.BLOCKED, ConsentSource.TWILIO_30004, suppress_on_30004
    else:
        return None
    check = consent_check(callback, action, suppresses=suppresses, verify=verify)
    if held_for_verification(callback) and check is None:
        return None  # a re-cut request's evidence nothing will confirm
    return ConsentEvent(
        phone=callback.recipient, scope=callback.scope, action=action, occurred_at=received_at, source=source,
        event_id=callback.message_sid, rule=f"error_code_{callback.error_code}", account_sid=callback.account_sid,
        suppresses=suppresses, sender=callback.sender or None,
        check=check,
    )  # fmt: skip
