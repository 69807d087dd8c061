"""Staff views of tokens, batches and the audit trail.

Tokens are made on the settings page or by `manage.py create_api_token`, which show the raw token once;
here they are only listed and revoked (through the service, so each revocation is audited). Batches and
audit events are records of what happened: read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from dashboard import services
from dashboard.auth import AuthenticatedHttpRequest
from dashboard.models import ApiToken, AuditEvent, Batch


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at", "expires_at", "revoked_at")
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An added row would be a hash with no token behind it: nobody could ever use it.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        # Revoked, not deleted: the record of which token did what stays.
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_selected(self, request: AuthenticatedHttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(
            services.api_token_revoke(prefix=token.prefix, user=token.user, actor=request.user, via="admin")
            for token in queryset.filter(revoked_at__isnull=True).select_related("user")
        )
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_by", "created_at", "source", "filename", "total", "completed_at")
    list_filter = ("source", ("completed_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("id", "filename", "created_by__username")
    date_hierarchy = "created_at"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "actor_name", "action", "target", "count", "outcome")
    list_filter = ("kind", "outcome", "action", "created_at")
    search_fields = ("actor_name", "action", "target", "detail")
    date_hierarchy = "created_at"
