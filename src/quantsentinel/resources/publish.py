"""Where approved decisions are published, as a Dagster resource (see `decide.publish`).

`url` is `memory://` (embedded default: the process-wide in-process publisher) or a Redis URL
(`redis://127.0.0.1:6379/0` in production).
"""

from __future__ import annotations

import threading

import dagster as dg
from quantsentinel.decide.publish import Publisher, publisher_from_url


class PublisherResource(dg.ConfigurableResource):
    # A plain str so it can come from an EnvVar; checked (ValueError naming it) on first use.
    url: str = "memory://"

    def publisher(self) -> Publisher:
        """One publisher per url per process: a Redis client keeps its connection pool across
        runs and sensor ticks instead of reconnecting every time."""
        return _publisher(self.url)


_lock = threading.Lock()
_publishers: dict[str, Publisher] = {}


def _publisher(url: str) -> Publisher:
    # Not functools.cache: a url that fails to build must not be remembered, and two threads
    # asking at once must get the same client.
    with _lock:
        if url not in _publishers:
            _publishers[url] = publisher_from_url(url)
        return _publishers[url]
