"""What a reply means: opt-out, opt-in, help, or just a reply. Every keyword rule lives here.

The order of precedence:

1. Twilio's ``OptOutType`` (Advanced Opt-Out) wins when present: Twilio has already acted on it.
2. Otherwise the whole normalised body is matched against the keyword packs (Twilio's rule: "only when the full
   message body matches the keyword ... not case sensitive", support article 31560110671259). Normalising folds
   case, accents and compatibility forms, and drops white space, punctuation and symbols (emoji) around the words,
   so ``" stop. "`` and ``"Stop!"`` opt out while ``"Stop please"`` does not: for an opt-out, suppressing more
   than Twilio does is the safe side.
3. An opt-in moves consent only when it is what lifts Twilio's block: the whole body is ``START`` or ``UNSTOP``
   (any case, nothing else: not ``Start!``, not `` start``; Twilio's trimming of punctuation and white space is
   unconfirmed) on every sender, ``YES`` likewise except on toll-free numbers (their carrier-level opt-out knows
   only START and UNSTOP), or ``OptOutType=START``. Anything else that reads as an opt-in (``Start!``, ``yes
   please``, ``ALTA``, ``REPRENDRE``, a custom word, ``YES`` on toll-free) is a reply flagged
   ``opt_in_suspected``: Twilio may still block the number, so the ledger must not say opted in.
4. With the ``contains`` policy, a short reply that contains revocation language ("pls unsubscribe me") is
   flagged ``opt_out_suspected`` for CI360 to act on; consent itself is not changed, since Twilio did not
   block the number.

Each decision names the rule that made it and ``MATCHER_VERSION``, so an audit can tell why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

MATCHER_VERSION = "keywords-3"
SHORT_REPLY_WORDS = 12


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    REPLY = "reply"


class SenderType(StrEnum):
    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"
    OTHER = "other"  # an alphanumeric sender ID or a channel address (whatsapp:...)


# NANP toll-free area codes (libphonenumber's tollFree pattern for +1: 8(00|33|44|55|66|77|88)[2-9]XXXXXX).
_TOLL_FREE = re.compile(r"^\+18(?:00|33|44|55|66|77|88)[2-9]\d{6}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")
_LONG_CODE = re.compile(r"^\+[1-9]\d{6,14}$")
TWILIO_OPT_IN = {"START", "UNSTOP", "YES"}  # what lifts Twilio's block (YES: not on toll-free)


def sender_type(number: str) -> SenderType:
    """What kind of Twilio sender ``number`` (our number: ``To`` of a reply) is."""
    if _TOLL_FREE.match(number):
        return SenderType.TOLL_FREE
    if _SHORT_CODE.match(number):
        return SenderType.SHORT_CODE
    if _LONG_CODE.match(number):
        return SenderType.LONG_CODE
    return SenderType.OTHER


def lifts_twilio_block(word: str, sender: SenderType) -> bool:
    """True when Twilio's default handling opts the person back in on ``word`` (a normalised whole body)."""
    return word in TWILIO_OPT_IN and not (word == "YES" and sender is SenderType.TOLL_FREE)


