"""The audit trail in the console: administrators browse and filter it, newest first."""

from __future__ import annotations

from flask import render_template, request

from forms.audit import AuditFilterForm
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import page_arg
from survey.routing import INT64_MAX
from survey.services.audit import (
    AuditFilter,
    action_label,
    audit_facets,
    audit_page,
    entity_label,
    get_event,
)
from survey.services.paging import Page

EVENTS_PER_PAGE = 50
bp.add_app_template_global(action_label)
bp.add_app_template_global(entity_label)


@bp.get("/audit")
@admin_only
def audit() -> tuple[str, int]:
    form = AuditFilterForm(formdata=request.args).with_facets(audit_facets())
    if not form.validate():
        # A filter that cannot be read lists nothing rather than everything.
        empty: Page[object] = Page([], 1, EVENTS_PER_PAGE, 0)
        return render_template("admin/audit/index.html", form=form, page=empty), 422
    page = audit_page(form.audit_filter(), page_arg(), EVENTS_PER_PAGE)
    filtered = form.audit_filter() != AuditFilter()
    return render_template("admin/audit/index.html", form=form, page=page, filtered=filtered), 200


@bp.get(f"/audit/<int(max={INT64_MAX}):event_id>")  # a bigint column
@admin_only
def audit_event(event_id: int) -> str:
    return render_template("admin/audit/event.html", row=get_event(event_id))
