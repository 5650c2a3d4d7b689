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
