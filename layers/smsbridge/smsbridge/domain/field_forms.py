"""The documented form of each field Twilio sends, and the checks that tell a request in that form from a re-cut one.

Twilio signs ``url + name1 + value1 + name2 + value2 ...`` with nothing between them, so a captured request can be
cut again into other fields with the same signature: ``Body=START``, ``From=<someone else>`` and a last field
``Zz=`` (or a known one, ``ToZip=``) that absorbs the genuine remainder. ``ingress.canonical_problem`` refuses the
shapes only a moved boundary makes; the checks here find the rest, which keep every name plausible:

- every name is one Twilio documents (numbered ones ``MediaUrl{N}``, ``MediaContentType{N}`` below ``NumMedia``);
- every value is in its field's documented form (SIDs: prefix and 32 hex digits; E.164 or channel addresses;
  digits; the status and ``OptOutType`` enums; ``ApiVersion``; country codes);
- fields Twilio sends together agree (``SmsSid`` = ``SmsMessageSid`` = ``MessageSid``);
- no value other than ``Body`` holds a run of a field's name followed by a value in that field's form, which is what
  an absorbed field leaves behind (``ApiVersion=2010-04-01ErrorCode21610``); ``Body`` (its text is the sender's)
  only when it ends with such a run of a field that sorts between ``Body`` and the next field present (a WhatsApp
  ``Body=STOPChannelMetadata{...}``).

A request that fails one of them is not refused: Twilio adds fields without notice, and a 4xx is not retried, so a
genuine STOP would be lost. ``app/webhook.py`` records it flagged ``unverified`` with these reasons and limits what
it may do to consent. Sources of every form: docs/contracts.md ("Twilio webhook fields").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from smsbridge.domain.status import MessageStatus

UNKNOWN_FIELD = "unknown_field"  # a name Twilio does not document (a new field, or a cut inside a value)
FIELD_FORM = "field_form"  # a value not in its field's documented form
FIELDS_DISAGREE = "fields_disagree"  # fields Twilio sends together that differ
ABSORBED_FIELD = "absorbed_field"  # a value holding another field's name and value: a re-cut beyond doubt
SPLIT_VALUE = "split_value"  # an undocumented name where a cut could have made it: the query's end, or free text

_FREE = r"(?s:.*)"
_SID = r"{}[0-9a-fA-F]{{32}}"
_E164 = r"\+[1-9]\d{6,14}"
_CHANNEL = r"[a-z][a-z0-9_-]{1,20}:\S{1,120}"
_ADDRESS = rf"{_E164}|\d{{3,8}}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{{1,11}}|{_CHANNEL}"
_PERSON = rf"{_E164}|[a-z][a-z0-9_-]{{1,20}}:\+?\d{{6,15}}"  # an address a run can be told by: digits in it
_STATUS = "|".join(status.value for status in MessageStatus)
_PLACE = r"(?:[^\W\d_]|[ .'-]){0,64}"
_JSON_OBJECT = r"(?s:\{.*\})"
_DECIMAL = r"-?\d{1,3}(?:\.\d+)?"
_MESSAGE_SID = _SID.format("(?:SM|MM)")

# Each documented field and the form of its value (a regular expression the whole value matches).
FORMS: dict[str, str] = {
    "MessageSid": _MESSAGE_SID, "SmsSid": _MESSAGE_SID, "SmsMessageSid": _MESSAGE_SID,
    "AccountSid": _SID.format("AC"), "MessagingServiceSid": _SID.format("MG"),
    "From": _ADDRESS, "To": _ADDRESS, "Body": _FREE,
    "NumMedia": r"\d{1,2}", "NumSegments": r"\d{1,3}", "ReferralNumMedia": r"\d{1,2}",
    "SmsStatus": _STATUS, "MessageStatus": _STATUS, "ApiVersion": r"2010-04-01",
    "FromCity": _PLACE, "FromState": _PLACE, "FromZip": r"[A-Za-z0-9 -]{0,10}", "FromCountry": r"(?:[A-Z]{2})?",
    "ToCity": _PLACE, "ToState": _PLACE, "ToZip": r"[A-Za-z0-9 -]{0,10}", "ToCountry": r"(?:[A-Z]{2})?",
    "OptOutType": r"(?i:STOP|START|HELP)?", "AddOns": _JSON_OBJECT,
    "ErrorCode": r"\d{0,6}", "ErrorMessage": _FREE, "RawDlrDoneDate": r"\d{10,12}",
    "ChannelInstallSid": _SID.format("[A-Z]{2}"), "ChannelStatusMessage": _FREE, "ChannelPrefix": r"[a-z]{0,20}",
    "ChannelToAddress": r"\S{0,140}", "ChannelMetadata": _JSON_OBJECT, "EventType": r"[A-Z_]{0,32}",
    "ProfileName": _FREE, "WaId": r"\d{1,15}", "Forwarded": r"true|false", "FrequentlyForwarded": r"true|false",
    "ButtonText": _FREE, "ButtonPayload": _FREE, "Latitude": _DECIMAL, "Longitude": _DECIMAL,
    "Address": _FREE, "Label": _FREE, "ReferralCtwaClid": _FREE,
}  # fmt: skip
NUMBERED = {"MediaUrl": r"https?://\S+", "MediaContentType": r"[\w.+-]+/[\w.+-]+"}  # MediaUrl0, MediaUrl1, ...
_NUMBERED_NAME = re.compile(r"^({})(0|[1-9]\d?)$".format("|".join(NUMBERED)))
_COMPILED = {name: re.compile(form) for name, form in FORMS.items()}
_COMPILED_NUMBERED = {stem: re.compile(form) for stem, form in NUMBERED.items()}
SAME_VALUE = ("MessageSid", "SmsSid", "SmsMessageSid")  # one message, three names (two deprecated)

# What a run of an absorbed field looks like: its name, then a value only that field has. Fields whose value can be
# empty or any text (``FromCity``, ``Label``) leave no run that can be told from text, and are left out.
_RUN_FORMS: dict[str, str] = {
    **{name: FORMS[name] for name in ("MessageSid", "SmsSid", "SmsMessageSid", "AccountSid", "MessagingServiceSid")},
    "From": _PERSON, "To": _PERSON, "ApiVersion": FORMS["ApiVersion"], "ErrorCode": r"\d{3,6}",
    "OptOutType": r"STOP|START|HELP", "MessageStatus": _STATUS, "SmsStatus": _STATUS, "NumMedia": r"\d",
    "NumSegments": r"\d", "ChannelMetadata": r"\{", "RawDlrDoneDate": r"\d{10}", "WaId": r"\d{6,15}",
}  # fmt: skip
_RUN = re.compile("|".join(f"(?:{re.escape(name)}(?:{form}))" for name, form in _RUN_FORMS.items()))
_RUN_AT_END = {name: re.compile(f"{re.escape(name)}(?:{form})") for name, form in _RUN_FORMS.items()}


def is_documented(name: str) -> bool:
    return name in FORMS or bool(_NUMBERED_NAME.match(name))


def form_of(name: str) -> re.Pattern[str] | None:
    """The form of ``name``'s value, or None for a name Twilio does not document."""
    numbered = _NUMBERED_NAME.match(name)
    return _COMPILED_NUMBERED[numbered.group(1)] if numbered else _COMPILED.get(name)


