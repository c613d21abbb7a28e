"""Webhook URLs cannot reach inside: refused when saved and when delivered (SSRF), with the
connection pinned to the address that was checked (DNS rebinding), and a failed delivery's
response body read only in part and shown escaped.

No test sends a packet beyond loopback: names resolve through the ``fake_dns`` fixture, and
a delivery to a "public" address goes to an ``httpx.MockTransport`` that records it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from audit.models import AuditEvent
from notifications.egress import DestinationRefused
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhook_delivery import MAX_ERROR_BODY_BYTES, webhook_delivery_attempt
from notifications.webhook_endpoints import webhook_endpoint_save
from tests.factories import StaffFactory, WebhookEndpointFactory
from tests.notifications.test_webhooks import (
    ADMIN_ADD_ENDPOINT,
    admin_endpoint_form,
    deliveries_for,
)

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a public address; only ever handed to a MockTransport

INSIDE_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://127.8.9.10/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.10/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://168.63.129.16/machine",
    "http://[fe80::1]/hook",
    "http://[fc00::5]/hook",
    "http://[fec0::1]/hook",  # deprecated site-local
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[2002:a9fe:a9fe::1]/latest/meta-data/",  # 6to4 of the metadata address
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of it
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://[ff02::1]/hook",
    "http://240.0.0.1/hook",  # reserved
    "https://internal.partner.test/hook",  # a name resolving to a private address
    "https://mixed.partner.test/hook",  # one public and one private address: refused
]


@pytest.fixture
def no_loopback(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False


@pytest.fixture
def partner_dns(fake_dns):
    fake_dns.answers.update(
        {
            "hooks.partner.test": [PUBLIC],
            "internal.partner.test": ["10.1.2.3"],
            "mixed.partner.test": [PUBLIC, "192.168.0.7"],
        }
    )
    return fake_dns


def endpoint_for(url: str) -> WebhookEndpoint:
    return WebhookEndpoint(name="Partner", url=url, events=["*"])


class Recorder:
    """An httpx transport standing in for the internet: records, answers 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, text="ok")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


# --- saved ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", INSIDE_URLS)
def test_saving_a_url_that_reaches_inside_is_refused(no_loopback, partner_dns, url):
    # given staff saving an endpoint whose URL is, or resolves to, an inside address
    staff = StaffFactory()
    # when / then the service refuses it with a stable code, and nothing is written
    with pytest.raises(DestinationRefused) as refused:
        webhook_endpoint_save(endpoint=endpoint_for(url), actor=staff)
    assert refused.value.code == "webhook_url_forbidden"
    assert WebhookEndpoint.objects.count() == 0
    assert not AuditEvent.objects.filter(action="webhook_endpoint.create").exists()


def test_an_existing_endpoint_cannot_be_moved_inside(no_loopback, partner_dns):
    # given a saved endpoint on a public host
    staff = StaffFactory()
    endpoint = webhook_endpoint_save(
        endpoint=endpoint_for("https://hooks.partner.test/x"), actor=staff
    )
    # when its URL is changed to the metadata address, then the change is refused
    endpoint.url = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(DestinationRefused):
        webhook_endpoint_save(endpoint=endpoint, actor=staff)
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.partner.test/x"


def test_the_admin_form_shows_the_refusal_and_saves_nothing(no_loopback, client):
    # given staff in the admin
    client.force_login(StaffFactory(is_superuser=True))
    # when they add an endpoint pointing at the cloud metadata service
    response = client.post(
        ADMIN_ADD_ENDPOINT, admin_endpoint_form(url="http://169.254.169.254/latest/meta-data/")
    )
    # then the form comes back with the reason on the URL field (not a 500), nothing saved
    assert response.status_code == 200
    assert "Webhooks may only go to public addresses" in response.content.decode()
    assert response.context["adminform"].form.errors["url"]
    assert WebhookEndpoint.objects.count() == 0


def test_public_names_and_unresolvable_names_are_accepted(no_loopback, partner_dns):
    # given a name resolving to a public address, and one not (yet) in DNS
    staff = StaffFactory()
    for url in ("https://hooks.partner.test/x", "https://not-yet.partner.test/x"):
        # when saved, then it is accepted (delivery checks the second one again)
        webhook_endpoint_save(endpoint=endpoint_for(url), actor=staff)
    assert WebhookEndpoint.objects.count() == 2


def test_the_loopback_setting_admits_loopback_only(settings):
    # given loopback allowed, as in local development and these tests
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    staff = StaffFactory()
    # then loopback is accepted
    for url in ("http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://[::1]/"):
        webhook_endpoint_save(endpoint=endpoint_for(url), actor=staff)
    # and private, link-local and metadata addresses still are not
    for url in ("http://10.0.0.5/", "http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        with pytest.raises(DestinationRefused):
            webhook_endpoint_save(endpoint=endpoint_for(url), actor=staff)


# --- delivered -----------------------------------------------------------------------------


def test_a_loopback_url_saved_earlier_is_refused_at_delivery(no_loopback, receiver):
    # given an endpoint on loopback written before the guard (or while it was allowed)
    endpoint = WebhookEndpointFactory(url=receiver.url)
    [delivery] = deliveries_for(endpoint, 1)

    # when a worker attempts the delivery with loopback not allowed
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk)

    # then no request reaches the loopback receiver, and the attempt says why
    assert receiver.count == 0
    assert outcome.result == "retry"
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert attempt.error.startswith("refused: Webhooks may only go to public addresses")


