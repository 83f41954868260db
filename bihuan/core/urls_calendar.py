from django.urls import path

from bihuan.core import calendar_views

app_name = "calendar"

urlpatterns = [
    path("", calendar_views.calendar_year, name="year"),
    path("<str:day>/withdraw/", calendar_views.calendar_day_withdraw, name="day_withdraw"),
]