class MatchPolicy(StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"


@dataclass(frozen=True)
class KeywordPack:
    """One language's keywords, already normalised (upper case, no accents)."""

    language: str
    opt_out: frozenset[str]
    opt_in: frozenset[str]
    help: frozenset[str]
    revocation: tuple[str, ...] = ()  # words or phrases that suggest an opt-out inside a longer reply


def normalise(text: str) -> str:
    """Upper case, accents and compatibility forms folded, apostrophes dropped, inner white space collapsed, and
    everything that is not a letter or digit removed from both ends. ``" Arrêt ! "`` → ``"ARRET"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    letters = re.sub("['\u2019`\u00b4]", "", letters).upper()
    words = re.sub(r"[^\w]+", " ", letters).split()
    return " ".join(words)


def _phrases(text: str) -> tuple[str, ...]:
    return tuple(normalise(phrase) for phrase in text.split(","))


def _words(text: str) -> frozenset[str]:
    return frozenset(normalise(word) for word in text.split(","))


PACKS: Mapping[str, KeywordPack] = {
    # Twilio's defaults (REVOKE and OPTOUT since 2025-05-14 for the FCC revocation rule).
    "en": KeywordPack(
        "en",
        opt_out=_words("STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,REVOKE,OPTOUT"),
        opt_in=_words("START,YES,UNSTOP"),
        help=_words("HELP,INFO"),
        revocation=_phrases(
            "STOP,STOPALL,UNSUBSCRIBE,UNSUB,CANCEL,QUIT,REVOKE,OPTOUT,OPT OUT,REMOVE ME,TAKE ME OFF,NO MORE,"
            "DONT TEXT,DO NOT TEXT,LEAVE ME ALONE"
        ),
    ),
    "es": KeywordPack(
        "es",
        opt_out=_words("BAJA,ALTO,PARAR,PARE,DETENER,CANCELAR,DESUSCRIBIR,ANULAR"),
        opt_in=_words("ALTA,COMENZAR,REANUDAR"),
        help=_words("AYUDA"),
        revocation=_phrases(
            "BAJA,DAR DE BAJA,DARME DE BAJA,CANCELAR,NO MAS MENSAJES,NO ME ENVIEN,DEJEN DE ENVIAR,PARAR,DETENER"
        ),
    ),
    "fr": KeywordPack(
        "fr",
        opt_out=_words("ARRET,ARRETE,ARRETT,ARRETER,DESABONNER,DESINSCRIRE,STOPP"),
        opt_in=_words("REPRENDRE,DEMARRER"),
        help=_words("AIDE"),
        revocation=_phrases("ARRET,ARRETER,DESABONNER,DESINSCRIRE,DESINSCRIVEZ,PLUS DE MESSAGES,NE PLUS RECEVOIR"),
    ),
}
_NEGATIONS = ("DONT", "DO NOT", "NEVER", "NOT", "NO", "NE", "PAS", "NUNCA")


@dataclass(frozen=True)
class KeywordRules:
    """The packs in force, any custom keywords, and the policy for replies that are not a keyword."""

    languages: tuple[str, ...] = ("en", "es", "fr")
    policy: MatchPolicy = MatchPolicy.EXACT
    custom: Mapping[Intent, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [language for language in self.languages if language not in PACKS]
        if unknown:
            raise ValueError(f"no keyword pack for {', '.join(unknown)}; available: {', '.join(PACKS)}")

    @classmethod
    def with_custom(
        cls, *, opt_out: Iterable[str] = (), opt_in: Iterable[str] = (), help: Iterable[str] = (), **options: object
    ) -> KeywordRules:
        custom = {Intent.OPT_OUT: opt_out, Intent.OPT_IN: opt_in, Intent.HELP: help}
        normalised = {
            intent: frozenset(normalise(w) for w in words if normalise(w)) for intent, words in custom.items()
        }
        return cls(custom=normalised, **options)  # type: ignore[arg-type]

    def keyword_intent(self, word: str) -> tuple[Intent, str] | None:
        """The intent of a whole normalised body and the language it matched in ("custom" for custom keywords)."""
        for intent, words in self.custom.items():
            if word in words:
                return intent, "custom"
        for language in self.languages:
            pack = PACKS[language]
            for intent, words in (
                (Intent.OPT_OUT, pack.opt_out),
                (Intent.OPT_IN, pack.opt_in),
                (Intent.HELP, pack.help),
            ):
                if word in words:
                    return intent, language
        return None

    def opt_in_words(self) -> frozenset[str]:
        """Every opt-in keyword in force (the packs' and the custom ones), normalised."""
        words = self.custom.get(Intent.OPT_IN, frozenset())
        return words.union(*(PACKS[language].opt_in for language in self.languages))

    def leading_opt_in(self, text: str) -> str | None:
        """The opt-in keyword a longer normalised body starts with, as a word of its own (``YES PLEASE``)."""
        return next((word for word in sorted(self.opt_in_words()) if text.startswith(word + " ")), None)

    def starts_with_keyword(self, text: str) -> bool:
        """True when a normalised body begins with an opt-in or opt-out keyword, even inside a word (``STARTING``):
        the bodies a re-cut of the signed request (``Body=Start `` + ``Fresh=``) could turn into a keyword."""
        words = self.opt_in_words() | self.custom.get(Intent.OPT_OUT, frozenset())
        words = words.union(*(PACKS[language].opt_out for language in self.languages))
        return any(text.startswith(word) for word in words)

    def revocation_in(self, text: str) -> str | None:
        """The first revocation word or phrase in a short reply that is not negated, if any."""
        words = text.split()
        if not words or len(words) > SHORT_REPLY_WORDS:
            return None
        padded = f" {text} "
        phrases: list[str] = sorted(self.custom.get(Intent.OPT_OUT, frozenset()))
        phrases += [phrase for language in self.languages for phrase in PACKS[language].revocation]
        for phrase in phrases:
            at = padded.find(f" {phrase} ")
            if at >= 0 and not _negated(padded[:at]):
                return phrase
        return None


def _negated(before: str) -> bool:
    preceding = before.split()[-2:]
    return any(" ".join(preceding[i:]) in _NEGATIONS for i in range(len(preceding)))


@dataclass(frozen=True)
class ReplyClassification:
    """What a reply means, which rule decided it, and the keyword it matched (the only text kept of it)."""

    intent: Intent
    rule: str
    keyword: str | None = None
    language: str | None = None
    opt_out_suspected: bool = False
    matcher_version: str = MATCHER_VERSION
    opt_in_suspected: bool = False
    starts_like_keyword: bool = False  # the body begins with an opt-in or opt-out keyword (``starts_with_keyword``)

    @property
    def is_keyword(self) -> bool:
        return self.intent is not Intent.REPLY


_OPT_OUT_TYPES = {"STOP": Intent.OPT_OUT, "START": Intent.OPT_IN, "HELP": Intent.HELP}


def classify_reply(
    body: str, rules: KeywordRules, opt_out_type: str | None = None, sender: str = ""
) -> ReplyClassification:
    """Decide what ``body``, sent to our number ``sender``, means under ``rules``; Twilio's ``opt_out_type`` wins
    when given. Without ``sender`` (unknown), ``YES`` is read as on a toll-free number: not an opt-in."""
    reading = _classify(body, rules, opt_out_type, sender)
    return replace(reading, starts_like_keyword=rules.starts_with_keyword(normalise(body)))


def _classify(body: str, rules: KeywordRules, opt_out_type: str | None, sender: str) -> ReplyClassification:
    text = normalise(body)
    if opt_out_type in _OPT_OUT_TYPES:
        return ReplyClassification(_OPT_OUT_TYPES[opt_out_type], "twilio_opt_out_type", text or opt_out_type)
    if not text:
        return ReplyClassification(Intent.REPLY, "empty" if not body.strip() else "no_match")
    matched = rules.keyword_intent(text)
    if matched:
        intent, language = matched
        if intent is Intent.OPT_IN:
            return _opt_in(body, text, language, sender)
        return ReplyClassification(intent, "keyword_exact", text, language)
    return _not_a_keyword(text, rules)


def _not_a_keyword(text: str, rules: KeywordRules) -> ReplyClassification:
    """A reply that is no keyword: flagged when it reads like an opt-in (``yes please``: Twilio counts only a body
    that is the keyword) or, under the ``contains`` policy, like an opt-out."""
    leading = rules.leading_opt_in(text)
    if leading:
        return ReplyClassification(Intent.REPLY, "opt_in_not_whole_body", leading, opt_in_suspected=True)
    if rules.policy is MatchPolicy.CONTAINS:
        phrase = rules.revocation_in(text)
        if phrase:
            return ReplyClassification(Intent.REPLY, "contains_revocation", phrase, opt_out_suspected=True)
    return ReplyClassification(Intent.REPLY, "no_match")


def _opt_in(body: str, text: str, language: str, sender: str) -> ReplyClassification:
    """An opt-in word: an opt-in only when the whole body is the word (any case, ``Start!`` is not) and the word
    lifts Twilio's block on this sender; otherwise a reply flagged ``opt_in_suspected``."""
    if body.upper() != text:
        return ReplyClassification(Intent.REPLY, "opt_in_not_whole_body", text, language, opt_in_suspected=True)
    if not lifts_twilio_block(text, sender_type(sender) if sender else SenderType.TOLL_FREE):
        return ReplyClassification(Intent.REPLY, "opt_in_not_honoured_by_twilio", text, language,
                                   opt_in_suspected=True)  # fmt: skip
    return ReplyClassification(Intent.OPT_IN, "keyword_exact", text, language)
