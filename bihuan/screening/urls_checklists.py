"""Checklist templates: list, versions, a draft's editor, import, export, publish and retire."""

from django.urls import path

from bihuan.screening import views_checklists as views

V = "<int:pk>/v/<int:number>/"

urlpatterns = [
    path("", views.checklist_list, name="checklists"),
    path("new/", views.checklist_new, name="checklist_new"),
    path("<int:pk>/", views.checklist_detail, name="checklist_detail"),
    path("<int:pk>/draft/", views.checklist_draft, name="checklist_draft"),
    path("<int:pk>/active/", views.checklist_active, name="checklist_active"),
    path("<int:pk>/import/", views.checklist_import, name="checklist_import"),
    path(V, views.checklist_version, name="checklist_version"),
    path(V + "export/", views.checklist_export, name="checklist_export"),
    path(V + "publish/", views.checklist_publish, name="checklist_publish"),
    path(V + "retire/", views.checklist_retire, name="checklist_retire"),
    path(V + "details/", views.checklist_details, name="checklist_details"),
    path(V + "questions/new/", views.checklist_question, name="checklist_question_new"),
    path(V + "questions/<str:name>/", views.checklist_question, name="checklist_question"),
    path(
        V + "questions/<str:name>/remove/",
        views.checklist_question_remove,
        name="checklist_question_remove",
    ),
    path(
        V + "questions/<str:name>/move/",
        views.checklist_question_move,
        name="checklist_question_move",
    ),
]
