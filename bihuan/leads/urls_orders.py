"""URLs of the departments' pages: the inbox, an order and its actions, evidence files."""

from django.urls import URLPattern, path

from bihuan.leads import views_orders

urlpatterns: list[URLPattern] = [
    path("orders/", views_orders.inbox, name="inbox"),
    path("orders/<int:pk>/", views_orders.order_detail, name="order"),
    path("orders/<int:pk>/<slug:action>/", views_orders.order_action, name="order_action"),
    path("attachments/<int:pk>/", views_orders.attachment_download, name="attachment"),
]
