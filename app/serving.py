"""Which Socket.IO async mode fits the server that is running this process."""

import sys


def detect_async_mode(override=None):
    """Return the async mode for python-engineio.

    An explicit ``override`` (``CHAT_ASYNC_MODE``) wins. Otherwise the mode
    follows what has patched the standard library: gunicorn's eventlet and
    gevent workers patch it before loading the app, while ``flask run`` and
    ``gunicorn -k gthread`` leave it alone and need ``threading``. Letting
    python-engineio guess instead picks eventlet whenever it is installed,
    which breaks the websocket upgrade under ``flask run``.
    """
    if override:
        return override
    # Look only at modules already imported: importing eventlet just to ask
    # would itself emit its deprecation warning.
    eventlet_patcher = sys.modules.get("eventlet.patcher")
    if eventlet_patcher is not None and eventlet_patcher.is_monkey_patched("socket"):
        return "eventlet"
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("socket"):
        return "gevent"
    return "threading"
