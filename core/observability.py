"""The request id travels from a request into every Celery task it starts.

django-structlog copies the structlog context (``request_id``, ``user_id``, …) into a
task's headers when it is published and binds it again in the worker. These receivers
make that context agree with ``core.request_context`` at both ends:

- in a request, the logged ``request_id`` is the one RequestIdMiddleware kept (the same
  one the error envelope and the ``X-Request-ID`` response header carry), and the
  request line leaves out the query string;
- a task published outside django-structlog's middleware (a service called from a
  script or test that set ``core.request_context``) still carries the id;
- inside the task, ``current_request_id()`` returns it, so audit rows and error
  envelopes written by the worker name the request that caused them.
"""

from __future__ import annotations

import contextvars
import logging
import os
from typing import Any

import structlog
from celery import Task
from celery.signals import task_postrun, task_prerun, worker_ready
from django.http import HttpRequest
from django_structlog import signals as request_signals
from django_structlog.celery import signals as task_signals

from core.request_context import current_request_id, reset_request_id, set_request_id

STRUCTLOG_HEADER = "__django_structlog__"  # where django-structlog puts the context

_task_tokens: dict[str, contextvars.Token[str | None]] = {}
# The request being served, so a task published from it can name its user: DRF
# authenticates a JWT inside the view, after the middleware bound user_id (as None).
_serving: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "carebook_log_request", default=None
)
logger = logging.getLogger(__name__)


def bind_request_context(
    sender: Any, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: Any
) -> None:
    """Align django-structlog's request lines with what the rest of Carebook trusts.

    - ``request_id``: the id RequestIdMiddleware kept, never a raw or fresh one;
    - ``ip``: ``REMOTE_ADDR`` as the audit trail records it (django-structlog's ipware
      would believe a client-sent X-Forwarded-For);
    - ``request``: method and path without the query string, which can carry personal
      data (a search by name or email).
    """
    request_id = getattr(request, "request_id", None) or current_request_id()
    if request_id:
        structlog.contextvars.bind_contextvars(request_id=request_id)
    structlog.contextvars.bind_contextvars(ip=request.META.get("REMOTE_ADDR") or None)
    log_request_line(request=request, log_kwargs=log_kwargs)
    _serving.set(request)


def finish_request_context(
    *, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: Any
) -> None:
    log_request_line(request=request, log_kwargs=log_kwargs)
    _serving.set(None)


def log_request_line(*, request: HttpRequest, log_kwargs: dict[str, Any], **kwargs: Any) -> None:
    if "request" in log_kwargs:
        log_kwargs["request"] = f"{request.method} {request.path}"


def _authenticated_user_id() -> object | None:
    request = _serving.get()
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user.pk


def add_request_id_to_task(sender: Any, context: dict[str, Any], **kwargs: Any) -> None:
    if "request_id" not in context and (request_id := current_request_id()):
        context["request_id"] = request_id
    if context.get("user_id") is None and (user_id := _authenticated_user_id()) is not None:
        context["user_id"] = user_id
        # The request's later lines name the user too.
        structlog.contextvars.bind_contextvars(user_id=user_id)


def bind_task_name(sender: Any, task: Task, **kwargs: Any) -> None:
    structlog.contextvars.bind_contextvars(task=task.name)


def enter_task_request_id(task_id: str, task: Task, **kwargs: Any) -> None:
    context = getattr(task.request, STRUCTLOG_HEADER, None) or {}
    # An eager task (run in-line) has no headers: it keeps its caller's id.
    request_id = context.get("request_id") or current_request_id()
    _task_tokens[task_id] = set_request_id(request_id)


def leave_task_request_id(task_id: str, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            reset_request_id(token)
        except ValueError:
            # Token from another context (an eager task run in-line): clear instead.
            set_request_id(None)


def serve_worker_metrics(**kwargs: Any) -> None:
    """With ``CELERY_METRICS_PORT``, the worker's main process serves its pool's metrics.

    The children write to ``PROMETHEUS_MULTIPROC_DIR``; this reads them all. Off by default.
    """
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning("CELERY_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR; not serving metrics")
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    address = os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1")
    start_http_server(int(port), addr=address, registry=registry)
    logger.info("worker metrics on http://%s:%s/metrics", address, port)


def connect_signals() -> None:
    """Connect once per process (web and worker); safe to call again."""
    request_signals.bind_extra_request_metadata.connect(
        bind_request_context, dispatch_uid="carebook.bind_request_context"
    )
    for finished in (
        request_signals.bind_extra_request_finished_metadata,
        request_signals.bind_extra_request_failed_metadata,
    ):
        finished.connect(
            finish_request_context, dispatch_uid=f"carebook.finish_request.{id(finished)}"
        )
    task_signals.modify_context_before_task_publish.connect(
        add_request_id_to_task, dispatch_uid="carebook.add_request_id_to_task"
    )
    task_signals.bind_extra_task_metadata.connect(
        bind_task_name, dispatch_uid="carebook.bind_task_name"
    )
    task_prerun.connect(enter_task_request_id, weak=False)
    task_postrun.connect(leave_task_request_id, weak=False)
    worker_ready.connect(serve_worker_metrics, weak=False)
