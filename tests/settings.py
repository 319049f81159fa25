"""The test suite's settings: the board's own, read as a development checkout reads them.

``DEBUG`` is off unless asked for, which makes ``SECRET_KEY`` mandatory and turns HTTPS on:
production's side. The suite asks for it the way ``make run`` does, before the settings are
read, so every production check in messageboard/settings.py stays as it is. Django's test
runner still runs each test with ``DEBUG`` off, and an environment that sets ``DEBUG`` itself
wins. Processes the tests start inherit the variable.
"""

import os

os.environ.setdefault("DEBUG", "true")

from messageboard.settings import *  # noqa: F403
