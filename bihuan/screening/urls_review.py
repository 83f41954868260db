"""The coordinator's review pages: the queue, one inspection, its decisions, and field finds."""

from django.urls import path

from bihuan.screening import views_review

urlpatterns = [
    path("", views_review.review_queue, name="review_queue"),
    path("<int:pk>/", views_review.review_detail, name="review_detail"),
    path("<int:pk>/approve/", views_review.review_approve, name="review_approve"),
    path("<int:pk>/return/", views_review.review_return, name="review_return"),
    path("finds/", views_review.field_finds, name="field_finds"),
    path("finds/<int:pk>/approve/", views_review.field_find_approve, name="field_find_approve"),
    path("finds/<int:pk>/reject/", views_review.field_find_reject, name="field_find_reject"),
]
