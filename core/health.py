"""``/healthz`` (the process answers) and ``/readyz`` (it can reach the database and broker).

The readiness checks are django-health-check 4.x ``HealthCheck`` classes run by its view,
which runs them concurrently, each under a time limit, and turns any unexpected
exception into a generic error. We keep that engine and only change the answer:
the Carebook error envelope with 503 and the failing checks named, and no error text
in the body (a driver message can name internal hosts; it goes to the log instead).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck, HealthCheckResult
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from kombu import Connection

from core.errors import error_body


def _readiness_timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.READINESS_TIMEOUT_SECONDS)


@dataclasses.dataclass
class DatabaseCheck(Database):
    """``SELECT 1`` on the default database (django-health-check's own check)."""

    name = "database"

    @property
    def timeout(self) -> datetime.timedelta:
        return _readiness_timeout()


@dataclasses.dataclass
class BrokerCheck(HealthCheck):
    """Open a connection to the Celery broker. Workers need not be up: the web still serves.

    The URL is read from settings at check time, so it follows the deployed config.
    """

    name = "broker"

    @property
    def timeout(self) -> datetime.timedelta:
        return _readiness_timeout()

    def run(self) -> None:
        seconds = self.timeout.total_seconds()
        options: dict[str, Any] = {
            **getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
            "socket_connect_timeout": seconds,
            "socket_timeout": seconds,
        }
        connection = Connection(
            settings.CELERY_BROKER_URL, connect_timeout=seconds, transport_options=options
        )
        try:
            connection.ensure_connection(
                max_retries=1, interval_start=0, timeout=max(1, round(seconds))
            )
            connection.default_channel  # noqa: B018 - opening a channel talks to the broker
        except Exception as exc:
            # Never the URL or the driver's text in the answer: it can carry a password.
            raise ServiceUnavailable("broker unreachable") from exc
        finally:
            connection.release()


class ReadinessView(HealthCheckView):
    checks = (DatabaseCheck, BrokerCheck)

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        await self.run_checks()
        return readiness_response(self.results)

    async def run_checks(self) -> None:
        with self.get_executor() as executor:
            self.results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks())
            )


def readiness_response(results: list[HealthCheckResult]) -> JsonResponse:
    checks = {
        getattr(result.check, "name", type(result.check).__name__): {
            "status": "unavailable" if result.error else "ok",
            "time_ms": round(result.time_taken * 1000),
        }
        for result in results
    }
    failing = sorted(name for name, check in checks.items() if check["status"] != "ok")
    if not failing:
        return JsonResponse({"status": "ready", "checks": checks})
    body = error_body(
        "not_ready",
        f"Not ready: {', '.join(failing)} unavailable.",
        {"failing": failing, "checks": checks},
    )
    return JsonResponse(body, status=503)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process serves requests. Touches no database or broker on purpose."""
    return JsonResponse({"status": "alive"})


readyz = ReadinessView.as_view()
