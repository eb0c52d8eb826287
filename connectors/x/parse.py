"""X payloads -> InboundMessage records (pure, no I/O): v2 polling pages and v1.1 Account Activity events.

Identity scheme, the same on both paths so that dedup on (channel, source_id) merges them:

- a tweet:  source_id ``tweet:<id>``, thread_key ``tweet:<conversation_id>`` (v2) or
  ``tweet:<in_reply_to_status_id or id>`` (v1.1, which has no conversation_id), in_reply_to
  ``tweet:<replied-to id>``; an edited tweet keeps the id of its first version;
- a DM:     source_id ``dm:<dm event id>``, thread_key ``dm:<customer user id>``.

``dm:<customer id>`` rather than ``dm:<dm_conversation_id>``: Account Activity DM events carry no
conversation id, and a one-to-one conversation is exactly the pair (brand, customer).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from social_care.domain import Attachment, Author, InboundMessage, MessageKind
from social_care.errors import PayloadError

PLATFORM = "x"

# Account Activity keys that carry messages; everything else is acknowledged and ignored.
TWEET_EVENTS = "tweet_create_events"
DM_EVENTS = "direct_message_events"
LIKE_EVENTS = "favorite_events"

# v1.1 timestamps: https://developer.x.com/en/docs/x-api/v1/data-dictionary/object-model/tweet
_V1_CREATED_AT = "%a %b %d %H:%M:%S %z %Y"

# X's documented deliveries carry one event per array
# (https://docs.x.com/x-api/account-activity/introduction, "Payload examples") and no maximum is
# documented; 100 is far above anything X sends and keeps one delivery's parse and ingest small.
MAX_DELIVERY_EVENTS = 100
# X attaches at most 4 photos (or 1 video or GIF) to a post; more entries are not X's.
MAX_MEDIA = 4
# X ids are unsigned 64-bit integers (snowflakes) sent as decimal strings.
_MAX_ID = 2**64 - 1
# Platform strings quoted in a reason (an unknown event type, an unknown key) are cut to this length.
_SHOWN = 40


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Which brand account the payloads belong to, and which optional kinds to keep."""

    channel_key: str
    brand_id: str
    include_retweets: bool = False
    include_likes: bool = False


@dataclass(frozen=True, slots=True)
class Parsed:
    """Records to ingest (oldest first), plus one reason per ignored item and per malformed item."""

    records: tuple[InboundMessage, ...] = ()
    ignored: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    unread: int = 0  # events beyond MAX_DELIVERY_EVENTS, neither parsed nor stored


@dataclass(frozen=True, slots=True)
class Page:
    """One v2 list response: its records, every item id it held, and the token of the next page."""

    records: tuple[InboundMessage, ...]
    ignored: tuple[str, ...]
    failed: tuple[str, ...]
    ids: tuple[int, ...]
    next_token: str | None
    newest_id: int | None


class _Ignored(Exception):
    """An item that is well formed but not for the inbox (an echo, a retweet, a group DM...)."""


# --- v2 polling ----------------------------------------------------------------------------


def parse_mentions_page(page: Mapping[str, Any], ctx: ParseContext) -> Page:
    """Normalize one `GET /2/users/:id/mentions` response; malformed tweets are reported, not fatal."""
    items, users, meta = _v2_envelope(page, "mentions page")
    results = [_attempt(tweet, lambda t: _v2_tweet(t, users, ctx)) for tweet in items]
    return _page(results, items, meta)


def parse_dm_events_page(page: Mapping[str, Any], ctx: ParseContext) -> Page:
    """Normalize one `GET /2/dm_events` response; malformed events are reported, not fatal."""
    items, users, meta = _v2_envelope(page, "dm_events page")
    results = [_attempt(event, lambda e: _v2_dm(e, users, ctx)) for event in items]
    return _page(results, items, meta)