def test_a_name_resolving_inside_at_delivery_is_never_contacted(no_loopback, fake_dns):
    # given an endpoint whose name now resolves to the metadata address
    fake_dns.answers["hooks.partner.test"] = ["169.254.169.254"]
    endpoint = WebhookEndpointFactory(url="https://hooks.partner.test/x")
    [delivery] = deliveries_for(endpoint, 1)
    internet = Recorder()

    # when the delivery is attempted
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk, transport=internet.transport)

    # then nothing is sent anywhere and the refusal is recorded
    assert internet.requests == []
    assert outcome.result == "retry"
    assert "169.254.169.254" in WebhookDelivery.objects.get(pk=delivery.pk).last_error


def test_dns_rebinding_cannot_turn_the_checked_address_into_loopback(no_loopback, receiver):
    # given a name whose DNS answers a public address first and 127.0.0.1 after that
    answers = iter([[PUBLIC]])

    def rebinding_dns(host: str, port: int) -> list[str]:
        return next(answers, ["127.0.0.1"])

    port = int(receiver.url.split(":")[2].split("/")[0])
    endpoint = WebhookEndpointFactory(url=f"https://rebind.partner.test:{port}/hooks")
    [delivery] = deliveries_for(endpoint, 1)
    internet = Recorder()

    # when the delivery is attempted
    outcome = webhook_delivery_attempt(
        delivery_id=delivery.pk, transport=internet.transport, resolver=rebinding_dns
    )

    # then the one request went to the address that was checked, carrying the name in
    # Host and as the TLS server name, and the loopback receiver saw nothing
    assert outcome.result == "succeeded"
    [sent] = internet.requests
    assert sent.url.host == PUBLIC
    assert sent.url.port == port
    assert sent.headers["Host"] == f"rebind.partner.test:{port}"
    assert sent.extensions["sni_hostname"] == "rebind.partner.test"
    assert receiver.count == 0
    # and a later attempt, to which the name answers 127.0.0.1, is refused, not sent
    [second] = deliveries_for(endpoint, 1)
    refused = webhook_delivery_attempt(
        delivery_id=second.pk, transport=internet.transport, resolver=rebinding_dns
    )
    assert refused.result == "retry"
    assert len(internet.requests) == 1
    assert receiver.count == 0


def test_a_real_request_goes_to_the_checked_address_with_the_original_host(receiver, fake_dns):
    # given loopback allowed (the test settings) and a name resolving once to the receiver;
    # any later lookup would answer a private address, which would be refused
    answers = iter([["127.0.0.1"]])

    def dns(host: str, port: int) -> list[str]:
        return next(answers, ["10.9.9.9"])

    port = int(receiver.url.split(":")[2].split("/")[0])
    endpoint = WebhookEndpointFactory(url=f"http://receiver.partner.test:{port}/hooks/carebook")
    [delivery] = deliveries_for(endpoint, 1)

    # when the delivery is attempted over the real network stack
    outcome = webhook_delivery_attempt(delivery_id=delivery.pk, resolver=dns)

    # then the receiver got it, addressed by name
    assert outcome.result == "succeeded"
    [received] = receiver.requests
    assert received.headers["Host"] == f"receiver.partner.test:{port}"
    assert received.path == "/hooks/carebook"


# --- what a failed delivery keeps ----------------------------------------------------------

HTML_ERROR = b"<html><script>alert('from the receiver')</script><h1>Error</h1>"


@contextlib.contextmanager
def dripping_error_server(seconds: float) -> Iterator[str]:
    """A 500 whose HTML body never seems to end: 4 KB at once, then 1 KB every 50 ms."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(HTML_ERROR + b"x" * 4096)
                self.wfile.flush()
                stop = time.monotonic() + seconds
                while time.monotonic() < stop:
                    self.wfile.write(b"y" * 1024)
                    self.wfile.flush()
                    time.sleep(0.05)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def test_a_long_html_error_body_is_cut_short_and_shown_escaped(client):
    # given an endpoint that answers 500 with an HTML body that goes on for 8 seconds
    with dripping_error_server(seconds=8) as url:
        endpoint = WebhookEndpointFactory(url=url, timeout_seconds=5)
        [delivery] = deliveries_for(endpoint, 1)

        # when the delivery is attempted
        started = time.monotonic()
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
        elapsed = time.monotonic() - started

    # then the worker read only the start of the body, hung up, and stored that part
    assert outcome.result == "retry"
    assert outcome.status_code == 500
    assert elapsed < 3
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.error.startswith("HTTP 500: " + HTML_ERROR.decode())
    assert len(attempt.error) == len("HTTP 500: ") + MAX_ERROR_BODY_BYTES
    assert WebhookDelivery.objects.get(pk=delivery.pk).last_error == attempt.error

    # and the admin shows it as text, not as markup
    client.force_login(StaffFactory(is_superuser=True))
    page = client.get(f"/admin/notifications/webhookdelivery/{delivery.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;from the receiver&#x27;)&lt;/script&gt;" in html


@contextlib.contextmanager
def error_server(body: bytes) -> Iterator[str]:
    """Answers every POST with a 500 and ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def test_an_error_body_with_nul_bytes_is_recorded_not_a_crash():
    # given a receiver whose error body holds NUL bytes (PostgreSQL text cannot store them)
    with error_server(b"bad\x00thing \xff<b>") as url:
        endpoint = WebhookEndpointFactory(url=url)
        [delivery] = deliveries_for(endpoint, 1)
        # when the delivery is attempted
        outcome = webhook_delivery_attempt(delivery_id=delivery.pk)
    # then the failure is recorded, the unstorable bytes replaced
    assert outcome.result == "retry"
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.error == "HTTP 500: bad\ufffdthing \ufffd<b>"
