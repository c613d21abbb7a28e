"""Factories of the notifications app: webhook endpoints."""

from __future__ import annotations

import factory

from notifications.models import WebhookEndpoint


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    name = factory.Sequence(lambda n: f"Receiver {n}")
    url = "http://127.0.0.1:9/unused"
    secret = factory.Sequence(lambda n: f"whsec_test_secret_{n}")
    events = factory.LazyFunction(lambda: ["*"])
    rate_per_second = 100.0
    breaker_threshold = 3
    breaker_cooldown_seconds = 60
    max_attempts = 5
    timeout_seconds = 2.0
