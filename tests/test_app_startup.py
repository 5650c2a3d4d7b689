"""What a freshly created app has ready before the first webhook arrives."""

from bot.app import create_app
from flows import triage_model


def test_the_triage_model_is_loaded_when_the_app_is_created(settings, clock):
    # A text the rules leave below high is the one the model must judge at once (perhaps a crisis in
    # words the lexicon lacks): it must not wait for 1.4 MB of JSON, nor have every thread parse it.
    triage_model.model.cache_clear()
    app = create_app(settings, clock=clock)
    try:
        assert triage_model.model.cache_info().currsize == 1
    finally:
        svc = app.extensions["tsunagu"]
        svc.sender.stop()
        svc.gateway.close()
        svc.engine.dispose()


def test_sqlite_handles_stored_events_in_small_batches_so_the_webhook_waits_less():
    # On SQLite a batch holds the single writer lock that the webhook's store (LINE waiting on it)
    # must wait for; on PostgreSQL the store never waits on it, so batches stay large there.
    from sqlalchemy import create_engine

    from bot.workers import EVENT_BATCH, batch_size

    assert batch_size(create_engine("sqlite://")) < EVENT_BATCH
    assert batch_size(create_engine("postgresql+psycopg://u@127.0.0.1/x")) == EVENT_BATCH == 32
