"""The OpenAPI 3.1 description of the REST API, served at /api/openapi.json."""
from __future__ import annotations

from typing import Any

from connectors import PLATFORMS
from social_care.actions import DEFAULT_DM_INVITATION, MAX_TAGS, SUGGESTED_TAGS, TAG_PATTERN
from social_care.api.inputs import MAX_DEPTH, MAX_ID
from social_care.store.canned import LANGUAGES, NAME_LIMIT, TEXT_LIMIT

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Bad input", 401: "Missing or invalid token", 403: "Your role may not do this",
            404: "Not found (or not visible to you)", 409: "Conflicts with the current state",
            413: "Body over 1 MiB", 415: "Content-Type must be application/json",
            503: "Not configured for this channel"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any], code: int = 200) -> dict[str, Any]:
    return {str(code): {"description": description, "content": {"application/json": {"schema": schema}}}}


ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ID = [{"name": "id", "in": "path", "required": True, "schema": ROW_ID,
       "description": f"A row id, 1 to {MAX_ID}; anything else is a 400"}]
READ_ERRORS = (400, 401, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415)
KEY = [{"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
        "description": "The channel's `key` from the configuration"}]
MODE_HELP = {
    "private": "a DM or chat message",
    "public": "a reply in the public thread (to `reply_to_message_id`, or the latest public message)",
    "move_to_dm": "a public reply inviting the customer to DMs (`public_text`), then `text` as a DM",
}


def reply_modes() -> list[str]:
    """Every reply mode some platform offers, the documented ones first."""
    offered = {mode for info in PLATFORMS.values() for mode in info.reply_modes}
    return [mode for mode in MODE_HELP if mode in offered] + sorted(offered - set(MODE_HELP))


def _webhook_paths() -> dict[str, Any]:
    """The inbound platform webhooks: authenticated by the platform's own secret, not a bearer token."""
    ok = {"type": "object", "properties": {"ok": {"type": "boolean"}, "ignored": {"type": "string"}}}
    return {
        "/webhooks/telegram/{key}": {"post": {
            "tags": ["webhooks"], "security": [],
            "summary": "Telegram Bot API updates (webhook mode); stored before the 200",
            "parameters": KEY + [{"name": "X-Telegram-Bot-Api-Secret-Token", "in": "header", "required": True,
                                  "schema": {"type": "string"}, "description": "The channel's `secret_token`"}],
            "requestBody": _json_body({"type": "object", "description": "A Telegram `Update`"}),
            "responses": _ok("Stored (or ignored, with the reason)", ok)
            | {"403": {"description": "Missing or wrong secret token",
                       "content": {"application/json": {"schema": ERROR}}}}
            | _errors(400, 413, 415)}},
        "/webhooks/x/{key}": {
            "get": {"tags": ["webhooks"], "security": [],
                    "summary": "X Account Activity challenge-response check (CRC)",
                    "parameters": KEY + [{"name": "crc_token", "in": "query", "required": True,
                                          "schema": {"type": "string"}}],
                    "responses": _ok("The answer to the challenge", {"type": "object", "properties": {
                        "response_token": {"type": "string", "description": "sha256=base64(HMAC-SHA256)"}}})
                    | _errors(400, 503)},
            "post": {"tags": ["webhooks"], "security": [],
                     "summary": "X Account Activity deliveries; stored before the 200",
                     "parameters": KEY + [{"name": "x-twitter-webhooks-signature", "in": "header", "required": True,
                                           "schema": {"type": "string"},
                                           "description": "sha256=base64(HMAC-SHA256(consumer secret, body))"}],
                     "requestBody": _json_body({"type": "object", "description": "An Account Activity event"}),
                     "responses": _ok("Stored (or ignored, with the reason)", {"type": "object", "properties": {
                         "ok": {"type": "boolean"}, "records": {"type": "integer"}, "ignored": {"type": "string"},
                         "malformed": {"type": "array", "items": {"type": "string"},
                                       "description": "the first 5 reasons"},
                         "malformed_count": {"type": "integer"},
                         "unread": {"type": "integer",
                                    "description": "events beyond the first 100 of a delivery, not read"}}})
                     | {"403": {"description": "Missing or wrong signature",
                                "content": {"application/json": {"schema": ERROR}}}}
                     | _errors(400, 413, 415, 503)}},
    }


