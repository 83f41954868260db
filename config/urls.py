"""URL configuration: each app owns its prefix."""

from django.urls import include, path

from bihuan.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("bihuan.accounts.urls")),
    path("territory/", include("bihuan.territory.urls")),
    path("registry/", include("bihuan.registry.urls")),
    path("audit/", include("bihuan.audit.urls")),
    path("leads/", include("bihuan.leads.urls")),
    path("cases/", include("bihuan.cases.urls")),
    path("screening/", include("bihuan.screening.urls")),
    path("reports/", include("bihuan.reports.urls")),
    path("tip/", include("bihuan.intake.urls")),
    path("open311/", include("bihuan.open311.urls")),
    path("api/v1/", include("bihuan.api.urls")),
    path("webhooks/", include("bihuan.webhooks.urls")),
    path("captcha/", include("captcha.urls")),
    path("notifications/", include("bihuan.notifications.urls")),
    path("calendar/", include("bihuan.core.urls_calendar")),
    path("taxonomy/", include("bihuan.leads.urls_taxonomy")),
]

handler404 = "bihuan.core.views.not_found"
