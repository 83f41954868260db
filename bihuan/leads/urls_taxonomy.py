from django.urls import path

from bihuan.leads import taxonomy_views

app_name = "taxonomy"

urlpatterns = [
    path("", taxonomy_views.types, name="types"),
    path("groups/<str:code>/", taxonomy_views.group_update, name="group_update"),
    path("types/new/", taxonomy_views.type_create, name="type_create"),
    path("types/<str:code>/", taxonomy_views.type_detail, name="type"),
    path("types/<str:code>/edit/", taxonomy_views.type_edit, name="type_edit"),
    path("types/<str:code>/active/", taxonomy_views.type_set_active, name="type_set_active"),
    path("rules/", taxonomy_views.rules, name="rules"),
    path("rules/new/", taxonomy_views.rule_create, name="rule_create"),
    path("rules/<int:pk>/deactivate/", taxonomy_views.rule_deactivate, name="rule_deactivate"),
    path("try/", taxonomy_views.try_routing, name="try"),
]
