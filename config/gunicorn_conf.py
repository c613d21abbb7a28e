"""gunicorn settings (``gunicorn -c config/gunicorn_conf.py``): its own lines as JSON too.

Without this, gunicorn writes its start-up and error lines, and an access line per request
(URL and query string included), in its own plain-text formats. Here they go through
Carebook's logging config; django-structlog's ``request_finished`` line is the access log.
"""

import gc
import logging
import os
from typing import Any

from gunicorn.glogging import Logger

from config.logging import logging_config

logconfig_dict = logging_config(
    level=os.environ.get("LOG_LEVEL", "INFO"),
    log_format=os.environ.get("LOG_FORMAT", "json"),
)
logconfig_dict["loggers"].update(
    {
        "gunicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        # request_finished says the same without the query string, which can hold personal data.
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    }
)


def post_worker_init(worker: object) -> None:
    """Once the worker has imported Django and the project: those objects live as long as
    the process, so the cyclic garbage collector stops walking them on each full pass."""
    gc.freeze()


class AccessLoggerIfEnabled(Logger):
    """gunicorn builds an access line's fields (headers, times, a dozen formatted atoms)
    for every request whenever a log config is given, even when ``gunicorn.access``
    drops the line, as it does above (docs/performance.md has the cost). This logger builds
    them only when the line would be written (``--access-logfile`` or a config that
    turns ``gunicorn.access`` on)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


logger_class = AccessLoggerIfEnabled