def _v2_envelope(page: Any, where: str) -> tuple[list[Any], dict[str, Mapping[str, Any]], Mapping[str, Any]]:
    page = _mapping(page, where)
    # Nothing new is `{"meta": {"result_count": 0}}` without `data`.
    items = _or_empty(page, "data", [])
    if not isinstance(items, list):
        raise PayloadError(f"{where}: 'data' must be an array")
    includes = _mapping(_or_empty(page, "includes", {}), f"{where}.includes")
    users_list = _or_empty(includes, "users", [])
    if not isinstance(users_list, list):
        raise PayloadError(f"{where}: 'includes.users' must be an array")
    users: dict[str, Mapping[str, Any]] = {}
    for user in users_list:
        if isinstance(user, Mapping) and isinstance(user.get("id"), str):
            users[user["id"]] = user
    meta = _mapping(_or_empty(page, "meta", {}), f"{where}.meta")
    return items, users, meta


def _page(results: list[InboundMessage | str | Exception], items: list[Any], meta: Mapping[str, Any]) -> Page:
    parsed = _collect(results)
    ids = tuple(i for i in (_item_id(item) for item in items) if i is not None)
    next_token = meta.get("next_token")
    if next_token is not None and not isinstance(next_token, str):
        raise PayloadError("page meta: 'next_token' must be a string")
    newest = meta.get("newest_id")
    newest_id = int(newest) if isinstance(newest, str) and _is_id(newest) else (max(ids) if ids else None)
    return Page(parsed.records, parsed.ignored, parsed.failed, ids, next_token or None, newest_id)


def _item_id(item: Any) -> int | None:
    value = item.get("id") if isinstance(item, Mapping) else None
    return int(value) if isinstance(value, str) and _is_id(value) else None


def _v2_tweet(tweet: Any, users: Mapping[str, Mapping[str, Any]], ctx: ParseContext) -> InboundMessage:
    tweet = _mapping(tweet, "tweet")
    tweet_id = _id(tweet, "id", "tweet")
    where = f"tweet {tweet_id}"
    author_id = _id(tweet, "author_id", where)
    if author_id == ctx.brand_id:
        raise _Ignored("the brand's own tweet")
    refs = _v2_references(tweet, where)
    if "retweeted" in refs and not ctx.include_retweets:
        raise _Ignored("retweet (retweets not enabled)")
    # Posts longer than 280 characters: `text` is cut, the whole text is in note_tweet
    # (https://docs.x.com/x-api/fundamentals/data-dictionary#tweet, field note_tweet).
    note = tweet.get("note_tweet")
    text = _opt_str(note, "text", f"{where}.note_tweet") if isinstance(note, Mapping) else None
    text = text or _str(tweet, "text", where)
    conversation_id = _opt_id(tweet, "conversation_id", where) or tweet_id
    thread = refs.get("retweeted") or conversation_id
    source_id, is_edit = _edit_identity(tweet.get("edit_history_tweet_ids"), tweet_id, where)
    sent_at = _iso(tweet, "created_at", where)
    attachments = [Attachment(kind="media", file_id=key) for key in _v2_media_keys(tweet, where)]
    if "quoted" in refs:
        attachments.append(Attachment(kind="quote", extra={"tweet_id": refs["quoted"]}))
    return InboundMessage(
        platform=PLATFORM,
        channel_key=ctx.channel_key,
        source_id=f"tweet:{source_id}",
        thread_key=f"tweet:{thread}",
        author=_v2_author(author_id, users.get(author_id)),
        text=text,
        sent_at=sent_at,
        kind=MessageKind.MENTION,
        public=True,
        in_reply_to=f"tweet:{refs['replied_to']}" if "replied_to" in refs else None,
        attachments=tuple(attachments),
        edited_at=sent_at if is_edit else None,
        raw={"data": tweet, "includes": {"users": [users[author_id]] if author_id in users else []}},
    )


