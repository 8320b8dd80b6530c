"""The organisation in the console: the unit tree and each unit's page, units, service areas and
desks (create, edit, deactivate, reactivate; a desk's new link), merging units, and the CSV
import and export. Administrators change everything; unit officers see their own branch and
manage its desks; analysts have no configuration pages."""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.org import AreaForm, DeskForm, MergeForm, OrgImportForm, UnitForm
from forms.rounds import ConfirmForm
from survey.admin import bp
from survey.admin.access import admin_only, roles_required
from survey.admin.confirm import confirmed_change, form_status, show_field_error
from survey.admin.requests import current_staff, page_arg
from survey.extensions import db
from survey.models import Desk, Role, Unit, utcnow
from survey.routing import bounded_id
from survey.services.access import visible_unit_ids
from survey.services.organisation.csv_files import (
    COLUMNS,
    FILE_NAMES,
    KINDS,
    MAX_FILE_BYTES,
    export_csv,
    import_organisation,
)
from survey.services.organisation.desks import (
    area_choices,
    create_desk,
    desk_unit,
    regenerate_token,
    set_desk_active,
    suggested_code,
    update_desk,
    visible_desk,
)
from survey.services.organisation.merge import merge_units, plan_merge
from survey.services.organisation.service_areas import (
    area_rows,
    area_users,
    create_area,
    get_area,
    set_area_active,
    update_area,
)
from survey.services.organisation.units import (
    STATUSES,
    OrgInputError,
    TreeFilter,
    activation_check,
    all_areas,
    levels,
    set_unit_active,
    unit_codes,
    unit_page,
    unit_tree,
    update_unit,
    visible_unit,
)
from survey.services.organisation.units import create_unit as create_unit_service
from survey.services.paging import paginate_list

UNITS_PER_PAGE = 100
AREAS_PER_PAGE = 50
DESKS_PER_PAGE = 50
MAX_SEARCH = 100

units_staff = roles_required(Role.ADMIN, Role.UNIT_OFFICER)



def _visible() -> set[int] | None:
    return visible_unit_ids(current_staff())



# --- units -------------------------------------------------------------------------------------


@bp.get("/units")
@units_staff
def units() -> str:
    status = request.args.get("status", "all")
    depth = request.args.get("depth", type=int)
    wanted = TreeFilter(
        under=request.args.get("under", type=bounded_id),
        query=request.args.get("q", "")[:MAX_SEARCH],
        status=status if status in STATUSES else "all",
        depth=depth if depth and depth > 0 else None,
    )
    visible = _visible()
    under = visible_unit(wanted.under, visible) if wanted.under is not None else None
    page = paginate_list(unit_tree(visible, wanted), page_arg(), UNITS_PER_PAGE)
    return render_template("admin/org/units.html", page=page, wanted=wanted, under=under)


def _unit_form(form: UnitForm) -> UnitForm:
    form.level_code.choices = [(level.code, level.name) for level in levels()]
    form.area_ids.choices = [
        (a.id, f"{a.code} – {a.name}" + ("" if a.is_active else f" ({_('ngừng')})"))
        for a in all_areas()
    ]
    return form


