"""The HTTP connection pool every outside API client uses (CI360's gateway, Twilio's Messages API)."""

from __future__ import annotations

import urllib3

from smsbridge.domain.delivery import connect_timeout


def connection_pool(*, max_connections: int, timeout: float) -> urllib3.PoolManager:
    """A pool of at most ``max_connections`` (a request waits for one: the concurrency bound), no retries of its
    own (the callers decide what a failure means), ``timeout`` to read and a shorter one to connect."""
    return urllib3.PoolManager(
        num_pools=2,
        maxsize=max_connections,
        block=True,
        retries=False,
        timeout=urllib3.Timeout(connect=connect_timeout(timeout), read=timeout),
    )
