"""Per-user limits on socket events, on the ``limits`` library's moving window."""

from limits import RateLimitItemPerSecond, storage, strategies

from .outage import OutageLog


def parse_rate(spec):
    """Turn ``"20/10"`` (20 per 10 seconds) into a rate item; ``"0"`` means no limit."""
    spec = (spec or "0").strip()
    if spec == "0":
        return None
    try:
        count, seconds = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"CHAT_RATE_LIMIT must look like '20/10' or be '0', not {spec!r}") from None
    if count < 1 or seconds < 1:
        raise ValueError(f"CHAT_RATE_LIMIT needs a positive count and period, not {spec!r}")
    return RateLimitItemPerSecond(count, seconds)


class RateLimits:
    """How often each user may send messages and typing notices.

    The limit is per user, so it counts across all of that user's sockets, and,
    with a Redis ``storage_uri``, across all server processes. When the
    storage does not answer the limit is not enforced (fail open): refusing
    every message because Redis is away would lose more than it protects.
    """

    TYPING = RateLimitItemPerSecond(1, 1)

    def __init__(self, message_spec, storage_uri="memory://", **storage_options):
        self._limiter = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(storage_uri, **storage_options)
        )
        self._messages = parse_rate(message_spec)
        self._outage = OutageLog("rate-limit storage")

    def allow_message(self, user_id):
        """Count one message for ``user_id``; False when it is over the limit."""
        return self._messages is None or self._hit(self._messages, "say", user_id)

    def allow_typing(self, user_id):
        """Count one typing relay for ``user_id``; False within a second of the last."""
        return self._hit(self.TYPING, "typing", user_id)

    def _hit(self, item, kind, user_id):
        try:
            allowed = self._limiter.hit(item, kind, str(user_id))
        except Exception as error:  # the storage's own errors vary by backend
            self._outage.failed(error)
            return True
        self._outage.ok()
        return allowed
