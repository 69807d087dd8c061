"""The dashboard's pages, under the `dashboard` namespace (`reverse("dashboard:results")`)."""

from __future__ import annotations

from django.urls import path

from dashboard.views import batches, charts, pages, results
from dashboard.views import endpoints as endpoint_views
from dashboard.views import generate as generate_views
from dashboard.views import power as power_views

app_name = "dashboard"

urlpatterns = [
    path("", pages.home, name="home"),
    path("submit/", pages.submit, name="submit"),
    # Results explorer, bulk submission and charts
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
    path("generate/", generate_views.generate, name="generate"),
    # Inference fleet power management
    path("power/", power_views.power_page, name="power"),
    path("power/panel/", power_views.power_panel, name="power_panel"),
    path("power/audit/", power_views.audit_log, name="audit_log"),
    path("power/instances/<str:instance_id>/<str:action>/", power_views.instance_action, name="instance_action"),
    path("power/endpoints/<str:name>/<str:action>/", endpoint_views.endpoint_action, name="endpoint_action"),
]
