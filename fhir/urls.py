from django.urls import URLPattern, URLResolver, path, re_path

from fhir.api import (
    AppointmentApi,
    AppointmentsApi,
    MetadataApi,
    ReadApi,
    SearchApi,
    UnknownPathApi,
)

app_name = "fhir"

_APPOINTMENT = {"resource_type": "Appointment"}

urlpatterns: list[URLPattern | URLResolver] = [
    path("metadata", MetadataApi.as_view(), name="metadata"),
    re_path(r"^Appointment/?$", AppointmentsApi.as_view(), _APPOINTMENT, name="appointments"),
    re_path(
        r"^Appointment/(?P<resource_id>[^/]+)/?$",
        AppointmentApi.as_view(),
        _APPOINTMENT,
        name="appointment",
    ),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/?$", SearchApi.as_view(), name="search"),
    re_path(
        r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[^/]+)/?$",
        ReadApi.as_view(),
        name="read",
    ),
    re_path(r"^.*$", UnknownPathApi.as_view(), name="unknown"),
]
