"""Queue a Celery task from the write path without ever making the request wait or fail.

Used after commit by the outbox and the audit sealer: if the broker is down the work
is already safe in the database and a periodic sweep picks it up, so the publish must
fail *fast* (kombu otherwise keeps reconnecting for seconds per call) and never raise.

``send_task_soon`` goes one step further for the request path: it hands the publish to
one background thread per process, so a request never waits for the broker at all, and
it folds repeated requests for the same argument-less task (the audit sealer) into one
publish while one is still waiting, and gathers the values of a batched task (the outbox
delivery: one event id per commit) into one publish of them all. The request's context
(request id for the logs and the task headers) travels with each publish; a batch's is its
first request's.
"""

from __future__ import annotations

import atexit
import contextvars
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def send_task_fail_fast(name: str, args: tuple[Any, ...] = (), **options: Any) -> bool:
    """Publish task ``name`` once; False (and a warning) when the broker is unreachable.

    ``options`` go to ``send_task`` (``queue``, ``task_id``, ``countdown``).
    """
    try:
        with _pool().acquire(block=True, timeout=ACQUIRE_TIMEOUT_SECONDS) as connection:
            try:
                current_app.send_task(
                    name, args=args, connection=connection, retry=False, **options
                )
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


# --- publishing off the request path ------------------------------------------------

# How long interpreter exit waits for queued publishes; what is left is the sweeps' work.
EXIT_FLUSH_SECONDS = 5.0


@dataclass(frozen=True)
class _Publish:
    context: contextvars.Context
    name: str
    args: tuple[Any, ...]
    options: dict[str, Any]
    coalesce: bool
    batch: bool = False


class _Publisher:
    """One daemon thread per process draining a queue of publishes, in submission order.

    Coalescing (argument-less tasks that process everything pending, like the audit
    sealer): while a publish of such a task is waiting, further requests for it are
    dropped, and it waits until ``window`` seconds after the previous publish of that
    task. So a process publishes it at most once per window, yet always once more after
    the last request: the publish left is taken after every dropped request was made, so
    the task it starts sees everything those requests' transactions committed.

    Batching (a task taking a list, like the outbox delivery): each request adds one value;
    the values gathered while a publish of the task waits go out as its one argument, a
    list, when it is taken. The window spaces them as it does coalesced publishes, so under
    a booking storm one publish carries the events of a window instead of one each (a
    publish costs about half a millisecond of CPU, more than most of a booking's queries).
    """

    def __init__(self, send: Callable[..., bool] | None = None) -> None:
        self._send = send  # None: send_task_fail_fast (a parameter for the unit tests)
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Publish] = queue.Queue()
        self._waiting: set[str] = set()
        self._batches: dict[str, list[Any]] = {}
        self._last_taken: dict[str, float] = {}
        self._timers = 0
        self._pid: int | None = None

    def submit(
        self,
        name: str,
        args: tuple[Any, ...],
        options: dict[str, Any],
        *,
        coalesce: bool,
        window: float = 0.0,
        batch: bool = False,
    ) -> None:
        """``batch``: ``args`` are values for the list the batch's publish sends."""
        coalesce = coalesce or batch
        sent = () if batch else args  # a batch's list is taken when it is published
        item = _Publish(contextvars.copy_context(), name, sent, options, coalesce, batch)
        with self._lock:
            self._start_if_needed()
            if batch:
                self._batches.setdefault(name, []).extend(args)
            if not coalesce:
                self._queue.put(item)
                return
            if name in self._waiting:
                return
            self._waiting.add(name)
            delay = self._last_taken.get(name, -window) + window - time.monotonic()
            if delay <= 0:
                self._queue.put(item)
                return
            self._timers += 1
            timer = threading.Timer(delay, self._put_later, args=(item,))
            timer.daemon = True
            timer.start()

    def drain(self, timeout: float) -> bool:
        """Wait until every requested publish was attempted; False if time ran out."""
        if self._pid != os.getpid():
            return True  # nothing was submitted in this process
        deadline = time.monotonic() + timeout
        while self._timers or self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _put_later(self, item: _Publish) -> None:
        with self._lock:
            self._queue.put(item)
            self._timers -= 1

    def _start_if_needed(self) -> None:
        if self._pid == os.getpid():
            return
        # First use in this process (or a forked child: the parent's threads are not here).
        self._queue = queue.Queue()
        self._waiting = set()
        self._batches = {}
        self._last_taken = {}
        self._timers = 0
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="carebook-publisher", daemon=True).start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                args = item.args
                if item.coalesce:
                    with self._lock:
                        self._waiting.discard(item.name)
                        self._last_taken[item.name] = time.monotonic()
                        if item.batch:  # what was gathered until now; later values wait
                            args = (self._batches.pop(item.name, []),)
                send: Callable[..., bool] = self._send or send_task_fail_fast
                item.context.run(send, item.name, args, **item.options)
            except Exception:  # never let the thread die; send_task_fail_fast logs its own
                logger.exception("publishing %s failed", item.name)
            finally:
                self._queue.task_done()


_publisher = _Publisher()


def send_task_soon(
    name: str,
    args: tuple[Any, ...] = (),
    *,
    coalesce: bool = False,
    coalesce_window: float = 0.0,
    batch: bool = False,
    **options: Any,
) -> None:
    """Publish task ``name`` from this process's background thread, shortly.

    For after-commit hooks whose work is safe in the database already: a lost publish
    (broker down, process killed) is made good by a periodic sweep. ``coalesce`` folds
    requests for the same task into one while it waits, and publishes it at most once
    per ``coalesce_window`` seconds (only for argument-less tasks that process everything
    pending). ``batch`` does the same for a task taking one list: ``args`` are added to
    the list its next publish sends. ``options`` as for ``send_task_fail_fast``.
    """
    if coalesce and (args or options):
        raise ValueError("only argument-less tasks can be coalesced")
    if batch and options:
        raise ValueError("a batch's publish takes no options")
    _publisher.submit(name, args, options, coalesce=coalesce, window=coalesce_window, batch=batch)


def wait_for_queued_publishes(timeout: float = 10.0) -> bool:
    """Block until this process's queued publishes were attempted (tests, shutdown)."""
    return _publisher.drain(timeout)


atexit.register(wait_for_queued_publishes, EXIT_FLUSH_SECONDS)
