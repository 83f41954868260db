"""Open311 GeoReport v2 under /open311/v2/, format by extension; the API key page."""

from django.urls import path, re_path

from bihuan.open311 import views

app_name = "open311"

_FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    path("v2/", views.discovery, {"fmt": "json"}, name="root"),
    re_path(r"^v2/discovery" + _FMT, views.discovery, name="discovery"),
    re_path(r"^v2/services" + _FMT, views.service_list, name="services"),
    re_path(r"^v2/services/(?P<code>[\w-]+)" + _FMT, views.service_definition, name="service"),
    re_path(r"^v2/requests" + _FMT, views.requests, name="requests"),
    re_path(r"^v2/requests/(?P<code>[\w-]+)" + _FMT, views.request_detail, name="request"),
    re_path(r"^v2/tokens/(?P<code>[\w-]+)" + _FMT, views.token, name="token"),
    path("clients/", views.clients, name="clients"),
    path("clients/new/", views.client_create, name="client_create"),
    path("clients/<int:pk>/revoke/", views.client_revoke, name="client_revoke"),
]
