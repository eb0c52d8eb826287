"""Every route and method of the REST API against a fixed corpus of hostile input, on SQLite and PostgreSQL.

The cases are generated, not random, so a failure names a case that fails again. Whatever is sent (wrong
types in every field, integers beyond 64 bits, NaN, lone surrogates, NUL, non-UTF-8 bytes, deep nesting,
bodies near the 1 MiB limit, bad ids, query strings and Authorization headers), with a valid token of each
role, the answer is never a 5xx, every 4xx is `{"error": reason}`, and every JSON body is strict JSON.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from social_care import actions
from social_care.api.openapi import openapi_document
from social_care.store import canned
from social_care.store.agents import add_agent
from social_care.store.models import Agent, Message
from triage import TriageResult
from tests.social_care.api.raw_http import RawResponse, send
from tests.social_care.api.test_routes import Api, api, seed  # noqa: F401 (fixture)

JSON = b"application/json"
CONCURRENCY = 4  # a few clients at once, as integrations would be; every case is still sent exactly once
TRIAGED = TriageResult(lang="en", sentiment=0.0, sentiment_label="neutral", complaint=False, complaint_score=0.0,
                       angry=False, urgent=False, public_complaint=False, queue="support", priority="P3", score=0,
                       reasons=())

# JSON texts for one field's value: each type in the wrong place, and what the store cannot hold.
VALUES = [
    b"null", b"true", b"1.5", b"9223372036854775808", b"1" * 5000, b"1e999", b"NaN", b'""', b'"a\\u0000b"',
    b'"a\\ud800"', b'"x' + b"x" * 5000 + b'"', b'"9999-12-31T23:59:59-23:59"', b"[]", b'["a", 1]',
    b'{"$ne": null}', b"[" * 40 + b"]" * 40,
]

# Whole bodies, whatever the route.
BODIES = [
    b"", b"{", b"[1]", b"NaN", b"[" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"\xef\xbb\xbf{}",
    '{"text": "caffè"}'.encode("latin-1"), b'{"text": "\xed\xa0\x80"}', b'{"zzz": 1, "": 2}',
    b'{"text": "hi", "text": 5}', b'{"text": "' + b"x" * 1_000_000 + b'"}',
]

# Path segments where a route takes {id}.
IDS = ["1", "0", "abc", "%00", "%D9%A1", "2147483648", "99999999999999999999999"]

# Query parameter values.
QUERY_VALUES = ["%00", "%ED%A0%80", "-1", "99999999999999999999999", "x" * 5000, "open,,bogus", "me"]

# Authorization header values (raw bytes: aiohttp passes non-UTF-8 on as surrogate escapes).
AUTHORIZATIONS = [b"", b"Bearer ", b"Basic YTpi", b"Bearer sc_\xff\xfe", b"Bearer t\xc3\xb6ken", b"\xff Bearer x",
                  b"Bearer " + b"a" * 6000]

# Content types with a valid body.
CONTENT_TYPES = [None, b"text/plain", b"application/json\xff"]

# A plausible value for each field, so the hostile value of another field is the one the route looks at.
PLAUSIBLE = {
    "text": b'"hello"', "status": b'"pending"', "queue": b'"marketing"', "assignee": b'"me"',
    "until": b'"2099-01-01T10:00:00+01:00"', "tags": b'["lead"]', "name": b'"greeting"', "mode": b'"private"',
}


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    body: bytes = b""
    content_type: bytes | None = JSON
    authorization: bytes | None = None  # None: a valid token of the case's role

    def __str__(self) -> str:
        return f"{self.method} {self.target[:120]} body={self.body[:120]!r} ct={self.content_type!r} " \
               f"auth={self.authorization and self.authorization[:40]!r}"


def _fields(method: str, template: str) -> tuple[list[str], list[str]]:
    """The documented body fields of a route, and which of them are required."""
    operation = openapi_document()["paths"].get(template, {}).get(method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return list(schema.get("properties", {})), list(schema.get("required", []))


def _query_names(method: str, template: str) -> list[str]:
    operation = openapi_document()["paths"].get(template, {}).get(method.lower(), {})
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]


def _object(items: dict[str, bytes]) -> bytes:
    return b"{" + b", ".join(b'"' + name.encode() + b'": ' + value for name, value in items.items()) + b"}"


def cases(routes: list[tuple[str, str]]) -> Iterator[Case]:
    """The corpus for the app's routes, in a fixed order."""
    for method, template in routes:
        has_id = "{id}" in template
        path = template.replace("{id}", "1")
        for segment in IDS if has_id else ():
            yield Case(method, template.replace("{id}", segment), b"{}")
        for name in _query_names(method, template):
            for value in QUERY_VALUES:
                yield Case(method, f"{path}?{name}={value}")
            yield Case(method, f"{path}?{name}=1&{name}=%00")
        if method in ("GET", "HEAD", "DELETE"):
            continue
        fields, required = _fields(method, template)
        for body in BODIES:
            yield Case(method, path, body)
        for content_type in CONTENT_TYPES:
            yield Case(method, path, _object({f: PLAUSIBLE.get(f, b'"x"') for f in required}), content_type)
        for field in fields:
            for value in VALUES:
                body = {f: PLAUSIBLE.get(f, b'"x"') for f in required if f != field} | {field: value}
                yield Case(method, path, _object(body))
        if fields:
            # Near the 1 MiB limit: every field a long string.
            yield Case(method, path, _object({f: b'"' + b"y" * (900_000 // len(fields)) + b'"' for f in fields}))
    registered = set(routes)
    for template in sorted({template for _method, template in routes}):
        for method in ("DELETE", "PATCH", "PROPFIND"):
            if (method, template) not in registered:
                yield Case(method, template.replace("{id}", "1"), b"{}")  # a 405 that says which are allowed
    for authorization in AUTHORIZATIONS:
        for method, template in routes[:4]:
            yield Case(method, template.replace("{id}", "1"), authorization=authorization)


async def _seed(api: Api) -> None:
    """Two conversations with a customer message, a note and a reply each, and a canned reply."""
    conversation_ids = await seed(api, 1, 2)
    async with api.runtime.db.write() as session:
        alice = await session.scalar(select(Agent).where(Agent.name == "alice"))
        assert alice is not None
        for cid in conversation_ids:
            await actions.add_note(session, alice, cid, "a note")
            await actions.reply(session, alice, cid, "a reply")
        await canned.create_reply(session, await session.scalar(select(Agent).where(Agent.name == "max")),
                                  "Greeting", "Hi {customer_name}", "en")
        for message in (await session.scalars(select(Message).where(Message.direction == "inbound"))).all():
            message.triage = TRIAGED.as_json()  # so triage corrections reach the correction itself


def _problem(case: Case, response: RawResponse) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    if response.status >= 500:
        return f"{response.status} {response.body[:200]!r}"
    if case.method == "HEAD" or response.status == 204:
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"{response.status} with content-type {response.headers.get('content-type')!r}"
    try:
        body = response.strict_json()
    except ValueError as err:
        return f"{response.status} with a body that is not strict JSON ({err}): {response.body[:200]!r}"
    if response.status >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str)
                                       and body["error"]):
        return f"{response.status} without an error reason: {response.body[:200]!r}"
    return None


async def test_no_hostile_request_gets_a_5xx_and_every_4xx_says_why(api: Api) -> None:
    _agent, api.tokens["ada"] = await add_agent(api.runtime.db, "ada", "admin")
    await _seed(api)
    routes = sorted({(route.method, route.resource.canonical) for route in api.client.app.router.routes()
                     if route.resource is not None and route.resource.canonical.startswith(("/api/", "/healthz"))})
    assert len(routes) >= 20, routes
    roles = itertools.cycle(["alice", "mara", "max", "ada", "bruno"])
    server = api.client.server
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def run(case: Case, who: str) -> None:
        headers = [(b"Authorization", case.authorization if case.authorization is not None
                    else f"Bearer {api.tokens[who]}".encode())]
        if case.content_type is not None:
            headers.append((b"Content-Type", case.content_type))
        async with gate:
            response = await asyncio.wait_for(
                send(server.host, server.port, case.method, case.target, headers=headers, body=case.body), 60)
        statuses[response.status] += 1
        problem = _problem(case, response)
        if problem:
            failures.append(f"{case} as {who}: {problem}")

    started = time.monotonic()
    corpus = list(cases(routes))
    await asyncio.gather(*(run(case, who) for case, who in zip(corpus, roles)))
    total = len(corpus)
    elapsed = time.monotonic() - started
    print(f"\n{total} requests in {elapsed:.1f} s on {api.runtime.db.dialect}; statuses {sorted(statuses.items())}")
    assert not failures, f"{len(failures)} of {total} failed:\n" + "\n".join(failures[:40])
    # The corpus reaches the handlers: not everything is refused at the door.
    assert statuses.get(200, 0) + statuses.get(201, 0) + statuses.get(202, 0) > 20
    assert statuses.get(400, 0) > total // 3
