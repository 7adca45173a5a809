"""Reply classification on real-world bodies, under both policies."""

from __future__ import annotations

import pytest

from smsbridge.domain.keywords import (
    MATCHER_VERSION,
    Intent,
    KeywordRules,
    MatchPolicy,
    SenderType,
    classify_reply,
    normalise,
    sender_type,
)

OUT, IN, HELP, REPLY = Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP, Intent.REPLY
S = True  # opt_out_suspected under the contains policy
LONG_CODE, TOLL_FREE, TOLL_FREE_833, SHORT_CODE = "+14155550199", "+18885550123", "+18332345678", "55512"

# body, intent under `exact`, intent under `contains`, suspected under `contains`
CASES = [
    ("STOP", OUT, OUT, False),
    ("Stop", OUT, OUT, False),
    ("stop", OUT, OUT, False),
    (" STOP ", OUT, OUT, False),
    ("STOP\n", OUT, OUT, False),
    ("stop.", OUT, OUT, False),
    ("Stop!", OUT, OUT, False),
    ("STOP!!!", OUT, OUT, False),
    ('"STOP"', OUT, OUT, False),
    ("sToP", OUT, OUT, False),
    ("\uff33\uff34\uff2f\uff30", OUT, OUT, False),  # full-width STOP
    ("STOP 🛑", OUT, OUT, False),
    ("🛑 stop 🛑", OUT, OUT, False),
    ("STOPALL", OUT, OUT, False),
    ("Unsubscribe", OUT, OUT, False),
    ("CANCEL", OUT, OUT, False),
    ("end", OUT, OUT, False),
    ("Quit", OUT, OUT, False),
    ("REVOKE", OUT, OUT, False),
    ("optout", OUT, OUT, False),
    ("ARRET", OUT, OUT, False),
    ("Arrêt", OUT, OUT, False),
    ("ARRÊTER", OUT, OUT, False),
    ("désinscrire", OUT, OUT, False),
    ("Baja", OUT, OUT, False),
    ("BAJA.", OUT, OUT, False),
    ("parar", OUT, OUT, False),
    ("Cancelar", OUT, OUT, False),
    ("START", IN, IN, False),
    ("start", IN, IN, False),
    ("Yes", IN, IN, False),
    ("YES!", REPLY, REPLY, False),  # Twilio counts only a body that is the keyword: opt_in_suspected (below)
    ("unstop", IN, IN, False),
    ("Alta", REPLY, REPLY, False),  # an opt-in word Twilio does not act on: opt_in_suspected (below)
    ("HELP", HELP, HELP, False),
    ("help?", HELP, HELP, False),
    ("Info", HELP, HELP, False),
    ("¡Ayuda!", HELP, HELP, False),
    ("AIDE", HELP, HELP, False),
    ("STOP ALL", REPLY, REPLY, S),
    ("Stop please", REPLY, REPLY, S),
    ("please stop", REPLY, REPLY, S),
    ("Stop. Thank you", REPLY, REPLY, S),
    ("pls unsubscribe me", REPLY, REPLY, S),
    ("OPT OUT", REPLY, REPLY, S),
    ("remove me from this list", REPLY, REPLY, S),
    ("Do not text me again", REPLY, REPLY, S),
    ("no more messages please", REPLY, REPLY, S),
    ("Quiero darme de baja", REPLY, REPLY, S),
    ("je veux me désinscrire", REPLY, REPLY, S),
    ("Don't stop", REPLY, REPLY, False),
    ("Do not stop sending me deals", REPLY, REPLY, False),
    ("I will never stop shopping here", REPLY, REPLY, False),
    ("Yes please", REPLY, REPLY, False),
    ("What time does the store open?", REPLY, REPLY, False),
    ("Thanks!", REPLY, REPLY, False),
    ("👍", REPLY, REPLY, False),
    ("🛑", REPLY, REPLY, False),
    ("", REPLY, REPLY, False),
    ("   ", REPLY, REPLY, False),
    ("STOPP", OUT, OUT, False),
    ("stopping by later", REPLY, REPLY, False),
    (
        "Where is my order? It has been a week and I keep getting these messages, I want to know when it "
        "arrives and whether you can stop the marketing texts meanwhile",
        REPLY,
        REPLY,
        False,
    ),  # too long to flag
]


