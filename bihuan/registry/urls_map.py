"""Routes of the registry (map and community outlines)."""

from django.urls import URLPattern, path

from bihuan.registry import map_views

urlpatterns: list[URLPattern] = [
    path("map/", map_views.registry_map, name="map"),
    path("map/data.json", map_views.map_data, name="map_data"),
    path("boundaries/", map_views.boundaries, name="boundaries"),
    path("boundaries/<int:pk>/", map_views.boundary_import, name="boundary_import"),
]
