"""Public tips under /tip/ (no login) and the bureau's reply page."""

from django.urls import path

from bihuan.intake import views

app_name = "intake"

urlpatterns = [
    path("", views.tip_new, name="tip_new"),
    path("done/", views.tip_done, name="tip_done"),
    path("status/", views.tip_status, name="tip_status"),
    path("status/<str:code>/", views.tip_status_code, name="tip_status_code"),
    path("replies/<int:pk>/", views.tip_replies, name="tip_replies"),
]