def _v2_dm(event: Any, users: Mapping[str, Mapping[str, Any]], ctx: ParseContext) -> InboundMessage:
    event = _mapping(event, "dm event")
    event_id = _id(event, "id", "dm event")
    where = f"dm event {event_id}"
    event_type = _str(event, "event_type", where)
    if event_type != "MessageCreate":
        raise _Ignored(f"dm event type {_shown(event_type)}")
    sender_id = _id(event, "sender_id", where)
    if sender_id == ctx.brand_id:
        raise _Ignored("the brand's own DM")
    conversation = _opt_str(event, "dm_conversation_id", where)
    # One-to-one conversation ids are "<user id>-<user id>"; anything else is a group.
    if conversation is not None and "-" not in conversation:
        raise _Ignored("group DM (not supported)")
    return InboundMessage(
        platform=PLATFORM,
        channel_key=ctx.channel_key,
        source_id=f"dm:{event_id}",
        thread_key=f"dm:{sender_id}",
        author=_v2_author(sender_id, users.get(sender_id)),
        text=_opt_str(event, "text", where) or "",
        sent_at=_iso(event, "created_at", where),
        kind=MessageKind.DIRECT,
        public=False,
        attachments=tuple(Attachment(kind="media", file_id=key) for key in _v2_media_keys(event, where)),
        raw={"data": event, "includes": {"users": [users[sender_id]] if sender_id in users else []}},
    )


def _v2_references(tweet: Mapping[str, Any], where: str) -> dict[str, str]:
    refs = tweet.get("referenced_tweets") or []
    if not isinstance(refs, list):
        raise PayloadError(f"{where}: 'referenced_tweets' must be an array")
    found: dict[str, str] = {}
    for ref in refs:
        ref = _mapping(ref, f"{where}.referenced_tweets[]")
        found[_str(ref, "type", f"{where}.referenced_tweets[]")] = _id(ref, "id", f"{where}.referenced_tweets[]")
    return found


