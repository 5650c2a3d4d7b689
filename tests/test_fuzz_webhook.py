"""Property-based fuzzing of POST /callback (Hypothesis), bounded in time for CI.

Properties, over bodies, headers, signatures, sizes and event shapes, signed and unsigned:
- the answer is never a 5xx (200 for a signed webhook body, 400/413 otherwise);
- a valid text event sent next to fuzzed neighbours is stored, processed and answered;
- nothing is left half-done: every stored event ends "done" (no failure, no retry pending).

Bounded by `max_examples` (about 20-40 s per database on the CI machine; see the README).
Failures found while writing these are kept as @example regression cases.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.models import InboxEvent

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

KEYS = ["type", "source", "deliveryContext", "webhookEventId", "message", "timestamp", "mode", "replyToken",
        "postback", "follow", "userId", "text", "id", "isRedelivery", "data", "params"]
TYPES = ["message", "follow", "unfollow", "postback", "join", "leave", "memberJoined", "unsend", "videoPlayComplete",
         "beacon", "accountLink", "things", "", "x" * 40]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(TYPES), st.just("\u0000"), st.just("\ud800"))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)),
    max_leaves=20)
sources = st.fixed_dictionaries({"type": st.sampled_from(["user", "group", "room"]) | scalars},
                                optional={"userId": scalars, "groupId": scalars, "roomId": scalars})
fuzzed_event = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": st.sampled_from(TYPES) | scalars}, optional={
        "source": st.one_of(scalars, sources),
        "deliveryContext": st.one_of(scalars, st.fixed_dictionaries({"isRedelivery": scalars})),
        "webhookEventId": scalars, "mode": scalars, "timestamp": scalars, "replyToken": scalars,
        "message": json_values, "postback": json_values}),
)
user_text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\u0000\u0007\ud800\u200b死にたい"),
                    min_size=1, max_size=60)


def _body(events, destination="U0", extra=None) -> bytes:
    payload = {"destination": destination, "events": events, **(extra or {})}
    return json.dumps(payload, ensure_ascii=True, allow_nan=True).encode()


def _stored(app):
    with app.extensions["tsunagu"].sessions() as db:
        return {key: status for key, status in db.execute(select(InboxEvent.webhook_event_id, InboxEvent.status))}


@FUZZ
@given(before=st.lists(fuzzed_event, max_size=3), after=st.lists(fuzzed_event, max_size=3), text=user_text)
@example(before=[{"type": "message", "deliveryContext": "oops"}], after=[], text="こんばんは")
@example(before=[{"type": "message", "source": {"type": 5}}], after=[{"type": "follow", "source": []}], text="a")
@example(before=[{"type": "message", "timestamp": float("inf"), "message": {"text": "\u0000"}}], after=[],
         text="\u0000")
@example(before=[{"type": "message", "webhookEventId": ["x"], "source": {"type": "user", "userId": 1}}],
         after=[], text="\ud800死にたい")
def test_a_valid_text_event_is_answered_whatever_its_neighbours_are(app, client, line, before, after, text):
    platform = line.platform
    uid = platform.add_user()
    good = platform.text_event(uid, text)
    body = _body([*before, good, *after])
    response = client.post("/callback", data=body, content_type="application/json",
                           headers={"X-Line-Signature": platform.sign(body)})
    response.close()  # the after-response work (sending) runs, as on a real server
    assert response.status_code == 200
    stored = _stored(app)
    assert stored[good["webhookEventId"]] == "done"
    assert set(stored.values()) <= {"done"}  # no neighbour failed or is waiting for a retry
    assert platform.inbox(uid), "the valid event got no answer"


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                      st.lists(fuzzed_event, max_size=4).map(_body)),
       signature=st.sampled_from(["valid", "none", "wrong", "unicode", "huge"]))
@example(body=b'{"events":[' + b"[" * 5000 + b"]" * 5000 + b"]}", signature="valid")
@example(body=b'{"events": NaN}', signature="valid")
@example(body=b'{"events": [1e999]}', signature="valid")
@example(body=b'{"events": [' + b"9" * 5000 + b"]}", signature="valid")
@example(body=b'{"events": []}', signature="unicode")
@example(body=b"\xff\xfe{}", signature="valid")
def test_any_body_with_any_signature_gets_a_4xx_or_200_never_a_5xx(app, client, line, body, signature):
    headers = {"valid": {"X-Line-Signature": line.platform.sign(body)}, "none": {},
               "wrong": {"X-Line-Signature": "bm90IGEgc2lnbmF0dXJl"},
               "unicode": {"X-Line-Signature": "署名"}, "huge": {"X-Line-Signature": "A" * 10_000}}[signature]
    response = client.post("/callback", data=body, content_type="application/json", headers=headers)
    response.close()
    assert response.status_code in (200, 400, 413)
    if signature != "valid":
        assert response.status_code == 400
    assert set(_stored(app).values()) <= {"done"}


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(size=st.integers(min_value=900_000, max_value=3_000_000),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
       fill=st.sampled_from(string.ascii_letters))
def test_bodies_over_the_limit_are_a_413_and_under_it_never_a_5xx(client, line, size, content_type, fill):
    body = b'{"events":[],"pad":"' + fill.encode() * size + b'"}'
    response = client.post("/callback", data=body, content_type=content_type,
                           headers={"X-Line-Signature": line.platform.sign(body)})
    assert response.status_code == (413 if len(body) > 1_000_000 else 200)
