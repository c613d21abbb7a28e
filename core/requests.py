"""Request helpers every API view shares: who is signed in, the validated body, the query.

Each returns plain data or raises a 400 through DRF's ``ValidationError``, which
``core.errors.api_exception_handler`` renders in the error envelope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.request import Request

from core.fields import StrictInput, reject_unknown_fields

if TYPE_CHECKING:
    # django-stubs resolves this alias to AUTH_USER_MODEL; core names no domain model.
    from django.contrib.auth.models import _User


def signed_in(request: Request) -> _User:
    """The signed-in user of a view whose permission classes let only users through."""
    user = request.user
    assert isinstance(user, get_user_model())  # noqa: S101 - guaranteed by the permissions
    return user


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """The body, validated: unknown fields and wrong JSON types are a 400."""
    serializer = serializer_class(data=data)
    if not isinstance(serializer, StrictInput):  # it refuses them itself, after its fields
        reject_unknown_fields(serializer, data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query(serializer_class: type[serializers.Serializer[Any]], request: Request) -> dict[str, Any]:
    """The query string, validated (repeated keys: the last value counts)."""
    serializer = serializer_class(data=request.query_params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