def openapi_document() -> dict[str, Any]:
    """Build the document (cheap; built per request so it never drifts from the code's constants)."""
    conversation = {"$ref": "#/components/schemas/Conversation"}
    message = {"$ref": "#/components/schemas/Message"}
    canned = {"$ref": "#/components/schemas/CannedReply"}
    canned_fields = {
        "name": {"type": "string", "minLength": 1, "maxLength": NAME_LIMIT, "description": "Unique, ignoring case"},
        "text": {"type": "string", "minLength": 1, "maxLength": TEXT_LIMIT,
                 "description": "May use {customer_name}, {agent_name} and {brand}"},
        "language": {"type": ["string", "null"], "enum": [*LANGUAGES, None]},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "social-care API", "version": "0.1.0",
                 "description": "Conversations, replies and triage of social-care. Every error is "
                                "`{\"error\": reason}`. Authenticate with `Authorization: Bearer <token>` "
                                "(`social-care agent add NAME --role ROLE` prints a token). Bodies are strict "
                                f"UTF-8 JSON objects: unknown fields, NaN, integers beyond 64 bits, nesting deeper "
                                f"than {MAX_DEPTH}, NUL characters and lone UTF-16 surrogates are refused with a 400."},
        "security": [{"bearer": []}],
        "paths": {
            "/healthz": {"get": {"summary": "Liveness and database check", "security": [],
                                 "responses": _ok("Healthy", {"type": "object"}) | {"503": {"description": "Database unreachable"}}}},
            "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                          "responses": _ok("OpenAPI 3.1", {"type": "object"})}},
            "/api/me": {"get": {"summary": "The agent owning the token", "responses": _ok("Agent", {"$ref": "#/components/schemas/Agent"}) | _errors(401)}},
            "/api/conversations": {"get": {
                "summary": "List conversations, most urgent first (priority, then SLA due)",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "default": "open"},
                     "description": "Comma-separated: open, pending, resolved, or all"},
                    {"name": "queue", "in": "query", "schema": {"type": "string"},
                     "description": "Comma-separated: support, marketing, other"},
                    {"name": "channel", "in": "query", "schema": {"type": "string"},
                     "description": "A platform (`telegram`) or platform:key (`telegram:acme`)"},
                    {"name": "assignee", "in": "query", "schema": {"type": "string"},
                     "description": "An agent name, `me`, or `none` for unassigned"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                ],
                "responses": _ok("A page of conversations", {"type": "object", "properties": {
                    "conversations": {"type": "array", "items": conversation}, "total": {"type": "integer"},
                    "offset": {"type": "integer"}, "limit": {"type": "integer"},
                    "next_offset": {"type": ["integer", "null"]}}}) | _errors(400, 401, 403)}},
            "/api/conversations/{id}": {"get": {"summary": "One conversation with its messages and events",
                                                "parameters": ID, "responses": _ok("The conversation", conversation) | _errors(*READ_ERRORS)}},
            "/api/conversations/{id}/replies": {"post": {
                "summary": "Reply to the customer (queued in the durable outbox; delivery status on the message)",
                "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["text"], "properties": {
                    "text": {"type": "string", "minLength": 1},
                    "reply_to_message_id": ROW_ID | {"description": "Quote this customer message"},
                    "mode": {"type": "string", "enum": reply_modes(), "default": "private",
                             "description": "; ".join(f"`{m}`: {MODE_HELP.get(m, m)}" for m in reply_modes())
                             + ". Offered by platform: " + "; ".join(
                                 f"{info.title}: {', '.join(info.reply_modes)}" for info in PLATFORMS.values())},
                    "public_text": {"type": ["string", "null"], "minLength": 1,
                                    "description": "`move_to_dm` only: the public invitation; by default "
                                                   f"\"{DEFAULT_DM_INVITATION}\""}}}),
                "responses": _ok("Queued", message, 202) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/notes": {"post": {
                "summary": "Add an internal note (never sent to the customer)", "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
                "responses": _ok("Stored", message, 201) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/assign": {"post": {
                "summary": "Assign to an agent (`me`), or unassign with null", "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["assignee"], "properties": {
                    "assignee": {"type": ["string", "null"]},
                    "force": {"type": "boolean", "description": "Managers: take over someone else's conversation"}}}),
                "responses": _ok("Updated", conversation) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/status": {"post": {
                "summary": "Resolve, reopen (open) or set pending", "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["status"], "properties": {
                    "status": {"type": "string", "enum": ["open", "pending", "resolved"]}}}),
                "responses": _ok("Updated", conversation) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/forward": {"post": {
                "summary": "Move to another queue, e.g. marketing, with a note", "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["queue"], "properties": {
                    "queue": {"type": "string", "enum": ["support", "marketing", "other"]}, "note": {"type": ["string", "null"]}}}),
                "responses": _ok("Updated", conversation) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/snooze": {"post": {
                "summary": "Snooze until a time in the future (the conversation stays open; a customer message wakes it)",
                "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["until"], "properties": {
                    "until": {"type": "string", "format": "date-time",
                              "description": "ISO-8601 with an offset, e.g. 2026-11-22T18:00:00+01:00"}}}),
                "responses": _ok("Updated", conversation) | _errors(*WRITE_ERRORS)}},
            "/api/conversations/{id}/tags": {"put": {
                "summary": "Replace the conversation's tags (marketing: only on marketing-queue threads)",
                "parameters": ID,
                "requestBody": _json_body({"type": "object", "required": ["tags"], "properties": {
                    "tags": {"type": "array", "maxItems": MAX_TAGS, "uniqueItems": True,
                             "items": {"type": "string", "pattern": f"^{TAG_PATTERN.pattern}$"},
                             "description": f"Lowercase slugs; suggested: {', '.join(SUGGESTED_TAGS)}. "
                                            "Duplicates are dropped."}}}),
                "responses": _ok("Updated", conversation) | _errors(*WRITE_ERRORS)}},
            "/api/canned-replies": {
                "get": {"summary": "Canned replies, by name (any role)", "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"},
                     "description": "Keep replies whose name or text contains every word"},
                    {"name": "language", "in": "query", "schema": {"type": "string", "enum": list(LANGUAGES)},
                     "description": "Keep replies in this language or in any language"}],
                        "responses": _ok("Canned replies", {"type": "object", "properties": {
                            "canned_replies": {"type": "array", "items": canned}}}) | _errors(400, 401)},
                "post": {"summary": "Add a canned reply (managers and admins)",
                         "requestBody": _json_body({"type": "object", "required": ["name", "text"],
                                                    "properties": canned_fields}),
                         "responses": _ok("Created", canned, 201) | _errors(*WRITE_ERRORS)}},
            "/api/canned-replies/{id}": {
                "patch": {"summary": "Change a canned reply (managers and admins); `version` guards against "
                                     "overwriting someone else's edit", "parameters": ID,
                          "requestBody": _json_body({"type": "object", "minProperties": 1, "properties": {
                              **canned_fields, "version": {"type": ["integer", "null"], "minimum": 1}}}),
                          "responses": _ok("Updated", canned) | _errors(*WRITE_ERRORS)},
                "delete": {"summary": "Delete a canned reply (managers and admins)", "parameters": ID + [
                    {"name": "version", "in": "query", "schema": {"type": "integer"},
                     "description": "Refuse (409) if the reply changed since this version"}],
                           "responses": {"204": {"description": "Deleted"}} | _errors(400, 401, 403, 404, 409)}},
            "/api/messages/{id}": {"get": {"summary": "One message, with its delivery status", "parameters": ID,
                                           "responses": _ok("The message", message) | _errors(*READ_ERRORS)}},
            "/api/messages/{id}/triage": {"post": {
                "summary": "Correct a customer message's queue or flags; stored as a label for `triage train`",
                "parameters": ID,
                "requestBody": _json_body({"type": "object", "minProperties": 1, "properties": {
                    "queue": {"type": "string", "enum": ["support", "marketing", "other"]},
                    "complaint": {"type": "boolean"}, "angry": {"type": "boolean"}, "urgent": {"type": "boolean"}}}),
                "responses": _ok("The corrected message", message) | _errors(*WRITE_ERRORS)}},
            "/api/channels": {"get": {"summary": "Channels, their state and platform budgets (X rate limits)",
                                      "responses": _ok("Channels", {"type": "object"}) | _errors(401)}},
            "/api/messages/{id}/retry": {"post": {
                "summary": "Retry a failed (or unknown) reply with a fresh retry budget", "parameters": ID,
                "responses": _ok("Queued again", message, 202) | _errors(400, 401, 403, 404, 409)}},
            **_webhook_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Agent": {"type": "object", "properties": {"name": {"type": "string"}, "display_name": {"type": "string"},
                                                           "role": {"type": "string", "enum": ["agent", "marketing", "manager", "admin"]}}},
                "Conversation": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "status": {"type": "string"}, "queue": {"type": "string"},
                    "priority": {"type": "string", "enum": ["P1", "P2", "P3", "P4"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "channel": {"type": "object"}, "customer": {"type": "object"},
                    "assignee": {"type": ["object", "null"]}, "sla_due": {"type": ["string", "null"], "format": "date-time"},
                    "waiting_since": {"type": ["string", "null"], "format": "date-time"},
                    "messages": {"type": "array", "items": message}, "events": {"type": "array", "items": {"type": "object"}}}},
                "CannedReply": {"type": "object", "properties": {
                    "id": {"type": "integer"}, **canned_fields, "version": {"type": "integer"},
                    "created_by": {"type": ["string", "null"]}, "updated_by": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "updated_at": {"type": "string", "format": "date-time"}}},
                "Message": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "direction": {"type": "string", "enum": ["inbound", "outbound", "note"]},
                    "text": {"type": "string"}, "platform_message_id": {"type": ["string", "null"]},
                    "delivery": {"type": "object", "properties": {
                        "status": {"type": "string", "enum": ["pending", "sent", "failed", "unknown"]},
                        "error": {"type": ["string", "null"]}, "attempts": {"type": ["integer", "null"]}}},
                    "analysis": {"type": "object"}}},
            },
        },
    }
