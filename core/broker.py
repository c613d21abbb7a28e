"""Queue a Celery task from the write path without ever making the request wait or fail.

Used after commit by the outbox and the audit sealer: if the broker is down the work
is already safe in the database and a periodic sweep picks it up, so the publish must
fail *fast* (kombu otherwise keeps reconnecting for seconds per call) and never raise.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import current_app
from kombu.connection import ConnectionPool

logger = logging.getLogger(__name__)

POOL_LIMIT = 10
ACQUIRE_TIMEOUT_SECONDS = 2
# One connection attempt, no reconnect loop; a black-holed broker host costs at most this.
FAIL_FAST_TRANSPORT_OPTIONS = {"max_retries": 0, "socket_connect_timeout": 2}

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool() -> ConnectionPool:
    app = current_app
    # broker_write_url falls back to broker_url (which honours CELERY_BROKER_URL).
    url = str(app.conf.broker_write_url)
    with _pools_lock:
        pool = _pools.get(url)
        if pool is None:
            options: dict[str, Any] = {"max_retries": 0}
            if url.startswith(("redis://", "rediss://")):
                options = dict(FAIL_FAST_TRANSPORT_OPTIONS)
            connection = app.connection_for_write(url, transport_options=options)
            pool = _pools[url] = connection.Pool(limit=POOL_LIMIT)
        return pool


def send_task_fail_fast(name: str, args: tuple[Any, ...] = ()) -> bool:
    """Publish task ``name`` once; False (and a warning) when the broker is unreachable."""
    try:
        with _pool().acquire(block=True, timeout=ACQUIRE_TIMEOUT_SECONDS) as connection:
            try:
                current_app.send_task(name, args=args, connection=connection, retry=False)
            except Exception:
                connection.close()  # reconnect on next use instead of reusing a dead socket
                raise
    except Exception as exc:
        logger.warning(
            "task %s not queued (%s: %s); the periodic sweep will do it",
            name,
            type(exc).__name__,
            exc,
        )
        return False
    return True
