"""Routes of cases and refunds."""

from django.urls import path

from bihuan.cases import views

app_name = "cases"

urlpatterns = [
    path("", views.case_list, name="list"),
    path("<int:pk>/", views.case_detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.case_action, name="action"),
    path("open/<int:lead_pk>/", views.case_open, name="open"),
    path("refunds/<int:pk>/verify/", views.refund_verify, name="refund_verify"),
    path("refunds/<int:pk>/reject/", views.refund_reject, name="refund_reject"),
]
