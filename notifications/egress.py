"""Where a webhook may connect: public addresses only (the SSRF guard), checked twice.

Staff type any URL into the admin, and the worker POSTs to it from inside our network.
Unguarded, ``http://169.254.169.254/latest/meta-data/`` or ``http://10.0.0.5:6379/``
would make Carebook a scanner of its own network that reports back through the stored
response body. So every address a URL's host resolves to must be public:

- when the endpoint is saved (a clear error in the admin form), and
- at every delivery: the host is resolved **once**, every address is checked, and the
  request connects to a checked address itself, while the URL's host name stays in the
  ``Host`` header and in TLS (SNI and the certificate check). A name that answers a
  public address to the check and 127.0.0.1 to the connection (DNS rebinding) cannot
  reach loopback: there is no second lookup.

A name that does not resolve when it is saved is accepted (its DNS may not exist yet, or
the resolver may be briefly down); delivery checks it again every time.

``WEBHOOK_ALLOW_LOOPBACK`` (False; True in the test settings) admits loopback addresses
for local development and tests — never private, link-local or metadata ones.

Written by hand: no maintained library both validates every resolved address and pins
the connection for httpx.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.conf import settings

from core.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> every address the host resolves to (strings, as getaddrinfo gives them)
Resolver = Callable[[str, int], list[str]]

# Instance-metadata and host-agent services. Most sit in link-local or private ranges and
# are refused as such anyway; Azure's wire server and Oracle's are ordinary-looking
# addresses that only mean "the cloud host" from inside a VM.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean…
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(InvalidRequest):
    """The URL may not receive webhooks: its host is (or resolves to) a forbidden address."""

    code = "webhook_url_forbidden"


@dataclass(frozen=True)
class Destination:
    """A URL whose every resolved address was checked; connect only to ``addresses``."""

    url: httpx.URL
    addresses: tuple[str, ...]


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def loopback_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_LOOPBACK", False))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why ``address`` may not receive a webhook, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_refusal(embedded, allow_loopback=allow_loopback)
        if address.is_site_local:  # deprecated fec0::/10, still routed inside some networks
            return "a site-local address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _parse(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise InvalidRequest("The URL is not valid.", code="invalid_webhook_url") from exc
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise InvalidRequest("The URL must be http(s) with a host.", code="invalid_webhook_url")
    return url


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_all(host: str, addresses: list[str], allow_loopback: bool) -> tuple[str, ...]:
    if not addresses:
        raise DestinationRefused(f"{host} resolves to no address.")
    for text in addresses:
        address = _literal(text.split("%", 1)[0])  # an IPv6 zone ("%eth0") is link-local
        reason = "not an IP address" if address is None else None
        if address is not None:
            reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise DestinationRefused(
                f"Webhooks may only go to public addresses: {host} is {reason} ({text}).",
                details={"host": host, "address": text},
            )
    return tuple(addresses)


def webhook_url_check(raw: str, *, resolver: Resolver | None = None) -> None:
    """Refuse a URL that is, or today resolves to, a forbidden address (at save time)."""
    url = _parse(raw)
    host = url.raw_host.decode("ascii")
    allow_loopback = loopback_allowed()
    if _literal(host) is not None:
        _check_all(host, [host], allow_loopback)
        return
    try:
        addresses = (resolver or system_resolve)(host, url.port or _default_port(url))
    except (OSError, UnicodeError):
        return  # not resolvable now: delivery checks it again (see the module docstring)
    _check_all(host, addresses, allow_loopback)


def destination_resolve(raw: str, *, resolver: Resolver | None = None) -> Destination:
    """Resolve once and check every address, for a delivery; raises DestinationRefused."""
    url = _parse(raw)
    host = url.raw_host.decode("ascii")
    if _literal(host) is not None:
        addresses = [host]
    else:
        try:
            addresses = (resolver or system_resolve)(host, url.port or _default_port(url))
        except (OSError, UnicodeError) as exc:
            raise DestinationRefused(
                f"{host} does not resolve ({type(exc).__name__}).", code="webhook_url_unresolved"
            ) from exc
    return Destination(url=url, addresses=_check_all(host, addresses, loopback_allowed()))


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def pinned_request(
    destination: Destination, address: str
) -> tuple[httpx.URL, dict[str, str], dict[str, object]]:
    """The URL to connect to ``address``, and the Host header and TLS name of the original.

    httpx takes the TLS server name (SNI, and the name the certificate must carry) from
    the ``sni_hostname`` request extension, so the certificate is still checked against
    the endpoint's own host name, not the address.
    """
    url = destination.url
    host = url.raw_host.decode("ascii")
    headers = {"Host": url.netloc.decode("ascii")}
    extensions: dict[str, object] = {}
    if url.scheme == "https" and _literal(host) is None:
        extensions["sni_hostname"] = host
    return url.copy_with(host=address), headers, extensions
