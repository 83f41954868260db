"""/api/v1/: the REST API, its OpenAPI schema, its documentation and the token page."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from bihuan.api import views, views_tokens

app_name = "api"

# JSON is the only format: no ".json" suffix routes (the actions take no format argument).
router = DefaultRouter()
router.include_format_suffixes = False
router.register("regions", views.RegionViewSet, basename="region")
router.register("institutions", views.InstitutionViewSet, basename="institution")
router.register("rounds", views.RoundViewSet, basename="round")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("leads", views.LeadViewSet, basename="lead")
router.register("work-orders", views.WorkOrderViewSet, basename="work-order")
router.register("joint-operations", views.JointOperationViewSet, basename="joint-operation")
router.register("cases", views.CaseViewSet, basename="case")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        # The split view serves its start-up script as a file: the CSP refuses inline scripts.
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    path("tokens/", views_tokens.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views_tokens.token_revoke, name="token-revoke"),
    path("figures/", views.FiguresView.as_view(), name="figures"),
    *router.urls,
]
