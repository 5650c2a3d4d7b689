"""Property-based fuzzing of the console API's JSON (Hypothesis), bounded in time for CI.

Any body, any ID in the URL, on every endpoint that changes something: never a 5xx, and no state
corruption (a consultation's state and counselor stay consistent; the counselor's limit holds; a
refused note or message stores nothing). Bounded by `max_examples` (see the README for the time).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage import consultations as consultation_repo
from storage import staff as staff_repo
from storage.models import Consultation, Note, OutboxMessage
from tests.test_security_findings import PASSWORD, waiting_consultations

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
FIELDS = ["text", "title", "disposition", "referral", "to", "note"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=40),
                    st.sampled_from(["referral", "medical", "continuing", "counselor2", "counselor1", "\u0000",
                                     "x" * 6000, "", " "]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={f: json_values for f in FIELDS}).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b'{"text":' + b"[" * 3000 + b"]" * 3000 + b"}", b'{"text":"\\ud800"}', b'{"text":"\\u0000"}',
                     b'{"referral":{},"disposition":"referral"}', b'{"referral":[],"disposition":"referral"}',
                     b"\xff\xfe", b"null", b"[]", b'{"to":{"login":"counselor2"}}']),
)
ACTIONS = ["claim", "messages", "notes", "close", "transfer"]
LIMIT = 2


@pytest.fixture
def world(app, clock):
    svc = app.extensions["tsunagu"]
    with svc.sessions.begin() as db:
        org = consultation_repo.ensure_default_organization(db, clock())
        one = staff_repo.create(db, "counselor1", PASSWORD, "counselor", org, clock())
        two = staff_repo.create(db, "counselor2", PASSWORD, "counselor", org, clock())
        one.max_active = two.max_active = LIMIT
        auth = {"Authorization": f"Bearer {staff_repo.issue_token(one, clock())}"}
    ids = waiting_consultations(app, clock, 4)
    return auth, ids


def _check_invariants(app):
    with app.extensions["tsunagu"].sessions() as db:
        for c in db.scalars(select(Consultation)):
            assert c.state in ("waiting", "active", "closed")
            assert (c.state == "active") <= (c.counselor_id is not None)
            assert (c.state == "closed") == (c.closed_at is not None)
        per_counselor = db.execute(select(Consultation.counselor_id, func.count())
                                   .where(Consultation.state == "active").group_by(Consultation.counselor_id)).all()
        assert all(n <= LIMIT for _, n in per_counselor)


@FUZZ
@given(action=st.sampled_from(ACTIONS), which=st.integers(min_value=0, max_value=3), body=bodies,
       content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1"]))
@example(action="close", which=0, body=b'{"disposition":"referral","referral":{}}', content_type="application/json")
@example(action="notes", which=0, body=b'{"text":"\\u0000"}', content_type="application/json")
@example(action="messages", which=0, body=b'{"text":"\\ud800"}', content_type="application/json")
@example(action="transfer", which=0, body=b'{"to":["counselor2"]}', content_type="application/json")
def test_any_json_body_on_any_action_is_never_a_5xx_and_leaves_the_state_consistent(
        app, client, world, action, which, body, content_type):
    auth, ids = world
    client.post(f"/api/v1/consultations/{ids[which]}/claim", headers=auth)  # the counselor holds some
    with app.extensions["tsunagu"].sessions() as db:
        notes_before = db.scalar(select(func.count()).select_from(Note))
        outbox_before = db.scalar(select(func.count()).select_from(OutboxMessage))
    r = client.post(f"/api/v1/consultations/{ids[which]}/{action}", data=body,
                    headers={**auth, "Content-Type": content_type})
    assert r.status_code < 500, r.get_data(as_text=True)[:200]
    assert r.is_json  # the API answers JSON, errors included
    with app.extensions["tsunagu"].sessions() as db:
        notes_after = db.scalar(select(func.count()).select_from(Note))
        outbox_after = db.scalar(select(func.count()).select_from(OutboxMessage))
    if action == "notes":
        assert notes_after == notes_before + (1 if r.status_code == 201 else 0)
    if action == "messages" and r.status_code != 201:
        assert outbox_after == outbox_before  # a refused message sends nothing
    _check_invariants(app)


@FUZZ
@given(path=st.sampled_from(["/api/v1/consultations/{}", "/api/v1/consultations/{}/claim", "/console/c/{}"]),
       ident=st.one_of(st.integers(min_value=-(10**25), max_value=10**25).map(str),
                       st.text(alphabet="0123456789abc%-._~", min_size=1, max_size=25)))
@example(path="/api/v1/consultations/{}", ident="9" * 20)
@example(path="/console/c/{}", ident=str(2**31))
def test_any_id_in_a_url_is_never_a_5xx(client, world, path, ident):
    auth, _ = world
    method = client.post if path.endswith("claim") else client.get
    r = method(path.format(ident), headers=auth)
    assert r.status_code < 500
