"""URLs of the bureau pages: queue, reporting, the lead page and its actions, joint operations."""

from django.urls import URLPattern, path

from bihuan.leads import views_bureau as views

urlpatterns: list[URLPattern] = [
    path("", views.queue, name="queue"),
    path("new/", views.report, name="report"),
    path("new/institutions/", views.institution_search, name="institution_search"),
    path("mine/", views.mine, name="mine"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/do/<slug:action>/", views.lead_action, name="lead_action"),
    path(
        "<int:pk>/orders/<int:order_pk>/<slug:action>/",
        views.order_action,
        name="bureau_order_action",
    ),
    path(
        "<int:pk>/extensions/<int:extension_pk>/",
        views.extension_action,
        name="extension_action",
    ),
    path("joint/", views.joint_list, name="joint_list"),
    path("joint/<int:pk>/", views.joint_detail, name="joint"),
    path("joint/<int:pk>/<slug:action>/", views.joint_action, name="joint_action"),
]
