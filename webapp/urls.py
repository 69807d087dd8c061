from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.views import api, health, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("submit/", pages.submit, name="submit"),
    path("results/", pages.results, name="results"),
    path("results/table/", pages.results_table, name="results_table"),
    path("results/<str:item_id>/", pages.result_detail, name="result_detail"),
    path("api/v1/submissions", api.api_submissions, name="api_submissions"),
    path("api/v1/submissions/<path:item_id>", api.api_submission_detail, name="api_submission_detail"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
]
