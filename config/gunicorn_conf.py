"""gunicorn settings (``gunicorn -c config/gunicorn_conf.py``): its own lines as JSON too.

Without this, gunicorn writes its start-up and error lines, and an access line per request
(URL and query string included), in its own plain-text formats. Here they go through
Carebook's logging config; django-structlog's ``request_finished`` line is the access log.
"""

import gc
import os

from config.logging import logging_config

# The threaded worker keeps a client's connection open between requests (HTTP keep-alive),
# as API clients and load balancers expect; the default sync worker closes it after every
# response, and each request then paid for a new TCP connection. One thread per process
# by default: the processes (GUNICORN_WORKERS) are what use the cores.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Seconds an idle kept-alive connection stays open; behind a load balancer, set it above
# the balancer's own idle timeout so the balancer closes first.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

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
