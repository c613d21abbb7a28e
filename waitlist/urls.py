from django.urls import URLPattern, URLResolver, path, register_converter

from core.fields import MAX_ID
from waitlist import api


class WaitlistIdConverter:
    """A positive bigint id; anything larger is no match (404), never a database error."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(WaitlistIdConverter, "waitlist_id")

urlpatterns: list[URLPattern | URLResolver] = [
    path("waitlist/", api.WaitlistApi.as_view(), name="waitlist"),
    path("waitlist/offers/", api.OffersApi.as_view(), name="waitlist-offers"),
    path(
        "waitlist/offers/<waitlist_id:offer_id>/",
        api.OfferDetailApi.as_view(),
        name="waitlist-offer-detail",
    ),
    path(
        "waitlist/offers/<waitlist_id:offer_id>/accept/",
        api.OfferAcceptApi.as_view(),
        name="waitlist-offer-accept",
    ),
    path(
        "waitlist/offers/<waitlist_id:offer_id>/decline/",
        api.OfferDeclineApi.as_view(),
        name="waitlist-offer-decline",
    ),
    path("waitlist/<waitlist_id:entry_id>/", api.WaitlistEntryApi.as_view(), name="waitlist-entry"),
]