def unverified_reasons(params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Why a signed request is not in the form Twilio documents (the reasons above, sorted), or ``()``.

    ``params`` is assumed to have passed ``canonical_problem`` (names of Twilio's form, none repeated)."""
    fields = dict(params)
    reasons: set[str] = set()
    media = int(fields["NumMedia"]) if fields.get("NumMedia", "").isdigit() else 0
    for name, value in params:
        form = form_of(name)
        if form is None:
            reasons.add(UNKNOWN_FIELD)
        elif not form.fullmatch(value):
            reasons.add(FIELD_FORM)
        numbered = _NUMBERED_NAME.match(name)
        if numbered and int(numbered.group(2)) >= media:
            reasons.add(FIELDS_DISAGREE)  # MediaUrl3 with NumMedia=1
        if name != "Body" and _RUN.search(value):
            reasons.add(ABSORBED_FIELD)
    if len({fields[name] for name in SAME_VALUE if name in fields}) > 1:
        reasons.add(FIELDS_DISAGREE)
    if _body_absorbed(fields.get("Body", ""), sorted(fields)):
        reasons.add(ABSORBED_FIELD)
    if any(_split_off(name, before) for before, name in zip(["", *sorted(fields)], sorted(fields), strict=False)):
        reasons.add(SPLIT_VALUE)
    return tuple(sorted(reasons))


def _split_off(name: str, before: str) -> bool:
    """Whether undocumented ``name`` could be text cut off the value signed just before it: the URL query's end
    when it is first (``tc=SPRING_SALE_`` + ``A1=`` for ``tc=SPRING_SALE_A1``), or a free-text value (``Body=Start``
    + ``Fresh=`` for ``Body=Start Fresh``). After a value of a strict form it could not be: that value, cut short,
    would break its form (``FIELD_FORM``). So a field Twilio adds is taken as it comes, unless it follows free text."""
    return form_of(name) is None and (not before or FORMS.get(before) == _FREE)


def _body_absorbed(body: str, names: list[str]) -> bool:
    """True when ``Body`` ends with a run of a field that sorts after it and no later than the next field present:
    the text such a field leaves when ``Body`` absorbed it (a field sorting elsewhere could not have followed it)."""
    after = [name for name in names if name > "Body"]
    limit = after[0] if after else "\U0010ffff"
    for name, run in _RUN_AT_END.items():
        if "Body" < name <= limit:
            at = body.rfind(name)
            if at >= 0 and run.match(body, at):
                return True
    return False
