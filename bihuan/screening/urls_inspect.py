"""The inspector's phone pages: my tasks, a task table, the checklist, photos and field finds."""

from django.urls import path

from bihuan.screening import views_inspect

urlpatterns = [
    path("", views_inspect.my_tasks, name="my_tasks"),
    path("tasks/<int:pk>/", views_inspect.task, name="task"),
    path("tasks/<int:pk>/found/", views_inspect.field_find_new, name="field_find_new"),
    path("items/<int:pk>/inspect/", views_inspect.inspect, name="inspect"),
    path("inspections/<int:pk>/", views_inspect.inspection_detail, name="inspection_detail"),
    path("inspections/<int:pk>/edit/", views_inspect.inspection_edit, name="inspection_edit"),
    path("inspections/<int:pk>/draft/", views_inspect.inspection_draft, name="inspection_draft"),
    path("inspections/<int:pk>/photos/", views_inspect.inspection_photo, name="inspection_photo"),
    path(
        "inspections/<int:pk>/photos/<int:photo_pk>/remove/",
        views_inspect.inspection_photo_remove,
        name="inspection_photo_remove",
    ),
    path(
        "inspections/<int:pk>/participants/",
        views_inspect.inspection_participants,
        name="inspection_participants",
    ),
    path("inspections/<int:pk>/submit/", views_inspect.inspection_submit, name="inspection_submit"),
    path("photos/<int:pk>/", views_inspect.photo, name="photo"),
]
