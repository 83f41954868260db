"""The registry's pages, in one namespace; each part keeps its own routes."""

from django.urls import include, path

app_name = "registry"

urlpatterns = [
    path("", include("bihuan.registry.urls_institutions")),
    path("import/", include("bihuan.registry.urls_import")),
    path("", include("bihuan.registry.urls_map")),
]