@bp.route("/units/new", methods=["GET", "POST"])
@admin_only
def unit_new() -> Any:
    parent = request.args.get("parent", "")[:64]
    form = _unit_form(UnitForm(data={"parent_code": parent} if request.method == "GET" else None))
    if form.validate_on_submit():
        try:
            unit = create_unit_service(form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã tạo đơn vị %(code)s.", code=unit.code), "success")
            return redirect(url_for("admin.unit_detail", unit_id=unit.id), code=303)
    return render_template(
        "admin/org/unit_form.html", form=form, unit=None, codes=unit_codes()
    ), form_status(request.method == "POST")


@bp.get("/units/<int:unit_id>")
@units_staff
def unit_detail(unit_id: int) -> str:
    visible = _visible()
    details = unit_page(visible_unit(unit_id, visible), visible)
    desks = paginate_list(details.desks, page_arg("desk_page"), DESKS_PER_PAGE)
    return render_template(
        "admin/org/unit.html",
        details=details,
        unit=details.unit,
        desks=desks,
        base_url=current_app.config["PUBLIC_BASE_URL"],
    )


@bp.route("/units/<int:unit_id>/edit", methods=["GET", "POST"])
@admin_only
def unit_edit(unit_id: int) -> Any:
    unit = visible_unit(unit_id, None)
    data = None
    if request.method == "GET":
        data = {
            "code": unit.code,
            "name": unit.name,
            "level_code": unit.level_code,
            "parent_code": unit.parent.code if unit.parent else "",
            "area_ids": [a.id for a in unit.service_areas],
        }
    form = _unit_form(UnitForm(data=data))
    if form.validate_on_submit():
        try:
            update_unit(unit, form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã lưu đơn vị %(code)s.", code=unit.code), "success")
            return redirect(url_for("admin.unit_detail", unit_id=unit.id), code=303)
    return render_template(
        "admin/org/unit_form.html", form=form, unit=unit, codes=unit_codes()
    ), form_status(request.method == "POST")


def _toggle_unit(unit_id: int, active: bool) -> Any:
    unit = visible_unit(unit_id, None)
    form = ConfirmForm()
    done = (
        _("Đã mở lại đơn vị %(code)s.", code=unit.code)
        if active
        else _("Đã ngừng hoạt động đơn vị %(code)s.", code=unit.code)
    )
    answer = confirmed_change(
        form,
        lambda: set_unit_active(unit, active, now=utcnow(), actor=current_staff()),
        done=done,
        to=url_for("admin.unit_detail", unit_id=unit.id),
        errors=OrgInputError,
    )
    if answer is not None:
        return answer
    return render_template(
        "admin/org/unit_confirm.html",
        unit=unit,
        active=active,
        form=form,
        check=activation_check(unit),
    ), form_status(request.method == "POST")


@bp.route("/units/<int:unit_id>/deactivate", methods=["GET", "POST"])
@admin_only
def unit_deactivate(unit_id: int) -> Any:
    return _toggle_unit(unit_id, active=False)


@bp.route("/units/<int:unit_id>/reactivate", methods=["GET", "POST"])
@admin_only
def unit_reactivate(unit_id: int) -> Any:
    return _toggle_unit(unit_id, active=True)


@bp.route("/units/merge", methods=["GET", "POST"])
@admin_only
def unit_merge() -> Any:
    data = None
    if request.method == "GET":
        data = {
            "successor_code": request.args.get("successor", "")[:64],
            "absorbed_codes": request.args.get("absorbed", "")[:2000],
            "move_desks": True,
        }
    form = MergeForm(data=data)
    plan = None
    if form.validate_on_submit():
        try:
            plan = plan_merge(form.request())
        except OrgInputError as exc:
            form.step.data = "check"  # back to the editable form, with the message
            show_field_error(form, exc)
        else:
            if form.applying:
                merge_units(plan, now=utcnow(), actor=current_staff())
                db.session.commit()
                flash(
                    _(
                        "Đã sáp nhập %(n)s đơn vị vào %(code)s.",
                        n=len(plan.absorbed),
                        code=plan.successor.code,
                    ),
                    "success",
                )
                return redirect(url_for("admin.unit_detail", unit_id=plan.successor.id), code=303)
            form.step.data = "apply"
    elif form.applying and set(form.errors) == {"confirm"}:
        # Only the confirmation box was left empty: show the same summary again.
        try:
            plan = plan_merge(form.request())
        except OrgInputError as exc:
            form.step.data = "check"
            show_field_error(form, exc)
    else:
        form.step.data = "check"
    posted = request.method == "POST"
    status = 200 if plan is not None and not form.errors else form_status(posted)
    return render_template("admin/org/merge.html", form=form, plan=plan, codes=unit_codes()), status


# --- the CSV files -----------------------------------------------------------------------------


@bp.route("/units/import", methods=["GET", "POST"])
@admin_only
def org_import() -> Any:
    form = OrgImportForm()
    outcome = None
    if form.validate_on_submit():
        files = {}
        for kind, name in OrgImportForm.FIELDS.items():
            upload = getattr(form, name).data
            if upload:
                # One byte past the limit is enough to tell that the file is too large.
                files[kind] = (upload.filename or "", upload.stream.read(MAX_FILE_BYTES + 1))
        outcome = import_organisation(files, now=utcnow(), actor=current_staff())
        if outcome.ok:
            db.session.commit()
            changes = outcome.changes
            flash(
                _(
                    "Đã nhập %(files)s: %(created)s mục tạo mới, %(updated)s mục cập nhật "
                    "(đơn vị: %(uc)s mới, %(uu)s sửa; lĩnh vực của đơn vị: %(la)s thêm, "
                    "%(lr)s bỏ; quầy: %(dc)s mới, %(du)s sửa).",
                    files=", ".join(FILE_NAMES[k] for k in outcome.files),
                    created=changes.created,
                    updated=changes.updated,
                    uc=changes.units_created,
                    uu=changes.units_updated,
                    la=changes.links_added,
                    lr=changes.links_removed,
                    dc=changes.desks_created,
                    du=changes.desks_updated,
                ),
                "success",
            )
            if not changes.any:
                flash(_("Các tệp giống hệt dữ liệu đang có: không có gì thay đổi."), "success")
            return redirect(url_for("admin.org_import"), code=303)
        db.session.rollback()
    return render_template(
        "admin/org/import.html",
        form=form,
        outcome=outcome,
        columns=COLUMNS,
        file_names=FILE_NAMES,
        max_mb=MAX_FILE_BYTES // (1024 * 1024),
        levels=levels(),
    ), form_status(request.method == "POST")


@bp.get("/units/export/<kind>.csv")
@admin_only
def org_export(kind: str) -> FlaskResponse:
    if kind not in KINDS:
        abort(404)
    answer = FlaskResponse(export_csv(kind), mimetype="text/csv")
    answer.headers["Content-Disposition"] = f'attachment; filename="{FILE_NAMES[kind]}"'
    return answer


# --- service areas -----------------------------------------------------------------------------


@bp.get("/service-areas")
@admin_only
def service_areas() -> str:
    page = paginate_list(area_rows(), page_arg(), AREAS_PER_PAGE)
    return render_template("admin/org/areas.html", page=page)


@bp.route("/service-areas/new", methods=["GET", "POST"])
@admin_only
def service_area_new() -> Any:
    form = AreaForm()
    if form.validate_on_submit():
        try:
            area = create_area(form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã tạo lĩnh vực %(code)s.", code=area.code), "success")
            return redirect(url_for("admin.service_areas"), code=303)
    return render_template("admin/org/area_form.html", form=form, area=None), form_status(
        request.method == "POST"
    )


@bp.route("/service-areas/<int:area_id>/edit", methods=["GET", "POST"])
@admin_only
def service_area_edit(area_id: int) -> Any:
    area = get_area(area_id)
    data = None
    if request.method == "GET":
        data = {"code": area.code, "name": area.name, "name_en": area.name_en}
    form = AreaForm(data=data)
    if form.validate_on_submit():
        try:
            update_area(area, form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã lưu lĩnh vực %(code)s.", code=area.code), "success")
            return redirect(url_for("admin.service_areas"), code=303)
    units_using, desks_using = area_users(area)
    return render_template(
        "admin/org/area_form.html",
        form=form,
        area=area,
        units_using=units_using,
        desks_using=desks_using,
    ), form_status(request.method == "POST")


def _toggle_area(area_id: int, active: bool) -> Any:
    area = get_area(area_id)
    form = ConfirmForm()
    done = (
        _("Đã mở lại lĩnh vực %(code)s.", code=area.code)
        if active
        else _("Đã ngừng lĩnh vực %(code)s.", code=area.code)
    )
    answer = confirmed_change(
        form,
        lambda: set_area_active(area, active, now=utcnow(), actor=current_staff()),
        done=done,
        to=url_for("admin.service_areas"),
        errors=OrgInputError,
    )
    if answer is not None:
        return answer
    units_using, desks_using = area_users(area)
    return render_template(
        "admin/org/area_confirm.html",
        area=area,
        active=active,
        form=form,
        units_using=units_using,
        desks_using=desks_using,
    ), form_status(request.method == "POST")


@bp.route("/service-areas/<int:area_id>/deactivate", methods=["GET", "POST"])
@admin_only
def service_area_deactivate(area_id: int) -> Any:
    return _toggle_area(area_id, active=False)


@bp.route("/service-areas/<int:area_id>/reactivate", methods=["GET", "POST"])
@admin_only
def service_area_reactivate(area_id: int) -> Any:
    return _toggle_area(area_id, active=True)


# --- desks -------------------------------------------------------------------------------------


def _desk_form(form: DeskForm, unit: Unit, desk: Desk | None = None) -> DeskForm:
    form.area_ids.choices = [
        (a.id, f"{a.code} – {a.name}" + ("" if a.is_active else f" ({_('ngừng')})"))
        for a in area_choices(unit, desk)
    ]
    return form


@bp.route("/units/<int:unit_id>/desks/new", methods=["GET", "POST"])
@units_staff
def desk_new(unit_id: int) -> Any:
    unit = desk_unit(unit_id, _visible())
    data = {"code": suggested_code(unit)} if request.method == "GET" else None
    form = _desk_form(DeskForm(data=data), unit)
    if form.validate_on_submit():
        try:
            desk = create_desk(unit, form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã tạo quầy %(code)s.", code=desk.code), "success")
            return redirect(url_for("admin.desk_detail", desk_id=desk.id), code=303)
    page = render_template("admin/org/desk_form.html", form=form, unit=unit, desk=None)
    return page, form_status(request.method == "POST")


@bp.get("/desks/<int:desk_id>")
@units_staff
def desk_detail(desk_id: int) -> str:
    desk = visible_desk(desk_id, _visible())
    return render_template(
        "admin/org/desk.html",
        desk=desk,
        answer_url=f"{current_app.config['PUBLIC_BASE_URL']}/r/{desk.token}",
    )


@bp.route("/desks/<int:desk_id>/edit", methods=["GET", "POST"])
@units_staff
def desk_edit(desk_id: int) -> Any:
    desk = visible_desk(desk_id, _visible())
    data = None
    if request.method == "GET":
        data = {
            "code": desk.code,
            "name": desk.name,
            "area_ids": [a.id for a in desk.service_areas],
            "requires_dossier_code": desk.requires_dossier_code,
        }
    form = _desk_form(DeskForm(data=data), desk.unit, desk)
    if form.validate_on_submit():
        try:
            update_desk(desk, form.draft(), now=utcnow(), actor=current_staff())
        except OrgInputError as exc:
            db.session.rollback()
            show_field_error(form, exc)
        else:
            db.session.commit()
            flash(_("Đã lưu quầy %(code)s.", code=desk.code), "success")
            return redirect(url_for("admin.desk_detail", desk_id=desk.id), code=303)
    return render_template(
        "admin/org/desk_form.html", form=form, unit=desk.unit, desk=desk
    ), form_status(request.method == "POST")


def _desk_action(desk_id: int, action: str) -> Any:
    desk = visible_desk(desk_id, _visible())
    form = ConfirmForm()

    def change() -> None:
        if action == "token":
            regenerate_token(desk, now=utcnow(), actor=current_staff())
        else:
            set_desk_active(desk, action == "reactivate", now=utcnow(), actor=current_staff())

    messages = {
        "token": _("Đã tạo đường dẫn mới cho quầy %(code)s; hãy in lại mã QR.", code=desk.code),
        "deactivate": _("Đã ngừng quầy %(code)s.", code=desk.code),
        "reactivate": _("Đã mở lại quầy %(code)s.", code=desk.code),
    }
    answer = confirmed_change(
        form,
        change,
        done=messages[action],
        to=url_for("admin.desk_detail", desk_id=desk.id),
        errors=OrgInputError,
    )
    if answer is not None:
        return answer
    return render_template(
        "admin/org/desk_confirm.html", desk=desk, action=action, form=form
    ), form_status(request.method == "POST")


@bp.route("/desks/<int:desk_id>/deactivate", methods=["GET", "POST"])
@units_staff
def desk_deactivate(desk_id: int) -> Any:
    return _desk_action(desk_id, "deactivate")


@bp.route("/desks/<int:desk_id>/reactivate", methods=["GET", "POST"])
@units_staff
def desk_reactivate(desk_id: int) -> Any:
    return _desk_action(desk_id, "reactivate")


@bp.route("/desks/<int:desk_id>/token", methods=["GET", "POST"])
@units_staff
def desk_token(desk_id: int) -> Any:
    return _desk_action(desk_id, "token")
