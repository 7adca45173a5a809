"""Settings, read from the environment once per container. Nothing secret lives here: tokens are in Secrets Manager."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from smsbridge.domain.ci360_events import DEFAULT_EVENT_NAMES, AttributeShape, EventMapping
from smsbridge.domain.keywords import KeywordRules, MatchPolicy
from smsbridge.domain.preferences import JOB_TYPE_SETTINGS, SmsIdFormat
from smsbridge.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    """Every setting smsbridge reads; docs/configuration.md lists the variables."""

    messages_table: str
    consent_table: str = ""
    auth_tokens_secret: str = ""
    public_base_url: str = ""
    url_fragment: str = ""
    max_body_bytes: int = 64 * 1024
    message_retention_days: int = 90
    token_cache_seconds: int = 300
    keywords: KeywordRules = field(default_factory=KeywordRules)
    suppress_on_30004: bool = False
    twilio_verification: bool = False  # opt-ins and doubtful facts wait for Twilio's Messages API (the verifier)
    twilio_api_url: str = "https://api.twilio.com"  # Twilio's REST API (a local stand-in's in tests and serve)
    # The forwarder's settings
    ci360_secret: str = ""
    retry_queue_url: str = ""
    dead_letter_queue_url: str = ""
    event_mapping: EventMapping = field(default_factory=EventMapping)
    unknown_identity: str = "hold"
    attribution_window_hours: int = 168
    ci360_max_concurrency: int = 16
    ci360_timeout_seconds: int = 5
    retry_base_seconds: int = 30
    # The preference sync's
    preference_stuck_minutes: int = 120  # a CI360 import job pending longer than this is reported and alarmed
    preference_job_type: str = "auto"  # auto: CONTACT_PREFERENCE_SMS_IMPORT, falling back to CONTACT_PREFERENCE_IMPORT
    sms_id_format: SmsIdFormat = SmsIdFormat.E164  # how a number is written as the import file's sms_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            messages_table=env.get("MESSAGES_TABLE", ""),
            consent_table=env.get("CONSENT_TABLE", ""),
            auth_tokens_secret=env.get("TWILIO_AUTH_TOKENS_SECRET", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", "").strip(),
            url_fragment=env.get("TWILIO_URL_FRAGMENT", "").strip().lstrip("#"),
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", 64 * 1024),
            message_retention_days=_positive_int(env, "MESSAGE_RETENTION_DAYS", 90),
            token_cache_seconds=_positive_int(env, "TOKEN_CACHE_SECONDS", 300),
            keywords=_keyword_rules(env),
            suppress_on_30004=_flag(env, "SUPPRESS_ON_30004"),
            twilio_verification=_flag(env, "TWILIO_VERIFICATION"),
            twilio_api_url=env.get("TWILIO_API_URL", "").strip() or "https://api.twilio.com",
            ci360_secret=env.get("CI360_SECRET", ""),
            retry_queue_url=env.get("RETRY_QUEUE_URL", ""),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", ""),
            event_mapping=event_mapping_from_env(env),
            unknown_identity=_choice(
                env, "UNKNOWN_IDENTITY", "hold", ("hold", "subject_id", "customer_id", "login_id")
            ),
            attribution_window_hours=_positive_int(env, "ATTRIBUTION_WINDOW_HOURS", 168),
            ci360_max_concurrency=_positive_int(env, "CI360_MAX_CONCURRENCY", 16),
            ci360_timeout_seconds=_positive_int(env, "CI360_TIMEOUT_SECONDS", 5),
            retry_base_seconds=_positive_int(env, "RETRY_BASE_SECONDS", 30),
            preference_stuck_minutes=_positive_int(env, "PREFERENCE_STUCK_MINUTES", 120),
            preference_job_type=_choice(env, "CI360_PREFERENCE_JOB_TYPE", "auto", JOB_TYPE_SETTINGS),
            sms_id_format=SmsIdFormat(_choice(env, "CI360_SMS_ID_FORMAT", "e164", tuple(SmsIdFormat))),
        )
        for name, value in (("MESSAGES_TABLE", settings.messages_table), ("CONSENT_TABLE", settings.consent_table)):
            if not value:
                raise ConfigurationError(f"{name} is not set: the name of a DynamoDB table of the stack")
        if settings.public_base_url:
            _check_base_url(settings.public_base_url)
        return settings


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip() or default
    if value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def event_mapping_from_env(env: Mapping[str, str]) -> EventMapping:
    """``EVENT_NAME_<KIND>`` overrides a kind's CI360 event name; set it empty to send no event of that kind.
    ``CI360_ATTRIBUTE_SHAPE`` (flat or nested) places the attributes in the body."""
    names = {kind: env.get(f"EVENT_NAME_{kind.name}", default) for kind, default in DEFAULT_EVENT_NAMES.items()}
    shape = _choice(env, "CI360_ATTRIBUTE_SHAPE", AttributeShape.FLAT, tuple(AttributeShape))
    return EventMapping(names={kind: name.strip() for kind, name in names.items()},
                        full_numbers=_flag(env, "CI360_FULL_NUMBERS"),
                        attribute_shape=AttributeShape(shape))  # fmt: skip


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
    return raw == "true"


def _words(env: Mapping[str, str], name: str) -> list[str]:
    return [word.strip() for word in env.get(name, "").split(",") if word.strip()]


def _keyword_rules(env: Mapping[str, str]) -> KeywordRules:
    languages = tuple(_words(env, "KEYWORD_LANGUAGES")) or ("en", "es", "fr")
    policy = env.get("KEYWORD_POLICY", "exact").strip().lower() or "exact"
    if policy not in (MatchPolicy.EXACT, MatchPolicy.CONTAINS):
        raise ConfigurationError(f"KEYWORD_POLICY must be exact or contains, not {policy!r}")
    try:
        return KeywordRules.with_custom(
            opt_out=_words(env, "OPT_OUT_KEYWORDS"), opt_in=_words(env, "OPT_IN_KEYWORDS"),
            help=_words(env, "HELP_KEYWORDS"), languages=languages, policy=MatchPolicy(policy),
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigurationError(f"KEYWORD_LANGUAGES: {exc}") from exc


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigurationError(f"PUBLIC_BASE_URL must be an absolute http(s) URL, not {url!r}")
    if parts.query or parts.fragment:
        raise ConfigurationError("PUBLIC_BASE_URL must not carry a query or fragment (set TWILIO_URL_FRAGMENT)")