def _v2_media_keys(item: Mapping[str, Any], where: str) -> list[str]:
    attachments = item.get("attachments")
    if not isinstance(attachments, Mapping):
        return []
    keys = attachments.get("media_keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise PayloadError(f"{where}: 'attachments.media_keys' must be an array of strings")
    return keys[:MAX_MEDIA]


def _v2_author(user_id: str, user: Mapping[str, Any] | None) -> Author:
    if user is None:
        # The expansion can miss a user (suspended, protected): keep the id, the rest comes later.
        return Author(platform_id=user_id)
    where = f"user {user_id}"
    metrics = user.get("public_metrics")
    followers = metrics.get("followers_count") if isinstance(metrics, Mapping) else None
    verified = user.get("verified")
    return Author(
        platform_id=user_id,
        name=_opt_str(user, "name", where),
        handle=_opt_str(user, "username", where),
        followers=_count(followers),
        verified=verified if isinstance(verified, bool) else None,
    )


# --- v1.1 Account Activity -----------------------------------------------------------------


def activity_account(payload: Any) -> str:
    """The `for_user_id` of an Account Activity delivery: the subscribed account it is about."""
    return _id(_mapping(payload, "delivery"), "for_user_id", "delivery")


def parse_activity(payload: Any, ctx: ParseContext) -> Parsed:
    """Normalize one Account Activity delivery; a malformed event is reported, not fatal to its siblings.

    At most MAX_DELIVERY_EVENTS events are read; the count of the others is returned as `unread`.
    """
    payload = _mapping(payload, "delivery")
    account = activity_account(payload)
    if account != ctx.brand_id:
        return Parsed(ignored=(f"events for account {account}, not this channel's {ctx.brand_id}",))
    parsers: list[tuple[list[Any], Callable[[Any], InboundMessage]]] = []
    if TWEET_EVENTS in payload:
        parsers.append((_array(payload, TWEET_EVENTS), lambda t: _v1_tweet(t, ctx)))
    if DM_EVENTS in payload:
        users = _or_empty(payload, "users", {})
        if not isinstance(users, Mapping):
            raise PayloadError("delivery: 'users' must be an object")
        parsers.append((_array(payload, DM_EVENTS), lambda e: _v1_dm(e, users, ctx)))
    if LIKE_EVENTS in payload:
        parsers.append((_array(payload, LIKE_EVENTS), lambda f: _v1_like(f, ctx)))
    if not parsers:
        return _collect([f"no message events ({_kinds(payload)})"])
    results: list[InboundMessage | str | Exception] = []
    unread = 0
    for items, parse in parsers:
        room = MAX_DELIVERY_EVENTS - len(results)
        results.extend(_attempt(item, parse) for item in items[:room])
        unread += max(0, len(items) - room)
    parsed = _collect(results)
    return Parsed(parsed.records, parsed.ignored, parsed.failed, unread)


def _kinds(payload: Mapping[str, Any], shown: int = 5) -> str:
    # A delivery is a handful of keys; a hostile one could have 100,000 of them.
    kinds = sorted(_shown(str(key)) for key in payload if key != "for_user_id")
    more = f", and {len(kinds) - shown} more" if len(kinds) > shown else ""
    return ", ".join(kinds[:shown]) + more if kinds else "empty"


def _v1_tweet(tweet: Any, ctx: ParseContext) -> InboundMessage:
    tweet = _mapping(tweet, "tweet")
    tweet_id = _v1_id(tweet, "tweet")
    where = f"tweet {tweet_id}"
    user = _mapping(tweet.get("user"), f"{where}.user")
    author = _v1_author(user, f"{where}.user")
    if author.platform_id == ctx.brand_id:
        raise _Ignored("the brand's own tweet")
    text = _v1_text(tweet, where)
    thread: str | None = None
    if tweet.get("retweeted_status") is not None:
        if not ctx.include_retweets:
            raise _Ignored("retweet (retweets not enabled)")
        retweeted = _mapping(tweet["retweeted_status"], f"{where}.retweeted_status")
        thread = _v1_id(retweeted, f"{where}.retweeted_status")
        # A retweet's own text is "RT @handle: " plus a cut copy; the original holds it whole.
        original = _v1_author(_mapping(retweeted.get("user"), f"{where}.retweeted_status.user"), where)
        text = f"RT @{original.handle or original.platform_id}: {_v1_text(retweeted, where)}"
    in_reply_to = _opt_id(tweet, "in_reply_to_status_id_str", where)
    # v1.1 has no conversation_id: a reply is threaded under the tweet it answers, a root under
    # itself; ingest then prefers the conversation of the replied-to message when it is stored.
    thread = thread or in_reply_to or tweet_id
    source_id, is_edit = _edit_identity(_v1_edit_ids(tweet, where), tweet_id, where)
    sent_at = _v1_time(tweet, where)
    attachments = list(_v1_media(tweet.get("extended_tweet") or tweet, where))
    quoted = _opt_id(tweet, "quoted_status_id_str", where)
    if quoted is not None:
        attachments.append(Attachment(kind="quote", extra={"tweet_id": quoted}))
    return InboundMessage(
        platform=PLATFORM,
        channel_key=ctx.channel_key,
        source_id=f"tweet:{source_id}",
        thread_key=f"tweet:{thread}",
        author=author,
        text=text,
        sent_at=sent_at,
        kind=MessageKind.MENTION,
        public=True,
        in_reply_to=f"tweet:{in_reply_to}" if in_reply_to else None,
        attachments=tuple(attachments),
        edited_at=sent_at if is_edit else None,
        raw={"for_user_id": ctx.brand_id, TWEET_EVENTS: [tweet]},
    )


def _v1_text(tweet: Mapping[str, Any], where: str) -> str:
    # Compatibility mode cuts `text` at 140 characters and sets `truncated`; the whole text is in
    # extended_tweet.full_text (https://developer.x.com/en/docs/x-api/v1/data-dictionary/object-model/tweet).
    if tweet.get("truncated") or "extended_tweet" in tweet:
        extended = _mapping(tweet.get("extended_tweet"), f"{where}.extended_tweet")
        return _str(extended, "full_text", f"{where}.extended_tweet")
    return _opt_str(tweet, "full_text", where) or _str(tweet, "text", where)


def _v1_edit_ids(tweet: Mapping[str, Any], where: str) -> Any:
    history = tweet.get("edit_history")
    if history is None:
        return None
    return _mapping(history, f"{where}.edit_history").get("edit_tweet_ids")


def _v1_media(container: Any, where: str) -> Iterable[Attachment]:
    if not isinstance(container, Mapping):
        return
    entities = container.get("extended_entities") or container.get("entities") or {}
    media = entities.get("media") if isinstance(entities, Mapping) else None
    if media is None:
        return
    if not isinstance(media, list):
        raise PayloadError(f"{where}: 'entities.media' must be an array")
    for item in media[:MAX_MEDIA]:
        item = _mapping(item, f"{where}.media[]")
        yield Attachment(kind=_opt_str(item, "type", where) or "media", file_id=_opt_str(item, "id_str", where))


def _v1_dm(event: Any, users: Mapping[str, Any], ctx: ParseContext) -> InboundMessage:
    event = _mapping(event, "dm event")
    event_id = _id(event, "id", "dm event")
    where = f"dm event {event_id}"
    event_type = _str(event, "type", where)
    if event_type != "message_create":
        raise _Ignored(f"dm event type {_shown(event_type)}")
    create = _mapping(event.get("message_create"), f"{where}.message_create")
    sender_id = _id(create, "sender_id", f"{where}.message_create")
    if sender_id == ctx.brand_id:
        raise _Ignored("the brand's own DM")
    data = _mapping(create.get("message_data"), f"{where}.message_data")
    attachments: tuple[Attachment, ...] = ()
    attachment = data.get("attachment")
    if isinstance(attachment, Mapping) and isinstance(attachment.get("media"), Mapping):
        media = attachment["media"]
        attachments = (Attachment(kind=_opt_str(media, "type", where) or "media",
                                  file_id=_opt_str(media, "id_str", where)),)
    user = users.get(sender_id)
    author = _v1_author(user, f"{where}.users[{sender_id}]") if isinstance(user, Mapping) else Author(sender_id)
    return InboundMessage(
        platform=PLATFORM,
        channel_key=ctx.channel_key,
        source_id=f"dm:{event_id}",
        thread_key=f"dm:{sender_id}",
        author=author,
        text=_opt_str(data, "text", where) or "",
        sent_at=_ms(event, "created_timestamp", where),
        kind=MessageKind.DIRECT,
        public=False,
        attachments=attachments,
        raw={"for_user_id": ctx.brand_id, DM_EVENTS: [event], "users": {sender_id: user} if user else {}},
    )


def _v1_like(like: Any, ctx: ParseContext) -> InboundMessage:
    like = _mapping(like, "like")
    where = f"like {_shown(_str(like, 'id', 'like'))}"
    author = _v1_author(_mapping(like.get("user"), f"{where}.user"), f"{where}.user")
    if author.platform_id == ctx.brand_id:
        raise _Ignored("the brand's own like")
    if not ctx.include_likes:
        raise _Ignored("like (likes not enabled)")
    liked = _mapping(like.get("favorited_status"), f"{where}.favorited_status")
    liked_id = _v1_id(liked, f"{where}.favorited_status")
    thread = _opt_id(liked, "in_reply_to_status_id_str", f"{where}.favorited_status") or liked_id
    return InboundMessage(
        platform=PLATFORM,
        channel_key=ctx.channel_key,
        source_id=f"like:{liked_id}:{author.platform_id}",
        thread_key=f"tweet:{thread}",
        author=author,
        text="",
        sent_at=_v1_time(like, where),
        kind=MessageKind.MENTION,
        public=True,
        in_reply_to=f"tweet:{liked_id}",
        attachments=(Attachment(kind="like", extra={"tweet_id": liked_id}),),
        raw={"for_user_id": ctx.brand_id, LIKE_EVENTS: [like]},
    )


def _v1_author(user: Mapping[str, Any], where: str) -> Author:
    verified = user.get("verified")
    return Author(
        platform_id=_v1_id(user, where),
        name=_opt_str(user, "name", where),
        handle=_opt_str(user, "screen_name", where),
        followers=_count(user.get("followers_count")),
        verified=verified if isinstance(verified, bool) else None,
    )


def _v1_id(obj: Mapping[str, Any], where: str) -> str:
    # v1.1 objects carry both `id` (a JSON number, unsafe above 2**53 in JavaScript) and `id_str`.
    if obj.get("id_str") is not None:
        return _id(obj, "id_str", where)
    return _id(obj, "id", where)


def _v1_time(obj: Mapping[str, Any], where: str) -> datetime:
    if obj.get("timestamp_ms") is not None:
        return _ms(obj, "timestamp_ms", where)
    value = _str(obj, "created_at", where)
    try:
        return datetime.strptime(value, _V1_CREATED_AT).astimezone(UTC)
    except (ValueError, OverflowError) as err:  # OverflowError: year 1 or 9999 moved across midnight
        raise PayloadError(f"{where}: 'created_at' is not a v1.1 timestamp") from err


# --- shared --------------------------------------------------------------------------------


def _attempt(item: Any, parse: Callable[[Any], InboundMessage]) -> InboundMessage | str | Exception:
    try:
        return parse(item)
    except _Ignored as why:
        return str(why)
    except PayloadError as err:
        return err


def _collect(results: Iterable[InboundMessage | str | Exception]) -> Parsed:
    records: list[InboundMessage] = []
    ignored: list[str] = []
    failed: list[str] = []
    for result in results:
        if isinstance(result, InboundMessage):
            records.append(result)
        elif isinstance(result, Exception):
            failed.append(str(result))
        else:
            ignored.append(result)
    # Both APIs list newest first; snowflake ids are time-ordered, so sort by them ascending.
    records.sort(key=_order)
    return Parsed(tuple(records), tuple(ignored), tuple(failed))


def _order(record: InboundMessage) -> tuple[datetime, int]:
    tail = record.source_id.rsplit(":", 1)[-1]
    return record.sent_at, int(tail) if _is_id(tail) else 0


def _edit_identity(history: Any, tweet_id: str, where: str) -> tuple[str, bool]:
    """The id of the tweet's first version, and whether this is a later version (an edit)."""
    # An edit is a new tweet whose edit_history_tweet_ids starts with the original's id
    # (https://docs.x.com/x-api/fundamentals/edit-posts); it updates the original message.
    if history is None:
        return tweet_id, False
    if not isinstance(history, list) or not all(isinstance(i, str) and _is_id(i) for i in history):
        raise PayloadError(f"{where}: edit history must be an array of ids")
    if not history or history[0] == tweet_id:
        return tweet_id, False
    return history[0], True


def _or_empty(obj: Mapping[str, Any], key: str, empty: Any) -> Any:
    value = obj.get(key)
    return empty if value is None else value


def _array(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if not isinstance(value, list):
        raise PayloadError(f"delivery: '{key}' must be an array")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        raise PayloadError(f"{where} is missing")
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        raise PayloadError(f"{where}: missing field '{key}'")
    if not isinstance(value, str):
        raise PayloadError(f"{where}: field '{key}' must be a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _str(obj, key, where)


def _id(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # tweepy and some fakes send numbers; X sends strings
    value = _str({key: value}, key, where)
    if not _is_id(value):
        raise PayloadError(f"{where}: field '{key}' must be a numeric id")
    return value


def _is_id(value: str) -> bool:
    """An X id: ASCII digits of an unsigned 64-bit integer (str.isdigit alone accepts '²' and '١')."""
    return 0 < len(value) <= 20 and value.isascii() and value.isdigit() and int(value) <= _MAX_ID


def _count(value: Any) -> int | None:
    """A non-negative count that fits a database integer (followers), or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def _shown(value: str) -> str:
    """A platform string as quoted in a reason: printable ASCII, at most _SHOWN characters."""
    text = value if value.isascii() and value.isprintable() else ascii(value)[1:-1]
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _opt_id(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if obj.get(key) is None else _id(obj, key, where)


def _iso(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    value = _str(obj, key, where)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise PayloadError(f"{where}: field '{key}' is not an ISO 8601 time") from err
    if parsed.tzinfo is None:
        raise PayloadError(f"{where}: field '{key}' has no time zone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as err:  # year 1 or 9999 moved across midnight
        raise PayloadError(f"{where}: field '{key}' is not a valid time") from err


def _ms(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    value = obj.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{where}: field '{key}' must be milliseconds since the epoch")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise PayloadError(f"{where}: field '{key}' is not a valid time") from err
