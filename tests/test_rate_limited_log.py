"""RateLimitedLog: an outage that fails every message logs one line per interval, not one each."""

from __future__ import annotations

import logging

import pytest

from mailsink.connections import RateLimitedLog


def test_repeats_within_the_interval_are_counted_into_the_next_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.rate_limited")
    limited = RateLimitedLog(logger, interval=60.0)
    with caplog.at_level(logging.ERROR, logger="test.rate_limited"):
        for _ in range(50):
            try:
                raise ConnectionError("database away")
            except ConnectionError:
                limited.log(logging.ERROR, "storing a message failed", exc_info=True)
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None  # the first keeps its traceback
    limited.interval = 0.0
    limited._next = 0.0
    limited.log(logging.ERROR, "storing a message failed")
    last = caplog.records[-1].getMessage()
    assert last == "storing a message failed (49 more like it not logged)"
