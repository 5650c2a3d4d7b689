"""The LINE platform emulator (a development package, outside the service's `bot/`): the only
stand-in for LINE in this project, both ways over real HTTP.

`LinePlatform` holds the state and the platform's rules; `create_blueprint` / `create_emulator_app`
serve it (the Messaging API plus `/_emulator/` control routes); `EmulatorServer` runs it on a free port.
"""

from linesim.api import create_blueprint, create_emulator_app
from linesim.platform import ApiCall, ApiResponse, LinePlatform, UnknownUserError
from linesim.server import EmulatorServer

__all__ = ["ApiCall", "ApiResponse", "EmulatorServer", "LinePlatform", "UnknownUserError", "create_blueprint",
           "create_emulator_app"]
