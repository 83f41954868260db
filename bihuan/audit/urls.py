from django.urls import path

from bihuan.audit import views

app_name = "audit"

urlpatterns = [path("events/", views.events, name="events")]
