from django.urls import path

from bihuan.audit import views

app_name = "audit"

urlpatterns = [
    path("events/", views.events, name="events"),
    path("chain/verify/", views.chain_verify, name="chain_verify"),
]
