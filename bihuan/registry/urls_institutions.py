"""Routes of the registry (institutions and the review queue of possible duplicates)."""

from django.urls import path

from bihuan.registry import views

urlpatterns = [
    path("institutions/", views.institutions, name="institutions"),
    path("institutions/new/", views.institution_create, name="institution_create"),
    path("institutions/<int:pk>/", views.institution_detail, name="institution"),
    path("institutions/<int:pk>/edit/", views.institution_edit, name="institution_edit"),
    path("institutions/<int:pk>/status/", views.institution_status, name="institution_status"),
    path(
        "institutions/<int:pk>/blacklist/",
        views.institution_blacklist,
        name="institution_blacklist",
    ),
    path("institutions/<int:pk>/courses/", views.course_add, name="course_add"),
    path("review/", views.review, name="review"),
    path("review/<int:pk>/", views.review_decide, name="review_decide"),
]
