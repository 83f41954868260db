"""The rounds pages: list, opening, a round and its adjustments, progress, task tables out."""

from django.urls import path

from bihuan.screening import views_rounds

urlpatterns = [
    path("", views_rounds.rounds, name="rounds"),
    path("new/", views_rounds.round_new, name="round_new"),
    path("<int:pk>/", views_rounds.round_detail, name="round_detail"),
    path("<int:pk>/progress/", views_rounds.round_progress, name="round_progress"),
    path(
        "<int:pk>/<slug:action>/",
        views_rounds.round_action,
        name="round_action",
    ),
    path("items/<int:pk>/move/", views_rounds.item_move, name="item_move"),
    path("tasks/<int:pk>/table.xlsx", views_rounds.task_xlsx, name="task_xlsx"),
    path("tasks/<int:pk>/print/", views_rounds.task_print, name="task_print"),
]
