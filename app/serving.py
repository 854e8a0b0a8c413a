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


class WebsocketTuning:
    """WSGI middleware in front of Socket.IO: compression off, shutdown noise out.

    - Browsers always offer permessage-deflate and the Python websocket stacks
      accept it, then compress every small frame for every recipient: a chat
      message is smaller than what compression saves, and fan-out multiplies
      the CPU spent. Unless ``compression`` is on, the offer is hidden from
      the server, which then answers without the extension.
    - Under gunicorn's eventlet worker, every websocket close logs
      "socket shutdown error: [Errno 9] Bad file descriptor" (eventlet shuts
      down a socket gunicorn already closed). That line is dropped; every
      other error line goes through.
    """

    NOISE = "socket shutdown error: [Errno 9]"

    def __init__(self, wsgi_app, compression=False):
        self.wsgi_app = wsgi_app
        self.compression = compression

    def __call__(self, environ, start_response):
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            if not self.compression:
                environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
            if "wsgi.errors" in environ:
                environ["wsgi.errors"] = _FilteredErrors(environ["wsgi.errors"], self.NOISE)
        return self.wsgi_app(environ, start_response)


class _FilteredErrors:
    """A ``wsgi.errors`` stream that drops lines containing ``noise``."""

    def __init__(self, stream, noise):
        self._stream = stream
        self._noise = noise

    def write(self, text):
        if self._noise in text:
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)