def test_the_table_is_big_enough_to_mean_something() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(("body", "exact", "contains", "suspected"), CASES, ids=[repr(c[0])[:30] for c in CASES])
def test_reply_intent_under_both_policies(body: str, exact: Intent, contains: Intent, suspected: bool) -> None:
    strict = classify_reply(body, KeywordRules(policy=MatchPolicy.EXACT), sender=LONG_CODE)
    loose = classify_reply(body, KeywordRules(policy=MatchPolicy.CONTAINS), sender=LONG_CODE)
    assert strict.intent is exact
    assert not strict.opt_out_suspected
    assert loose.intent is contains
    assert loose.opt_out_suspected is suspected


def test_mms_without_text_is_a_plain_reply() -> None:
    reading = classify_reply("", KeywordRules())
    assert (reading.intent, reading.rule) == (Intent.REPLY, "empty")


@pytest.mark.parametrize(("opt_out_type", "intent"), [("STOP", OUT), ("START", IN), ("HELP", HELP)])
def test_twilio_opt_out_type_wins_over_the_body(opt_out_type: str, intent: Intent) -> None:
    reading = classify_reply("Stop please, really", KeywordRules(), opt_out_type)
    assert reading.intent is intent
    assert reading.rule == "twilio_opt_out_type"


def test_every_decision_names_its_rule_keyword_language_and_matcher_version() -> None:
    reading = classify_reply(" Arrêt! ", KeywordRules())
    assert (reading.rule, reading.keyword, reading.language) == ("keyword_exact", "ARRET", "fr")
    assert reading.matcher_version == MATCHER_VERSION
    suspected = classify_reply("pls unsubscribe me", KeywordRules(policy=MatchPolicy.CONTAINS))
    assert (suspected.rule, suspected.keyword) == ("contains_revocation", "UNSUBSCRIBE")


def test_language_packs_can_be_narrowed() -> None:
    english_only = KeywordRules(languages=("en",))
    assert classify_reply("Baja", english_only).intent is REPLY
    assert classify_reply("STOP", english_only).intent is OUT


def test_custom_keywords_are_matched_like_the_defaults() -> None:
    rules = KeywordRules.with_custom(opt_out=["Remove"], opt_in=["Join"], help=["Aide-moi"])
    assert classify_reply("remove.", rules).intent is OUT
    assert classify_reply("aide moi", rules).intent is HELP
    assert classify_reply("remove", rules).language == "custom"
    # a custom opt-in word is Twilio's only when Advanced Opt-Out reports it as OptOutType=START
    join = classify_reply("JOIN", rules, sender=LONG_CODE)
    assert (join.intent, join.opt_in_suspected, join.language) == (REPLY, True, "custom")
    assert classify_reply("JOIN", rules, "START", sender=LONG_CODE).intent is IN


# body, our number (To), OptOutType, intent, opt_in_suspected: which words move consent, per sender type
SENDER_CASES = [
    *[(word, LONG_CODE, "", IN, False) for word in ("START", "unstop", "Yes")],
    *[(word, LONG_CODE, "", REPLY, True) for word in ("ALTA", "Comenzar", "reanudar", "REPRENDRE", "Démarrer")],
    *[(word, TOLL_FREE, "", IN, False) for word in ("START", "UNSTOP")],
    ("YES", TOLL_FREE, "", REPLY, True),
    ("yes", TOLL_FREE_833, "", REPLY, True),
    ("ALTA", TOLL_FREE, "", REPLY, True),
    *[(word, SHORT_CODE, "", IN, False) for word in ("START", "UNSTOP", "YES")],
    ("ALTA", SHORT_CODE, "", REPLY, True),
    # a Messaging Service with Advanced Opt-Out: Twilio's OptOutType decides, whatever the word
    ("ALTA", LONG_CODE, "START", IN, False),
    ("YES", TOLL_FREE, "START", IN, False),
    ("Reprendre", SHORT_CODE, "START", IN, False),
    # opt-outs in every language stand on every sender (suppressing more than Twilio is the safe side)
    *[("STOP", sender, "", OUT, False) for sender in (LONG_CODE, TOLL_FREE, SHORT_CODE)],
    *[(word, TOLL_FREE, "", OUT, False) for word in ("ARRET", "Baja", "REVOKE")],
]


