"""Bulk API writes never hold SMTP up for more than a chunk, and are capped (issue 11.2)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import delivery_times, incoming, p95
from mailsink.server import Sink
from mailsink.web.params import MAX_TAGS

MESSAGES = 10_000


def _request(url: str, method: str, body: object) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture
def full_sink(make_sink: Callable[..., Sink], tmp_path: Path) -> tuple[Sink, list[str]]:
    """Return a SQLite sink with a web server and MESSAGES stored messages, and their IDs."""
    sink = make_sink(store=str(tmp_path / "mail.db"), http_port=0)
    batch = [incoming(subject=f"m{n}") for n in range(MESSAGES)]
    for start in range(0, MESSAGES, 1_000):
        sink.store.add(batch[start : start + 1_000])
    return sink, [item.id for item in batch]


def test_more_tags_than_the_cap_are_refused(full_sink: tuple[Sink, list[str]]) -> None:
    sink, ids = full_sink
    url = f"{sink.web_url}/api/v1/tags"
    tags = [f"t{n}" for n in range(MAX_TAGS + 1)]
    assert _request(url, "PUT", {"IDs": ids[:1], "Tags": tags}) == 400
    assert _request(url, "PUT", {"IDs": ids[:1], "Tags": tags[:MAX_TAGS]}) == 200


def test_smtp_waits_only_milliseconds_behind_bulk_api_writes(
    full_sink: tuple[Sink, list[str]],
) -> None:
    """The attack: one PUT /api/v1/tags of 20k IDs held every SMTP session for 14 s."""
    sink, ids = full_sink
    stop = threading.Event()
    tags = [f"tag{n}" for n in range(MAX_TAGS)]
    calls = [
        (f"{sink.web_url}/api/v1/tags", "PUT", {"IDs": ids, "Tags": tags}),
        (f"{sink.web_url}/api/v1/messages", "PUT", {"IDs": ids, "Read": True}),
        (f"{sink.web_url}/api/v1/messages", "PUT", {"Read": False}),
    ]
    statuses: list[int] = []

    def attack() -> None:
        while not stop.is_set():
            for url, method, body in calls:
                statuses.append(_request(url, method, body))

    attacker = threading.Thread(target=attack)
    attacker.start()
    try:
        time.sleep(0.5)
        times = delivery_times(sink.smtp_address, 4)
    finally:
        stop.set()
        attacker.join()
    assert statuses and set(statuses) == {200}
    assert p95(times) < 0.1, f"p95 {p95(times) * 1000:.0f} ms over {len(times)} deliveries"
    message = sink.store.get(ids[0])
    assert message is not None and message.tags == tuple(tags)


def test_a_bulk_delete_of_many_ids_deletes_them_all(full_sink: tuple[Sink, list[str]]) -> None:
    sink, ids = full_sink
    assert _request(f"{sink.web_url}/api/v1/messages", "DELETE", {"IDs": ids[:5_000]}) == 200
    assert sink.store.count() == MESSAGES - 5_000
    assert sink.store.get(ids[0]) is None and sink.store.get(ids[-1]) is not None
