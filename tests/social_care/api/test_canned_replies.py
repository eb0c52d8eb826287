"""The canned-replies API: anyone signed in reads, managers and admins write; errors are JSON with a reason."""
from __future__ import annotations

from typing import Any

import pytest

from social_care.store import canned
from tests.social_care.api.test_routes import Api, api  # noqa: F401 (fixture)


def _published(api: Api) -> list[tuple[str, dict[str, Any]]]:
    seen: list[tuple[str, dict[str, Any]]] = []
    api.runtime.bus.subscribe(lambda topic, data: seen.append((topic, data)))
    return seen


async def _create(api: Api, body: dict[str, Any], who: str = "max"):  # type: ignore[no-untyped-def]
    return await api.client.post("/api/canned-replies", json=body, headers=api.auth(who))


async def test_a_manager_creates_edits_and_deletes_and_every_role_reads(api: Api) -> None:
    seen = _published(api)
    created = await _create(api, {"name": "Greeting", "text": "Hi {customer_name}", "language": "en"})
    assert created.status == 201
    reply = await created.json()
    assert {k: reply[k] for k in ("name", "text", "language", "version", "created_by", "updated_by")} == {
        "name": "Greeting", "text": "Hi {customer_name}", "language": "en", "version": 1,
        "created_by": "max", "updated_by": "max"}
    assert ("canned.changed", {"ids": [reply["id"]]}) in seen

    for who in ("alice", "mara", "max"):
        listing = await api.get("/api/canned-replies", who)
        assert listing.status == 200
        assert [r["name"] for r in (await listing.json())["canned_replies"]] == ["Greeting"]

    patched = await api.client.patch(f"/api/canned-replies/{reply['id']}", json={"text": "Hello", "version": 1},
                                     headers=api.auth("max"))
    assert patched.status == 200
    assert (await patched.json())["text"] == "Hello" and (await patched.json())["version"] == 2

    stale = await api.client.patch(f"/api/canned-replies/{reply['id']}", json={"text": "Hey", "version": 1},
                                   headers=api.auth("max"))
    assert stale.status == 409 and "changed by someone else" in (await stale.json())["error"]

    deleted = await api.client.delete(f"/api/canned-replies/{reply['id']}", headers=api.auth("max"),
                                      params={"version": "2"})
    assert deleted.status == 204
    assert (await (await api.get("/api/canned-replies")).json())["canned_replies"] == []
    assert seen.count(("canned.changed", {"ids": [reply["id"]]})) == 3


async def test_search_and_language_filter(api: Api) -> None:
    for name, text, language in (("Greeting", "Hi there", "en"), ("Saluto", "Ciao", "it"), ("Wave", "👋", None)):
        assert (await _create(api, {"name": name, "text": text, "language": language})).status == 201
    names = lambda body: [r["name"] for r in body["canned_replies"]]  # noqa: E731
    assert names(await (await api.get("/api/canned-replies", q="ciao")).json()) == ["Saluto"]
    assert names(await (await api.get("/api/canned-replies", language="it")).json()) == ["Saluto", "Wave"]
    bad = await api.get("/api/canned-replies", language="fr")
    assert bad.status == 400 and "language" in (await bad.json())["error"]


@pytest.mark.parametrize("who", ["alice", "mara"])
async def test_other_roles_may_not_write(api: Api, who: str) -> None:
    reply = await (await _create(api, {"name": "Greeting", "text": "Hi"})).json()
    assert (await _create(api, {"name": "Mine", "text": "x"}, who)).status == 403
    # The role is checked before the body: a broken body from the wrong role is still a 403.
    assert (await _create(api, {"nope": 1}, who)).status == 403
    patched = await api.client.patch(f"/api/canned-replies/{reply['id']}", json={"text": "x"}, headers=api.auth(who))
    assert patched.status == 403 and "managers and admins" in (await patched.json())["error"]
    deleted = await api.client.delete(f"/api/canned-replies/{reply['id']}", headers=api.auth(who))
    assert deleted.status == 403


@pytest.mark.parametrize(("body", "reason"), [
    ({"text": "x"}, "missing field: name"),
    ({"name": "x"}, "missing field: text"),
    ({"name": "", "text": "x"}, "name must be a non-empty string"),
    ({"name": "n" * 101, "text": "x"}, "the limit is 100"),
    ({"name": "x", "text": "t" * 4097}, "the limit is 4096"),
    ({"name": "x", "text": "t", "language": "de"}, "language must be one of en, it"),
    ({"name": "x", "text": "t", "lang": "en"}, "unknown field(s): lang"),
])
async def test_bad_input_is_a_400_with_a_reason(api: Api, body: dict[str, Any], reason: str) -> None:
    response = await _create(api, body)
    assert response.status == 400
    assert reason in (await response.json())["error"]


async def test_duplicate_names_conflict_and_unknown_ids_are_404(api: Api) -> None:
    await _create(api, {"name": "Greeting", "text": "Hi"})
    duplicate = await _create(api, {"name": "greeting", "text": "Hi"})
    assert duplicate.status == 409 and "already exists" in (await duplicate.json())["error"]
    for method in ("patch", "delete"):
        response = await getattr(api.client, method)("/api/canned-replies/999", json={"text": "x"},
                                                      headers=api.auth("max"))
        assert response.status == 404 and "not found" in (await response.json())["error"]
    wrong = await api.client.patch("/api/canned-replies/abc", json={"text": "x"}, headers=api.auth("max"))
    assert wrong.status == 400 and "positive integer" in (await wrong.json())["error"]
    bad_version = await api.client.delete("/api/canned-replies/1", params={"version": "x"}, headers=api.auth("max"))
    assert bad_version.status == 400


async def test_names_and_texts_come_back_exactly_as_stored(api: Api) -> None:
    hostile = "<script>alert(1)</script>\u202e\u200b"
    created = await _create(api, {"name": hostile, "text": f"[x](javascript:alert(1)) {hostile}"})
    assert created.status == 201
    listed = (await (await api.get("/api/canned-replies")).json())["canned_replies"]
    assert listed[0]["name"] == hostile and listed[0]["text"].endswith(hostile)
    assert created.content_type == "application/json"


async def test_the_openapi_document_describes_the_new_routes(api: Api) -> None:
    spec = await (await api.client.get("/api/openapi.json")).json()
    assert set(spec["paths"]["/api/canned-replies"]) == {"get", "post"}
    assert set(spec["paths"]["/api/canned-replies/{id}"]) == {"patch", "delete"}
    assert "post" in spec["paths"]["/api/conversations/{id}/snooze"]
    assert "put" in spec["paths"]["/api/conversations/{id}/tags"]
    assert spec["components"]["schemas"]["CannedReply"]["properties"]["name"]["maxLength"] == canned.NAME_LIMIT
    assert "tags" in spec["components"]["schemas"]["Conversation"]["properties"]
