"""The /chat wire format: payload checks, error acks and timestamps. No Flask here."""

from datetime import UTC, datetime

EVERYONE = "all"
MAX_NAME_FIELD = 128


class ChatError(Exception):
    """A request the server refuses; becomes ``{"ok": false, "error", "message"}``."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def ack(self):
        """The error acknowledgement sent back to the client."""
        return {"ok": False, "error": self.code, "message": self.message}


# A failure of the server's own: logged, and the client is asked to try again.
INTERNAL_ERROR = ChatError("internal", "The server failed to handle this; try again.")


def iso(moment=None):
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-27T13:22:09.123Z``."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is not None:  # naive: UTC already, as the database keeps it
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _unicode(text):
    """Whether ``text`` is valid Unicode, which a database can store.

    JSON can carry a lone surrogate (``"\\ud800"``) and python-socketio's
    decoder passes it on; no UTF-8 encoder takes it, so such a message would
    fail in the store, and with it every message sharing its transaction.
    """
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_target(payload):
    """Return the ``to`` field of an event payload, or raise ``bad_request``."""
    if not isinstance(payload, dict):
        raise ChatError("bad_request", "The payload must be an object.")
    target = payload.get("to")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_NAME_FIELD or not _unicode(target):
        raise ChatError("bad_request", "'to' must be 'all' or a username.")
    return target


def read_say(payload, max_length):
    """Return ``(to, text)`` from a ``say`` payload, text trimmed, or raise ChatError."""
    target = read_target(payload)
    text = payload.get("msg")
    if not isinstance(text, str):
        raise ChatError("bad_request", "'msg' must be a string.")
    if "\x00" in text:
        raise ChatError("bad_request", "Messages cannot contain NUL characters.")
    if not _unicode(text):
        raise ChatError("bad_request", "Messages must be valid Unicode text.")
    text = text.strip()
    if not text:
        raise ChatError("empty", "The message is empty.")
    if len(text) > max_length:
        raise ChatError("too_long", f"Messages are at most {max_length} characters.")
    return target, text


MAX_CID_LENGTH = 64
HISTORY_PAGE = 50  # messages sent on connect without ``since``, and the default page
HISTORY_MAX_PAGE = 100  # largest page a ``history`` request may ask for
CATCH_UP_MAX = 500  # most messages sent on connect with ``since``


def read_cid(payload):
    """Return the optional ``cid`` of a ``say`` payload (None when absent), or raise."""
    cid = payload.get("cid")
    if cid is None:
        return None
    if not isinstance(cid, str) or not 0 < len(cid) <= MAX_CID_LENGTH or not _unicode(cid):
        raise ChatError("bad_request", f"'cid' must be a string of 1 to {MAX_CID_LENGTH} characters.")
    return cid


def _message_id(value):
    # bool is an int in Python, but true is not a message id.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_since(auth):
    """The ``since`` id of a connection's auth data, or None when absent or unusable.

    A connection cannot be answered with an error ack, so a malformed ``since``
    is treated as absent: the socket still gets the latest messages.
    """
    if isinstance(auth, dict) and _message_id(auth.get("since")):
        return auth["since"]
    return None


def read_history_request(payload):
    """Return ``(before, after, limit)`` from a ``history`` request, or raise bad_request.

    ``before`` pages back from an id (older messages); ``after`` pages forward
    from one (used to finish a catch-up that was cut short). Neither means the latest.
    """
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ChatError("bad_request", "The payload must be an object.")
    before, after = payload.get("before"), payload.get("after")
    limit = payload.get("limit", HISTORY_PAGE)
    for name, value in (("before", before), ("after", after)):
        if value is not None and not _message_id(value):
            raise ChatError("bad_request", f"'{name}' must be a message id.")
    if before is not None and after is not None:
        raise ChatError("bad_request", "Give 'before' or 'after', not both.")
    if not _message_id(limit) or not 1 <= limit <= HISTORY_MAX_PAGE:
        raise ChatError("bad_request", f"'limit' must be 1 to {HISTORY_MAX_PAGE}.")
    return before, after, limit
