"""Deployment security: the Content-Security-Policy, networks from the environment, the client IP.

The Content-Security-Policy is sent with every page by django-csp.

Scripts and styles come only from our own static files: no inline ``<script>``, no ``on…=``
handlers, no ``style=`` attributes, no ``eval``. Libraries that position things (Leaflet, ECharts)
do so through the CSSOM, which the policy allows. Images may also be ``data:`` and ``blob:`` URLs
(photo previews on the phone, chart downloads) and the tiles of the configured map server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from bihuan.core.env import env_list

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def tile_source(map_tile_url: str) -> str | None:
    """The CSP source of a Leaflet tile URL template: its scheme and host, ``{s}`` as ``*``."""
    if not map_tile_url:
        return None
    parts = urlsplit(map_tile_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ImproperlyConfigured(
            f"MAP_TILE_URL={map_tile_url!r} is not an http(s) URL template with a host."
        )
    host = parts.netloc.replace("{s}", "*")
    if "{" in host or "}" in host:
        raise ImproperlyConfigured(
            f"MAP_TILE_URL={map_tile_url!r}: only {{s}} may stand in the host name."
        )
    return f"{parts.scheme}://{host}"


def content_security_policy(*, map_tile_url: str = "") -> dict[str, Any]:
    """django-csp's CONTENT_SECURITY_POLICY setting."""
    images = [SELF, "data:", "blob:"]
    tiles = tile_source(map_tile_url)
    if tiles:
        images.append(tiles)
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF],
            "img-src": images,
            "font-src": [SELF],
            "connect-src": [SELF],
            "object-src": [NONE],
            "base-uri": [SELF],
            "form-action": [SELF],
            "frame-ancestors": [NONE],
        }
    }


def env_networks(name: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list of networks (``10.1.0.0/16``, ``192.0.2.7``, ``2001:db8::/32``).

    Each is returned in its normal form; a malformed one stops the start-up, naming the variable.
    Host bits are refused (``10.1.2.3/16``) because they usually mean a mistyped prefix.
    """
    networks = []
    for item in env_list(name, [], environ=environ):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=True)))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a network ({exc}).") from None
    return networks


@lru_cache(maxsize=16)
def parsed_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of a setting, parsed once."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    """Is ``address`` (an IP address as text) inside one of ``networks``?"""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)


def client_address(meta: Mapping[str, Any], trusted_proxies: tuple[str, ...] = ()) -> str | None:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy.

    Behind trusted proxies (TRUSTED_PROXIES), X-Forwarded-For is read from the right, skipping
    the proxies' own addresses: the first address that is not a proxy is the client. Entries to
    the left of it were written by the client and are never believed.
    """
    remote = meta.get("REMOTE_ADDR") or None
    proxies = parsed_networks(trusted_proxies)
    if not proxies or not address_in(remote, proxies):
        return remote
    forwarded = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed([hop for hop in forwarded if hop]):
        if not address_in(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote
