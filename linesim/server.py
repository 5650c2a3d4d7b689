"""Serve the emulator (or any WSGI app) on 127.0.0.1 and a free port, in a background thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from linesim.api import create_emulator_app
from linesim.platform import LinePlatform

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class _QuietHandler(WSGIRequestHandler):
    # No access log: paths such as /_emulator/users/<id>/inbox hold LINE user IDs, which stay out of logs.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class EmulatorServer:
    """`with EmulatorServer(platform) as server:` then point the SDK at `server.url`.

    Threaded, so a request may wait on another to the same server (the bot answering a webhook that
    a control route is delivering). `app` serves something else instead, e.g. the service with the
    emulator blueprint mounted, or a tiny webhook receiver.
    """

    def __init__(self, platform: LinePlatform | None = None, *, app: WSGIApplication | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if app is None:
            if platform is None:
                raise ValueError("EmulatorServer needs a platform or an app")
            app = create_emulator_app(platform)
        self.platform = platform
        self._app = app
        self._host, self._port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        if self._server is None:
            self._server = make_server(self._host, self._port, self._app, threaded=True,
                                       request_handler=_QuietHandler)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"emulator-server:{self._server.server_port}", daemon=True)
            self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running; call start() first")
        return f"http://{self._host}:{self._server.server_port}"

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        server.shutdown()  # requests still hanging in a stall are daemon threads; they are not waited for
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
