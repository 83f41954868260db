"""The CSP built from the settings, networks read from the environment, the client's address."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from bihuan.core.security import (
    address_in,
    client_address,
    content_security_policy,
    env_networks,
    parsed_networks,
    tile_source,
)


def test_the_policy_allows_only_our_own_scripts_and_styles() -> None:
    directives = content_security_policy()["DIRECTIVES"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:", "blob:"]


def test_the_map_tile_host_is_added_to_the_image_sources() -> None:
    policy = content_security_policy(map_tile_url="https://{s}.tiles.gov.test/{z}/{x}/{y}.png")
    assert policy["DIRECTIVES"]["img-src"][-1] == "https://*.tiles.gov.test"


def test_a_tile_url_with_a_port_keeps_it() -> None:
    assert tile_source("http://10.0.0.5:8080/tiles/{z}/{x}/{y}.png") == "http://10.0.0.5:8080"


@pytest.mark.parametrize("url", ["tiles/{z}/{x}/{y}.png", "ftp://host/{z}", "https://{z}.x/"])
def test_a_tile_url_that_names_no_host_is_refused(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="MAP_TILE_URL"):
        tile_source(url)


def test_the_response_carries_the_policy(client: Client) -> None:
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_networks_are_read_in_their_normal_form() -> None:
    environ = {"NETS": "10.20.0.0/16, 192.0.2.7,2001:DB8::/32"}
    assert env_networks("NETS", environ=environ) == [
        "10.20.0.0/16",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]


def test_an_empty_network_setting_is_an_empty_list() -> None:
    assert env_networks("NETS", environ={}) == []


@pytest.mark.parametrize("value", ["10.20.0.0/33", "intranet", "10.20.1.0/16"])
def test_a_malformed_network_stops_the_start_up(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="NETS"):
        env_networks("NETS", environ={"NETS": value})


def test_an_address_is_matched_against_its_own_family_only() -> None:
    networks = parsed_networks(("10.0.0.0/8", "2001:db8::/32"))
    assert address_in("10.1.2.3", networks)
    assert address_in("::ffff:10.1.2.3", networks)
    assert address_in("2001:db8::1", networks)
    assert not address_in("11.0.0.1", networks)
    assert not address_in(None, networks)
    assert not address_in("not-an-ip", networks)


def test_without_trusted_proxies_the_forwarded_header_is_ignored() -> None:
    meta = {"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    assert client_address(meta) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_is_the_client() -> None:
    meta = {
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_FORWARDED_FOR": "10.9.9.9, 198.51.100.4, 172.16.0.2",
    }
    assert client_address(meta, ("127.0.0.1/32", "172.16.0.0/12")) == "198.51.100.4"


def test_a_request_that_did_not_come_through_the_proxy_keeps_its_own_address() -> None:
    meta = {"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    assert client_address(meta, ("127.0.0.1/32",)) == "198.51.100.4"
