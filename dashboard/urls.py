"""The dashboard's pages, under the `dashboard` namespace (`reverse("dashboard:results")`)."""

from __future__ import annotations

from django.urls import path

from dashboard.finetune import views as finetune_views
from dashboard.labels import views as label_views
from dashboard.registry import views as registry_views
from dashboard.views import batches, charts, pages, results
from dashboard.views import endpoints as endpoint_views
from dashboard.views import generate as generate_views
from dashboard.views import power as power_views
from dashboard.views import tokens as token_views
from dashboard.webhooks import views as webhook_views

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
    path("results/<str:item_id>/cancel/", results.result_cancel, name="result_cancel"),
    path("results/<str:item_id>/label/", label_views.result_label, name="result_label"),
    # People's labels: review mode, the Models page with each model's live evaluation, the training CSV
    path("review/", label_views.review, name="review"),
    path("review/label/", label_views.review_label, name="review_label"),
    path("review/undo/", label_views.review_undo, name="review_undo"),
    path("models/", label_views.models_page, name="models"),
    path("models/labels.csv", label_views.labels_export, name="labels_export"),
    path("models/register/", registry_views.model_register, name="model_register"),
    path("models/rollback/", registry_views.model_rollback, name="model_rollback"),
    path("models/versions/<str:version_id>/promote/", registry_views.model_promote, name="model_promote"),
    path("models/versions/<str:version_id>/shadow/", registry_views.shadow_start, name="shadow_start"),
    path("models/shadows/<str:run_id>/", registry_views.shadow_detail, name="shadow_detail"),
    path("models/shadows/<str:run_id>/differing.csv", registry_views.shadow_differing_csv, name="shadow_differing"),
    path("models/finetunes/", finetune_views.finetune_start, name="finetune_start"),
    path("models/finetunes/<str:run_id>/", finetune_views.finetune_detail, name="finetune_detail"),
    path("models/finetunes/<str:run_id>/cancel/", finetune_views.finetune_cancel, name="finetune_cancel"),
    path("batches/", batches.batch_new, name="batch_new"),
    path("batches/<str:batch_id>/", batches.batch_detail, name="batch_detail"),
    path("batches/<str:batch_id>/cancel/", batches.batch_cancel, name="batch_cancel"),
    path("batches/<str:batch_id>/requeue/", batches.batch_requeue, name="batch_requeue"),
    path("batches/<str:batch_id>/results.csv", batches.batch_download, name="batch_download"),
    path("charts/data.json", charts.charts_data, name="charts_data"),
    path("generate/", generate_views.generate, name="generate"),
    # Inference fleet power management
    path("power/", power_views.power_page, name="power"),
    path("power/panel/", power_views.power_panel, name="power_panel"),
    path("power/audit/", power_views.audit_log, name="audit_log"),
    path("power/instances/<str:instance_id>/<str:action>/", power_views.instance_action, name="instance_action"),
    # The user's settings: API tokens
    path("settings/tokens/", token_views.token_list, name="token_list"),
    path("settings/tokens/<int:token_id>/revoke/", token_views.token_revoke, name="token_revoke"),
    path("power/holds/<str:target>/<str:action>/", power_views.power_hold, name="power_hold"),
    # Webhooks: register, delivery log, redeliver
    path("webhooks/", webhook_views.webhooks, name="webhooks"),
    path("webhooks/<str:webhook_id>/", webhook_views.webhook_detail, name="webhook_detail"),
    path("webhooks/<str:webhook_id>/delete/", webhook_views.webhook_delete, name="webhook_delete"),
    path("webhooks/<str:webhook_id>/enable/", webhook_views.webhook_enable, name="webhook_enable"),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/redeliver/",
        webhook_views.webhook_redeliver,
        name="webhook_redeliver",
    ),
    path("power/endpoints/<str:name>/<str:action>/", endpoint_views.endpoint_action, name="endpoint_action"),
]
