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


def iso(moment=None):
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-27T13:22:09.123Z``."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_target(payload):
    """Return the ``to`` field of an event payload, or raise ``bad_request``."""
    if not isinstance(payload, dict):
        raise ChatError("bad_request", "The payload must be an object.")
    target = payload.get("to")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_NAME_FIELD:
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
    text = text.strip()
    if not text:
        raise ChatError("empty", "The message is empty.")
    if len(text) > max_length:
        raise ChatError("too_long", f"Messages are at most {max_length} characters.")
    return target, text