@pytest.mark.parametrize(("body", "sender", "opt_out_type", "intent", "suspected"), SENDER_CASES)
def test_consent_moves_to_opted_in_only_on_what_lifts_twilio_s_block(
    body: str, sender: str, opt_out_type: str, intent: Intent, suspected: bool
) -> None:
    reading = classify_reply(body, KeywordRules(), opt_out_type or None, sender=sender)
    assert (reading.intent, reading.opt_in_suspected) == (intent, suspected)


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("+18005550123", SenderType.TOLL_FREE), ("+18335550123", SenderType.TOLL_FREE),
        ("+18445550123", SenderType.TOLL_FREE), ("+18555550123", SenderType.TOLL_FREE),
        ("+18665550123", SenderType.TOLL_FREE), ("+18775550123", SenderType.TOLL_FREE),
        ("+18885550123", SenderType.TOLL_FREE), ("+18225550123", SenderType.LONG_CODE),
        ("+18095550123", SenderType.LONG_CODE), ("+441632960123", SenderType.LONG_CODE),
        ("55512", SenderType.SHORT_CODE), ("555123", SenderType.SHORT_CODE), ("MyShop", SenderType.OTHER),
    ],
)  # fmt: skip
def test_sender_type_from_our_number(number: str, kind: SenderType) -> None:
    assert sender_type(number) is kind


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="no keyword pack for de"):
        KeywordRules(languages=("en", "de"))


def test_normalise() -> None:
    assert normalise("  Arrêt !  ") == "ARRET"
    assert normalise("don\u2019t  STOP") == "DONT STOP"


@pytest.mark.parametrize("body", ["Start!", "yes.", "START ", " start", "yes please", "Start Fresh", "\uff33tart"])
def test_an_opt_in_is_only_a_body_that_is_the_keyword_anything_else_is_suspected(body: str) -> None:
    # Twilio: "only when the full message body matches the keyword ... not case sensitive" (support 31560110671259)
    reading = classify_reply(body, KeywordRules(), sender=LONG_CODE)
    assert reading.intent is REPLY
    assert reading.opt_in_suspected and reading.rule == "opt_in_not_whole_body"


@pytest.mark.parametrize("body", ["START", "start", "sTaRt", "UNSTOP", "yes"])
def test_the_whole_body_as_the_keyword_in_any_case_is_an_opt_in(body: str) -> None:
    assert classify_reply(body, KeywordRules(), sender=LONG_CODE).intent is IN


def test_opt_out_type_decides_over_the_body() -> None:
    assert classify_reply("Start!", KeywordRules(), "START", sender=LONG_CODE).intent is IN
    assert classify_reply("yes please", KeywordRules(), "STOP", sender=LONG_CODE).intent is OUT


@pytest.mark.parametrize(
    ("body", "starts"),
    [("Start Fresh", True), ("stopping by", True), ("Yesterday", True), ("START", True), ("Hello", False),
     ("", False), ("a stop", False)],
)  # fmt: skip
def test_a_body_that_begins_like_a_keyword_is_marked_for_a_tombstone(body: str, starts: bool) -> None:
    assert classify_reply(body, KeywordRules(), sender=LONG_CODE).starts_like_keyword is starts
