"""Every webhook body from the LINE SDK's own test suite (../shared/line-fixtures) gets a 200."""

import json

import pytest

from tests.conftest import SHARED, require_or_skip

FIXTURES = SHARED / "line-fixtures"
BODIES = sorted(FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []


def post(client, platform, body: bytes):
    response = client.post("/callback", data=body, content_type="application/json",
                           headers={"X-Line-Signature": platform.sign(body)})
    response.close()
    return response


def test_the_shared_fixtures_are_there():
    require_or_skip(len(BODIES) == 29, f"the shared LINE fixtures are not at {FIXTURES}")


@pytest.mark.parametrize("path", BODIES, ids=[p.name for p in BODIES])
def test_each_fixture_body_gets_200_and_the_server_stays_healthy(path, client, line):
    response = post(client, line.platform, path.read_bytes())
    assert response.status_code == 200
    assert client.get("/healthz").status_code == 200


def test_the_whole_sdk_webhook_file_in_one_body(client, line):
    require_or_skip(bool(BODIES), f"the shared LINE fixtures are not at {FIXTURES}")
    body = (FIXTURES / "webhook.json").read_bytes()
    assert post(client, line.platform, body).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_fixture_events_from_groups_and_rooms_get_no_reply_there(client, line):
    require_or_skip(bool(BODIES), f"the shared LINE fixtures are not at {FIXTURES}")
    for path in BODIES:
        if path.name == "webhook.json":
            continue
        body = json.loads(path.read_bytes())
        if body["events"][0].get("source", {}).get("type") in ("group", "room"):
            post(client, line.platform, path.read_bytes())
    replies = [c for c in line.platform.api_calls() if c[1] == "/v2/bot/message/reply"]
    assert replies == []
