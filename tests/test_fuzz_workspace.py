"""Property-based fuzzing of the workspace's own endpoints (issue 12), bounded for CI like the console
API's fuzzing: any JSON body on any new action, any query string on the stream — never a 5xx, the answer is
JSON, and a refusal carries a Japanese message."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from storage import consultations as consultation_repo
from storage import staff as staff_repo
from tests.test_fuzz_console_api import bodies
from tests.test_security_findings import PASSWORD, waiting_consultations

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
ACTIONS = ["read", "reopen", "labels", "supervisor-notes", "take-over"]
LATIN_WORD = re.compile(r"[A-Za-z]{4,}")


@pytest.fixture
def world(app, clock):
    with app.extensions["tsunagu"].sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        coordinator = staff_repo.create(db, "coord1", PASSWORD, "coordinator", org, clock())
        auth = {"Authorization": f"Bearer {staff_repo.issue_token(coordinator, clock())}"}
    return auth, waiting_consultations(app, clock, 2)


@FUZZ
@given(action=st.sampled_from(ACTIONS), which=st.integers(min_value=0, max_value=2), body=bodies)
@example(action="labels", which=0, body=b'{"label_id": 99999999999, "on": true}')
@example(action="read", which=0, body=b'{"message_id": -5}')
@example(action="reopen", which=0, body=b'{"reason": "\\u0000"}')
def test_any_body_on_a_workspace_action_is_never_a_5xx(client, world, action, which, body):
    auth, ids = world
    cid = ids[which] if which < len(ids) else 2**31 - 1
    r = client.post(f"/api/v1/consultations/{cid}/{action}", headers={**auth, "Content-Type": "application/json"},
                    data=body)
    assert r.status_code < 500, (action, body[:80], r.status_code)
    data = r.get_json()
    assert isinstance(data, dict)
    if r.status_code >= 400:
        assert not LATIN_WORD.search(data["error"]), data


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["v", "chat", "after", "notes_after", "watch", "x"]),
                              st.one_of(st.text(max_size=30), st.integers(min_value=-(2**70), max_value=2**70)
                                        .map(str)), max_size=5))
@example(params={"chat": str(2**31), "after": "-1"})
@example(params={"chat": "1", "after": "9" * 30})
def test_any_query_on_the_stream_is_never_a_5xx(client, world, params):
    auth, _ = world
    r = client.get("/api/v1/workspace", headers=auth, query_string=params)
    assert r.status_code in (200, 400), (params, r.status_code)
    json.loads(r.get_data(as_text=True))
