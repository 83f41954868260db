from django.urls import path

from bihuan.territory import views

app_name = "territory"

urlpatterns = [
    path("regions/", views.regions, name="regions"),
    path("regions/<str:code>/", views.region_detail, name="region"),
    path("regions/<str:code>/children/", views.region_children_partial, name="region_children"),
    path("areas/", views.areas, name="areas"),
    path("areas/<int:pk>/", views.area_detail, name="area"),
    path("areas/<int:pk>/responsibles/", views.area_responsible_add, name="area_responsible_add"),
    path(
        "areas/<int:pk>/responsibles/<int:party_pk>/end/",
        views.area_responsible_end,
        name="area_responsible_end",
    ),
    path("responsible-kinds/", views.responsible_kinds, name="responsible_kinds"),
    path(
        "responsible-kinds/<int:pk>/active/",
        views.responsible_kind_toggle,
        name="responsible_kind_toggle",
    ),
    path("sentinels/", views.sentinels, name="sentinels"),
    path("sentinels/<int:pk>/", views.sentinel_detail, name="sentinel"),
    path("import/", views.region_import, name="import"),
    path("import/template.xlsx", views.region_import_template, name="import_template"),
    path("import/<int:pk>/", views.region_import_detail, name="import_detail"),
    path("import/<int:pk>/apply/", views.region_import_apply, name="import_apply"),
]
