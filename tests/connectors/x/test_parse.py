"""X payloads -> InboundMessage: v2 polling pages and v1.1 Account Activity deliveries, on platform-shaped fixtures."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.x.parse import (
    MAX_DELIVERY_EVENTS,
    MAX_MEDIA,
    parse_activity,
    parse_dm_events_page,
    parse_mentions_page,
)
from social_care.domain import MessageKind
from social_care.errors import PayloadError
from tests.connectors.x.helpers import BRAND_ID, CHANNEL, CTX, NOOR, PAT, fixture

ROOT = "1790000000000000101"
REPLY = "1790000000000000202"
QUOTE = "1790000000000000303"


def by_source(records: Any) -> dict[str, Any]:
    return {r.source_id: r for r in records}


# --- v2 mentions -----------------------------------------------------------------------------


def test_mentions_page_gives_public_mentions_oldest_first_with_authors_and_threads() -> None:
    page = parse_mentions_page(fixture("mentions_page"), CTX)

    assert [r.source_id for r in page.records] == [f"tweet:{ROOT}", f"tweet:{REPLY}", f"tweet:{QUOTE}"]
    root, reply, _quote = page.records
    assert (root.platform, root.channel_key, root.kind, root.public) == ("x", CHANNEL, MessageKind.MENTION, True)
    assert root.thread_key == f"tweet:{ROOT}"
    assert root.in_reply_to is None
    assert root.text == "@acme my order #5521 never arrived and nobody answers"
    assert root.sent_at == datetime(2024, 5, 13, 9, 0, tzinfo=UTC)
    assert (root.author.platform_id, root.author.name, root.author.handle) == (PAT, "Pat Kowalski", "pat_k")
    assert (root.author.followers, root.author.verified) == (312, False)
    # A reply in the thread joins the conversation of its root, and points at the tweet it answers.
    assert reply.thread_key == f"tweet:{ROOT}"
    assert reply.in_reply_to == f"tweet:{ROOT}"
    assert (reply.author.platform_id, reply.author.followers, reply.author.verified) == (NOOR, 48210, True)
    assert page.ids == (int(QUOTE), int(REPLY), int(ROOT))
    assert page.newest_id == int(QUOTE)
    assert page.next_token is None
    assert root.raw["data"]["id"] == ROOT
    assert root.raw["includes"]["users"][0]["username"] == "pat_k"


def test_quote_tweets_are_kept_as_public_mentions_of_their_own_conversation() -> None:
    quote = by_source(parse_mentions_page(fixture("mentions_page"), CTX).records)[f"tweet:{QUOTE}"]

    assert (quote.kind, quote.public, quote.thread_key, quote.in_reply_to) == (
        MessageKind.MENTION, True, f"tweet:{QUOTE}", None)
    assert quote.attachments[0].as_json() == {"kind": "quote", "tweet_id": "1789999999999999000"}


def test_empty_mentions_page_is_nothing_new() -> None:
    page = parse_mentions_page(fixture("mentions_empty"), CTX)

    assert (page.records, page.ids, page.next_token, page.newest_id) == ((), (), None, None)


def test_brand_own_tweets_and_retweets_are_dropped_from_mentions_unless_retweets_enabled() -> None:
    page = fixture("mentions_page")
    page["data"].append({"id": "1790000000000000099", "text": "@pat_k sorry!", "author_id": BRAND_ID,
                         "conversation_id": ROOT, "created_at": "2024-05-13T08:59:00.000Z"})
    page["data"].append({"id": "1790000000000000098", "text": "RT @acme: sale", "author_id": PAT,
                         "conversation_id": "1790000000000000098", "created_at": "2024-05-13T08:58:00.000Z",
                         "referenced_tweets": [{"type": "retweeted", "id": "1789999999999999800"}]})

    parsed = parse_mentions_page(page, CTX)
    assert len(parsed.records) == 3
    assert sorted(parsed.ignored) == ["retweet (retweets not enabled)", "the brand's own tweet"]

    kept = by_source(parse_mentions_page(page, replace(CTX, include_retweets=True)).records)
    retweet = kept["tweet:1790000000000000098"]
    assert retweet.thread_key == "tweet:1789999999999999800"
    assert "tweet:1790000000000000099" not in kept


def test_long_posts_are_read_whole_from_note_tweet() -> None:
    page = fixture("mentions_page")
    page["data"][2]["text"] = "@acme this is cut…"
    page["data"][2]["note_tweet"] = {"text": "@acme this is the whole long post " + "x" * 400}

    root = by_source(parse_mentions_page(page, CTX).records)[f"tweet:{ROOT}"]
    assert root.text.endswith("x" * 400)


def test_an_edited_tweet_updates_the_message_of_its_first_version() -> None:
    page = fixture("mentions_page")
    page["data"] = [{"id": "1790000000000000111", "text": "@acme my order #5521 never arrived (edited)",
                     "edit_history_tweet_ids": [ROOT, "1790000000000000111"], "author_id": PAT,
                     "conversation_id": ROOT, "created_at": "2024-05-13T09:03:00.000Z"}]

    (edit,) = parse_mentions_page(page, CTX).records
    assert edit.source_id == f"tweet:{ROOT}"
    assert edit.edited_at == datetime(2024, 5, 13, 9, 3, tzinfo=UTC)


def test_a_mention_whose_author_is_missing_from_includes_keeps_the_author_id() -> None:
    page = fixture("mentions_page")
    del page["includes"]

    root = by_source(parse_mentions_page(page, CTX).records)[f"tweet:{ROOT}"]
    assert (root.author.platform_id, root.author.name, root.author.handle) == (PAT, None, None)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.pop("text"), "missing field 'text'"),
        (lambda t: t.update(created_at="yesterday"), "not an ISO 8601 time"),
        (lambda t: t.update(author_id="pat"), "numeric id"),
        (lambda t: t.update(referenced_tweets="x"), "'referenced_tweets' must be an array"),
    ],
)
def test_a_malformed_tweet_is_reported_and_its_siblings_are_kept(mutate: Any, message: str) -> None:
    page = fixture("mentions_page")
    mutate(page["data"][2])

    parsed = parse_mentions_page(page, CTX)
    assert [r.source_id for r in parsed.records] == [f"tweet:{REPLY}", f"tweet:{QUOTE}"]
    (failure,) = parsed.failed
    assert ROOT in failure or "tweet" in failure
    assert message in failure


@pytest.mark.parametrize("page", [[], "nope", {"data": {"id": "1"}}, {"data": [], "meta": []},
                                  {"data": [], "meta": {"next_token": 5}}])
def test_a_malformed_page_is_a_payload_error(page: Any) -> None:
    with pytest.raises(PayloadError):
        parse_mentions_page(page, CTX)


# --- v2 DM events ----------------------------------------------------------------------------


def test_dm_events_give_private_messages_threaded_by_customer_and_drop_the_brand_echo() -> None:
    page = parse_dm_events_page(fixture("dm_events_page"), CTX)

    assert [r.source_id for r in page.records] == ["dm:1790000000000009001", "dm:1790000000000009002"]
    first, second = page.records
    assert (first.kind, first.public, first.thread_key) == (MessageKind.DIRECT, False, f"dm:{PAT}")
    assert (first.author.platform_id, first.author.handle, first.author.followers) == (PAT, "pat_k", 312)
    assert first.text == "Hi, following up on my tweet"
    assert second.attachments[0].as_json() == {"kind": "media", "file_id": "3_1790000000000009999"}
    assert page.ignored == ("the brand's own DM",)
    assert page.ids == (1790000000000009003, 1790000000000009002, 1790000000000009001)
    assert page.newest_id == 1790000000000009003


def test_group_dms_and_other_event_types_are_ignored() -> None:
    page = fixture("dm_events_page")
    page["data"][1]["dm_conversation_id"] = "1582838293493923328"
    page["data"][0] = {"id": "1790000000000009004", "event_type": "ParticipantsJoin",
                       "dm_conversation_id": "1582838293493923328", "created_at": "2024-05-13T10:03:00.000Z"}

    parsed = parse_dm_events_page(page, CTX)
    assert [r.source_id for r in parsed.records] == ["dm:1790000000000009001"]
    assert sorted(parsed.ignored) == ["dm event type ParticipantsJoin", "group DM (not supported)"]


# --- v1.1 Account Activity -------------------------------------------------------------------


def test_account_activity_mention_has_the_same_identity_as_the_polled_one() -> None:
    (hooked,) = parse_activity(fixture("aaa_tweet_create"), CTX).records
    polled = by_source(parse_mentions_page(fixture("mentions_page"), CTX).records)[f"tweet:{ROOT}"]

    for name in ("source_id", "thread_key", "kind", "public", "text", "sent_at", "in_reply_to"):
        assert getattr(hooked, name) == getattr(polled, name), name
    assert hooked.author == polled.author
    assert hooked.raw["tweet_create_events"][0]["id_str"] == ROOT


def test_account_activity_dm_has_the_same_identity_as_the_polled_one_and_drops_the_echo() -> None:
    parsed = parse_activity(fixture("aaa_dm"), CTX)
    polled = by_source(parse_dm_events_page(fixture("dm_events_page"), CTX).records)

    (hooked,) = parsed.records
    twin = polled[hooked.source_id]
    for name in ("source_id", "thread_key", "kind", "public", "text", "sent_at"):
        assert getattr(hooked, name) == getattr(twin, name), name
    assert (hooked.author.name, hooked.author.handle, hooked.author.followers) == ("Pat Kowalski", "pat_k", 312)
    assert parsed.ignored == ("the brand's own DM",)


def test_truncated_tweets_are_read_in_full_from_extended_tweet() -> None:
    (tweet,) = parse_activity(fixture("aaa_tweet_extended"), CTX).records

    assert tweet.text.endswith("I want a refund today.")
    assert "…" not in tweet.text
    # v1.1 carries no conversation_id: thread under the replied-to tweet; ingest may refine it.
    assert tweet.in_reply_to == "tweet:1790000000000000404"
    assert tweet.thread_key == "tweet:1790000000000000404"


def test_the_brand_own_tweets_are_dropped() -> None:
    parsed = parse_activity(fixture("aaa_tweet_echo"), CTX)

    assert parsed.records == ()
    assert parsed.ignored == ("the brand's own tweet",)


def test_retweets_are_ignored_by_default_and_kept_when_configured() -> None:
    assert parse_activity(fixture("aaa_retweet"), CTX).ignored == ("retweet (retweets not enabled)",)

    (retweet,) = parse_activity(fixture("aaa_retweet"), replace(CTX, include_retweets=True)).records
    assert retweet.source_id == "tweet:1790000000000000606"
    assert retweet.thread_key == "tweet:1789999999999999800"
    assert retweet.text.startswith("RT @acme: Spring sale")
    assert retweet.text.endswith("everything you buy this week.")


def test_likes_are_ignored_by_default_and_kept_when_configured() -> None:
    assert parse_activity(fixture("aaa_favorite"), CTX).ignored == ("like (likes not enabled)",)

    (like,) = parse_activity(fixture("aaa_favorite"), replace(CTX, include_likes=True)).records
    assert like.source_id == f"like:1790000000000000250:{PAT}"
    assert like.in_reply_to == "tweet:1790000000000000250"
    assert like.thread_key == f"tweet:{ROOT}"
    assert (like.text, like.public, like.attachments[0].kind) == ("", True, "like")


def test_quote_tweets_by_webhook_are_kept_as_public_mentions() -> None:
    (quote,) = parse_activity(fixture("aaa_quote"), CTX).records
    polled = by_source(parse_mentions_page(fixture("mentions_page"), CTX).records)[f"tweet:{QUOTE}"]

    assert (quote.source_id, quote.thread_key, quote.kind, quote.public) == (
        polled.source_id, polled.thread_key, MessageKind.MENTION, True)
    assert quote.attachments == polled.attachments


def test_other_activity_kinds_are_ignored_with_a_reason() -> None:
    parsed = parse_activity(fixture("aaa_follow"), CTX)

    assert parsed.records == ()
    assert parsed.ignored == ("no message events (follow_events)",)


def test_events_for_another_account_are_ignored() -> None:
    payload = fixture("aaa_tweet_create")
    payload["for_user_id"] = "2000"

    parsed = parse_activity(payload, CTX)
    assert parsed.records == ()
    assert parsed.ignored == ("events for account 2000, not this channel's 1000",)


def test_v1_created_at_is_used_without_timestamp_ms() -> None:
    payload = fixture("aaa_tweet_create")
    del payload["tweet_create_events"][0]["timestamp_ms"]

    (tweet,) = parse_activity(payload, CTX).records
    assert tweet.sent_at == datetime(2024, 5, 13, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"tweet_create_events": []},
        {"for_user_id": "acme", "tweet_create_events": []},
        {"for_user_id": "1000", "tweet_create_events": {}},
        {"for_user_id": "1000", "direct_message_events": [], "users": []},
    ],
)
def test_a_malformed_delivery_is_a_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse_activity(payload, CTX)


def test_a_malformed_event_is_reported_and_its_siblings_are_kept() -> None:
    payload = fixture("aaa_dm")
    payload["direct_message_events"].append({"type": "message_create", "id": "1790000000000009005",
                                             "created_timestamp": "soon", "message_create": {}})

    parsed = parse_activity(payload, CTX)
    assert [r.source_id for r in parsed.records] == ["dm:1790000000000009001"]
    assert len(parsed.failed) == 1 and "1790000000000009005" in parsed.failed[0]


# --- bounds on what one delivery can make the parser do ------------------------------------------


def _dm_events(count: int) -> list[dict[str, Any]]:
    return [{"type": "message_create", "id": str(1790000000000100000 + n), "created_timestamp": "1715594400000",
             "message_create": {"sender_id": PAT, "message_data": {"text": f"message {n}"}}} for n in range(count)]


def test_a_delivery_is_read_up_to_the_cap_and_the_rest_is_counted() -> None:
    tweets = [fixture("aaa_tweet_create")["tweet_create_events"][0]] * 30
    payload = {"for_user_id": BRAND_ID, "tweet_create_events": tweets, "direct_message_events": _dm_events(200)}

    parsed = parse_activity(payload, CTX)

    assert len(parsed.records) == MAX_DELIVERY_EVENTS
    assert parsed.unread == 30 + 200 - MAX_DELIVERY_EVENTS
    assert parse_activity({"for_user_id": BRAND_ID, "direct_message_events": _dm_events(3)}, CTX).unread == 0


@pytest.mark.parametrize("odd", ["²", "١٢٣", "1" * 21, str(2**64), "-1", "1e9", " 1"])
def test_ids_are_ascii_digits_of_64_bit_integers(odd: str) -> None:
    events = _dm_events(1)
    events[0]["id"] = odd

    parsed = parse_activity({"for_user_id": BRAND_ID, "direct_message_events": events}, CTX)

    assert (parsed.records, len(parsed.failed)) == ((), 1)
    assert "must be a numeric id" in parsed.failed[0]


@pytest.mark.parametrize("odd", ["²", "9" * 30, 10**30])
def test_odd_timestamps_are_malformed_events(odd: Any) -> None:
    events = _dm_events(1)
    events[0]["created_timestamp"] = odd

    parsed = parse_activity({"for_user_id": BRAND_ID, "direct_message_events": events}, CTX)

    assert (parsed.records, len(parsed.failed)) == ((), 1)


@pytest.mark.parametrize("created_at", ["Mon Jan 01 00:00:00 +0100 0001", "Fri Dec 31 23:59:59 -0100 9999"])
def test_times_that_leave_the_calendar_in_utc_are_malformed_events(created_at: str) -> None:
    payload = fixture("aaa_tweet_create")
    tweet = payload["tweet_create_events"][0]
    del tweet["timestamp_ms"]
    tweet["created_at"] = created_at

    parsed = parse_activity(payload, CTX)

    assert parsed.records == ()
    assert "'created_at' is not a v1.1 timestamp" in parsed.failed[0]


def test_media_are_capped_and_must_be_an_array() -> None:
    payload = fixture("aaa_tweet_create")
    tweet = payload["tweet_create_events"][0]
    tweet["entities"]["media"] = [{"type": "photo", "id_str": str(n)} for n in range(1000)]
    (record,) = parse_activity(payload, CTX).records
    assert len(record.attachments) == MAX_MEDIA

    tweet["entities"]["media"] = 5
    parsed = parse_activity(payload, CTX)
    assert parsed.records == () and "'entities.media' must be an array" in parsed.failed[0]


@pytest.mark.parametrize("followers", [2**63, 10**30, -1, 1.5, True])
def test_follower_counts_that_fit_no_database_integer_are_dropped(followers: Any) -> None:
    payload = fixture("aaa_tweet_create")
    payload["tweet_create_events"][0]["user"]["followers_count"] = followers

    (record,) = parse_activity(payload, CTX).records

    assert record.author.followers is None


def test_platform_strings_quoted_in_reasons_are_short_and_printable() -> None:
    events = _dm_events(1)
    events[0]["type"] = "\x1b[31m" + "x" * 10_000
    keys = {f"odd_{n}_events": [] for n in range(1000)}

    (typed,) = parse_activity({"for_user_id": BRAND_ID, "direct_message_events": events}, CTX).ignored
    (keyed,) = parse_activity({"for_user_id": BRAND_ID, **keys}, CTX).ignored

    assert typed.startswith("dm event type \\x1b[31mxxx") and len(typed) < 60
    assert typed.isprintable()
    assert keyed.endswith(", and 995 more)") and len(keyed) < 200


def test_a_polled_time_that_leaves_the_calendar_in_utc_is_a_malformed_tweet() -> None:
    page = fixture("mentions_page")
    page["data"][2]["created_at"] = "0001-01-01T00:00:00+01:00"

    parsed = parse_mentions_page(page, CTX)

    assert [r.source_id for r in parsed.records] == [f"tweet:{REPLY}", f"tweet:{QUOTE}"]
    assert "'created_at' is not a valid time" in parsed.failed[0]
