from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.login_throttle import login_throttled
from dashboard.views import api, batches, charts, health, openapi, pages, results
from dashboard.views import generate as generate_views  # SageMaker text generation
from dashboard.views import power as power_views  # inference fleet power management

urlpatterns = [
    path("", pages.home, name="home"),
    path("submit/", pages.submit, name="submit"),
    # Results explorer, bulk submission, charts and the API description
    path("results/", results.results, name="results"),
    path("results/table/", results.results_table, name="results_table"),
    path("results/rows/", results.results_rows, name="results_rows"),
    path("results/actions/", results.results_actions, name="results_actions"),
    path("results/columns/", results.results_columns, name="results_columns"),
    path("results/export.csv", results.results_export, name="results_export"),
    path("results/<str:item_id>/", results.result_detail, name="result_detail"),
    path("batches/", batches.batch_new, name="batch_new"),
    path("batches/<str:batch_id>/", batches.batch_detail, name="batch_detail"),
    path("batches/<str:batch_id>/results.csv", batches.batch_download, name="batch_download"),
    path("charts/data.json", charts.charts_data, name="charts_data"),
    path("api/v1/batches", batches.api_batches, name="api_batches"),
    path("api/v1/batches/<str:batch_id>", batches.api_batch_detail, name="api_batch_detail"),
    path("api/v1/batches/<str:batch_id>/results.csv", batches.api_batch_results, name="api_batch_results"),
    path("api/v1/openapi.json", openapi.openapi_json, name="api_openapi"),
    path("api/v1/submissions", api.api_submissions, name="api_submissions"),
    path("api/v1/submissions/<path:item_id>", api.api_submission_detail, name="api_submission_detail"),
    path("generate/", generate_views.generate, name="generate"),
    path("api/v1/generate", generate_views.api_generate, name="api_generate"),
    # Inference fleet power management
    path("power/", power_views.power_page, name="power"),
    path("power/panel/", power_views.power_panel, name="power_panel"),
    path("power/audit/", power_views.audit_log, name="audit_log"),
    path("power/instances/<str:instance_id>/<str:action>/", power_views.instance_action, name="instance_action"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Both login pages count failures and refuse a locked username or address (dashboard/login_throttle.py).
    path("accounts/login/", login_throttled(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/login/", login_throttled(admin.site.login)),  # ahead of admin.site.urls, which has its own
    path("admin/", admin.site.urls),
]
