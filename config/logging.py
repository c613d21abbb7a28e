"""Logging for the web and the worker: one JSON object per line on stderr.

structlog renders both its own events and every stdlib record (Django, Celery, libraries)
through one ``ProcessorFormatter``, so a line always carries the context bound for the
request or task: ``request_id``, ``user_id``, ``ip`` in a request (django-structlog's
``RequestMiddleware``); ``task_id``, ``task``, ``request_id`` and ``duration_ms`` in a
Celery task (django-structlog's Celery receivers). ``LOG_FORMAT=console`` gives coloured
human-readable lines for local work instead.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import MutableMapping
from typing import Any

import structlog
from celery import Celery
from celery.signals import setup_logging

# A calendar feed's URL is its secret (docs/calendars.md): request lines show it masked.
_FEED_TOKEN = re.compile(r"/calendar/[^/\s?]+\.ics")


def mask_feed_tokens(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """``/calendar/<token>.ics`` in every top-level text field of a line (the request,
    the message, a traceback)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and "/calendar/" in value:
            event_dict[key] = _FEED_TOKEN.sub("/calendar/<token>.ics", value)
    return event_dict


# Run on every record, structlog's own and stdlib's, before the renderer.
_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(log_format: str) -> Any:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def log_formatter(log_format: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The formatter the handlers use; tests attach it to capture lines as written."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED_PROCESSORS, structlog.stdlib.PositionalArgumentsFormatter()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become one escaped string field: still one line per record.
            structlog.processors.format_exc_info,
            mask_feed_tokens,  # last before rendering: messages and tracebacks are text now
            structlog.processors.UnicodeDecoder(),
            _renderer(log_format),
        ],
    )


def logging_config(*, level: str = "INFO", log_format: str = "json") -> dict[str, Any]:
    """The ``LOGGING`` dict for settings: everything to stderr through structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": log_formatter,
                "log_format": log_format,
            },
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "structlog"},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Replace Django's default handlers (plain-text console, mail_admins): every
            # record goes once, as JSON, through the root handler.
            "django": {"handlers": [], "level": level, "propagate": True},
            # django-structlog's request_finished already says what runserver's line says.
            "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
            # A 4xx is logged once, as request_finished at warning level with the request
            # id and user; Django's own "Conflict: /path" line would repeat it without them.
            # A 5xx keeps Django's error line with its traceback.
            "django.request": {"handlers": [], "level": "ERROR", "propagate": True},
        },
    }


def configure_structlog() -> None:
    """Route structlog's loggers into stdlib logging, where the formatter renders them."""
    # Python warnings too become log records (logger "py.warnings"), not raw stderr text.
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _use_django_logging(**kwargs: Any) -> None:
    """Celery's ``setup_logging``: keep Django's LOGGING instead of Celery's own format.

    Connecting this receiver is what stops Celery from installing its handlers. The config
    is applied only if Django has not done so yet, so that an embedded test worker leaves
    the handlers of its host process (pytest's log capture) in place.
    """
    from django.conf import settings

    root = logging.getLogger()
    if any(isinstance(h.formatter, structlog.stdlib.ProcessorFormatter) for h in root.handlers):
        return
    logging.config.dictConfig(settings.LOGGING)


def init_celery_logging(app: Celery) -> None:
    """Worker side: JSON logs, and django-structlog's task receivers (task_id, duration_ms)."""
    from django_structlog.celery.steps import DjangoStructLogInitStep

    setup_logging.connect(_use_django_logging, weak=False)
    app.steps["worker"].add(DjangoStructLogInitStep)
