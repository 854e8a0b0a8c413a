"""The wire format's timestamps."""

import re
from datetime import UTC, datetime, timedelta, timezone

from app.chat.protocol import iso


def test_a_stored_time_is_sent_as_utc_with_milliseconds():
    """The database keeps naive UTC times; they go out as ISO 8601 with a Z."""
    assert iso(datetime(2026, 12, 7, 4, 5, 6, 123456)) == "2026-12-07T04:05:06.123Z"
    assert iso(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"


def test_an_aware_time_is_converted_to_utc():
    assert iso(datetime(2026, 12, 7, 4, 5, 6, 123456, tzinfo=UTC)) == "2026-12-07T04:05:06.123Z"
    assert iso(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2)))) == "2025-12-31T22:00:00.000Z"


def test_now_is_the_default():
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert datetime.fromisoformat(stamp) >= before
