from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import views

urlpatterns = [
    path("", views.home, name="home"),
    path("submit/", views.submit, name="submit"),
    path("results/", views.results, name="results"),
    path("results/table/", views.results_table, name="results_table"),
    path("results/<str:item_id>/", views.result_detail, name="result_detail"),
    path("api/v1/submissions", views.api_submissions, name="api_submissions"),
    path("api/v1/submissions/<path:item_id>", views.api_submission_detail, name="api_submission_detail"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
