from django.urls import path

from bihuan.territory import views

app_name = "territory"

urlpatterns = [
    path("regions/", views.regions, name="regions"),
    path("regions/<str:code>/", views.region_detail, name="region"),
    path("regions/<str:code>/children/", views.region_children_partial, name="region_children"),
    path("areas/", views.areas, name="areas"),
    path("areas/<int:pk>/", views.area_detail, name="area"),
    path("sentinels/", views.sentinels, name="sentinels"),
    path("sentinels/<int:pk>/", views.sentinel_detail, name="sentinel"),
    path("import/", views.region_import, name="import"),
    path("import/template.xlsx", views.region_import_template, name="import_template"),
    path("import/<int:pk>/", views.region_import_detail, name="import_detail"),
    path("import/<int:pk>/apply/", views.region_import_apply, name="import_apply"),
]
