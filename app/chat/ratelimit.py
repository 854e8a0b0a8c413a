"""Per-user limits on socket events, on the ``limits`` library's moving window."""

from limits import RateLimitItemPerSecond, storage, strategies


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

    The limit is per user, so it counts across all of that user's sockets.
    """

    TYPING = RateLimitItemPerSecond(1, 1)

    def __init__(self, message_spec, storage_uri="memory://"):
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        self._messages = parse_rate(message_spec)

    def allow_message(self, user_id):
        """Count one message for ``user_id``; False when it is over the limit."""
        return self._messages is None or self._limiter.hit(self._messages, "say", str(user_id))

    def allow_typing(self, user_id):
        """Count one typing relay for ``user_id``; False within a second of the last."""
        return self._limiter.hit(self.TYPING, "typing", str(user_id))
