from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import api
from dashboard.login_throttle import login_throttled
from dashboard.metrics import exposition
from dashboard.views import health

urlpatterns = [
    path("", include("dashboard.urls")),
    # The JSON API (dashboard/api/): its url names are un-namespaced, as reverse("api_...") expects.
    *api.urlpatterns,
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", exposition.metrics, name="metrics"),
    # Both login pages count failures and refuse a locked username or address (dashboard/login_throttle.py).
    path("accounts/login/", login_throttled(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/login/", login_throttled(admin.site.login)),  # ahead of admin.site.urls, which has its own
    path("admin/", admin.site.urls),
]
