"""Questionnaires in the console (administrators only): templates and their versions, a preview
as citizens see it, cloning, editing drafts, and JSON import and export.

A version used by a round that has opened is frozen: its edit pages answer 409 with a page that
says so and offers to clone it into a new draft.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import SelectChoice

from forms.answer import build_answer_form
from forms.rounds import ConfirmForm
from forms.templates import (
    INDEX_LABELS,
    ROLE_LABELS,
    ROLE_SHORT,
    SCALE_LABELS,
    SCALE_SHORT,
    ActionForm,
    AspectForm,
    ElementForm,
    ImportForm,
    ItemForm,
    MoveForm,
    NewTemplateForm,
    VersionForm,
)
from survey.admin import bp
from survey.admin.access import admin_only
from survey.admin.requests import current_staff, page_arg
from survey.admin.rounds import number_text
from survey.errors import TemplateFrozenError
from survey.extensions import db
from survey.i18n import current_locale
from survey.models import Aspect, Element, Item, TemplateVersion, utcnow
from survey.models.templates import SCALE_POINTS
from survey.routing import bounded_id
from survey.services.paging import paginate_list
from survey.services.questionnaires import editor
from survey.services.questionnaires.templates import (
    TemplateInputError,
    clone_version,
    export_version,
    find_version,
    import_template_file,
    rounds_using,
    version_rows,
)

VERSIONS_PER_PAGE = 30
PARTS: dict[str, Callable[[TemplateVersion, int], Aspect | Element | Item]] = {
    "aspects": editor.aspect_of,
    "elements": editor.element_of,
    "items": editor.item_of,
}
REFUSALS: dict[str, Callable[[Any], str | None]] = {
    "aspects": editor.aspect_delete_refusal,
    "elements": editor.element_delete_refusal,
    "items": editor.item_delete_refusal,
}
DELETERS: dict[str, Callable[..., None]] = {
    "aspects": editor.delete_aspect,
    "elements": editor.delete_element,
    "items": editor.delete_item,
}


def _labels() -> dict[str, Any]:
    return {
        "scale_labels": SCALE_LABELS,
        "role_labels": ROLE_LABELS,
        "scale_short": SCALE_SHORT,
        "role_short": ROLE_SHORT,
        "index_labels": INDEX_LABELS,
        "scale_points": {scale.value: points for scale, points in SCALE_POINTS.items()},
    }


def _frozen(version: TemplateVersion) -> tuple[str, int]:
    return render_template(
        "admin/templates/frozen.html",
        version=version,
        rounds=rounds_using(version),
        clone_form=ActionForm(),
    ), 409


def _draft(version_id: int) -> TemplateVersion:
    """The version to edit, locked for the change when posting. A version used by a round that
    has opened is frozen: the request ends there with the frozen page (409)."""
    version = find_version(version_id, lock=request.method == "POST")
    if version.is_frozen:
        abort(make_response(*_frozen(version)))
    return version


def _mark(form: FlaskForm, exc: TemplateInputError) -> list[str]:
    """Put the service's messages beside their fields; returns those that belong to no field."""
    loose: list[str] = []
    for name, messages in exc.problems.items():
        if name in form._fields:
            form[name].errors = [*form[name].errors, *messages]
        else:
            loose.extend(messages)
    return loose


def _to_version(version_id: int, anchor: str = "") -> Any:
    target = url_for("admin.template_version", version_id=version_id)
    return redirect(f"{target}#{anchor}" if anchor else target, code=303)


def _save(
    form: FlaskForm,
    version: TemplateVersion,
    change: Callable[[], Any],
    done: str,
    page: str,
    anchor: Callable[[Any], str] = lambda _result: "",
    **context: Any,
) -> Any:
    """Validate ``form``, run ``change`` and commit, or render ``page`` again with every problem
    beside its field (422) and nothing saved."""
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            result = change()
        except TemplateFrozenError:
            db.session.rollback()
            return _frozen(version)
        except TemplateInputError as exc:
            db.session.rollback()
            problems = _mark(form, exc)
        else:
            db.session.commit()
            flash(done, "success")
            return _to_version(version.id, anchor(result))
    status = 422 if request.method == "POST" else 200
    return render_template(
        page, form=form, version=version, problems=problems, **context, **_labels()
    ), status


# --- Templates and versions ----------------------------------------------------------------------


@bp.get("/templates")
@admin_only
def templates() -> str:
    page = paginate_list(version_rows(), page_arg(), VERSIONS_PER_PAGE)
    return render_template("admin/templates/index.html", page=page)


@bp.route("/templates/new", methods=["GET", "POST"])
@admin_only
def template_new() -> Any:
    form = NewTemplateForm()
    problems: list[str] = []
    if form.validate_on_submit():
        try:
            version = editor.create_template(form.draft(), now=utcnow(), actor=current_staff())
        except TemplateInputError as exc:
            db.session.rollback()
            problems = _mark(form, exc)
        else:
            db.session.commit()
            flash(_("Đã tạo phiếu khảo sát với phiên bản 1 (nháp)."), "success")
            return _to_version(version.id)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/templates/new.html", form=form, problems=problems), status


@bp.route("/templates/import", methods=["GET", "POST"])
@admin_only
def template_import() -> Any:
    form = ImportForm()
    outcome = None
    if form.validate_on_submit():
        outcome = import_template_file(form.file.data.read(), now=utcnow(), actor=current_staff())
        if outcome.version is not None:
            db.session.commit()
            if outcome.new_template:
                flash(_("Đã nhập phiếu khảo sát mới (phiên bản 1, nháp)."), "success")
            else:
                flash(
                    _(
                        "Phiếu có mã này đã có: đã nhập thành phiên bản %(n)s (nháp) của phiếu đó.",
                        n=outcome.version.number,
                    ),
                    "success",
                )
            return _to_version(outcome.version.id)
        db.session.rollback()
    status = 422 if request.method == "POST" else 200
    return render_template("admin/templates/import.html", form=form, outcome=outcome), status


@bp.get("/templates/versions/<int:version_id>")
@admin_only
def template_version(version_id: int) -> str:
    version = find_version(version_id)
    return render_template(
        "admin/templates/version.html",
        version=version,
        rounds=rounds_using(version),
        loose=[i for i in version.items if i.element_id is None],
        action_form=ActionForm(),
        **_labels(),
    )


@bp.get("/templates/versions/<int:version_id>/preview")
@admin_only
def template_preview(version_id: int) -> str:
    """The version as a citizen sees it, in the public layout, without a way to send it."""
    version = find_version(version_id)
    asks_code = request.args.get("dossier_code") == "1"
    form = build_answer_form(version, current_locale(), dossier_code=asks_code)(formdata=None)
    return render_template(
        "admin/templates/preview.html", version=version, form=form, asks_code=asks_code
    )


@bp.get("/templates/versions/<int:version_id>/export.json")
@admin_only
def template_export(version_id: int) -> FlaskResponse:
    version = find_version(version_id)
    body = json.dumps(export_version(version), ensure_ascii=False, indent=1) + "\n"
    answer = FlaskResponse(body, mimetype="application/json")
    name = f"{version.template.code}-v{version.number}.json"
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer


@bp.post("/templates/versions/<int:version_id>/clone")
@admin_only
def template_clone(version_id: int) -> Any:
    # The CSRF token is checked for every POST before this runs; cloning needs nothing else.
    source = find_version(version_id)
    copy = clone_version(source, now=utcnow(), actor=current_staff())
    db.session.commit()
    flash(
        _(
            "Đã tạo phiên bản %(n)s (nháp) từ phiên bản %(source)s. Các thay đổi sau đây chỉ áp "
            "dụng cho phiên bản mới.",
            n=copy.number,
            source=source.number,
        ),
        "success",
    )
    return _to_version(copy.id)


@bp.route("/templates/versions/<int:version_id>/edit", methods=["GET", "POST"])
@admin_only
def template_version_edit(version_id: int) -> Any:
    version = _draft(version_id)
    data = None
    if request.method == "GET":
        data = {
            "title": version.title,
            "title_en": version.title_en,
            "intro": version.intro,
            "intro_en": version.intro_en,
            "index_definition": version.index_definition,
            "default_target": number_text(version.default_target),
        }
    form = VersionForm(data=data)
    return _save(
        form,
        version,
        lambda: editor.update_version(version, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã lưu thông tin phiên bản."),
        "admin/templates/version_form.html",
    )


# --- Aspects -------------------------------------------------------------------------------------


@bp.route("/templates/versions/<int:version_id>/aspects/new", methods=["GET", "POST"])
@admin_only
def template_aspect_new(version_id: int) -> Any:
    version = _draft(version_id)
    form = AspectForm()
    return _save(
        form,
        version,
        lambda: editor.add_aspect(version, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã thêm khía cạnh."),
        "admin/templates/aspect_form.html",
        anchor=lambda aspect: f"aspect-{aspect.id}",
        aspect=None,
    )


@bp.route(
    "/templates/versions/<int:version_id>/aspects/<int:aspect_id>/edit", methods=["GET", "POST"]
)
@admin_only
def template_aspect_edit(version_id: int, aspect_id: int) -> Any:
    version = _draft(version_id)
    aspect = editor.aspect_of(version, aspect_id)
    data = None
    if request.method == "GET":
        data = {"code": aspect.code, "name": aspect.name, "name_en": aspect.name_en}
    form = AspectForm(data=data)
    return _save(
        form,
        version,
        lambda: editor.update_aspect(aspect, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã lưu khía cạnh."),
        "admin/templates/aspect_form.html",
        anchor=lambda _result: f"aspect-{aspect_id}",
        aspect=aspect,
    )


# --- Elements ------------------------------------------------------------------------------------


def _element_form(version: TemplateVersion, data: dict[str, Any] | None) -> ElementForm:
    form = ElementForm(data=data)
    form.aspect_id.choices = [
        SelectChoice(str(a.id), f"{a.code} – {a.name}") for a in version.aspects
    ]
    return form


@bp.route("/templates/versions/<int:version_id>/elements/new", methods=["GET", "POST"])
@admin_only
def template_element_new(version_id: int) -> Any:
    version = _draft(version_id)
    preset = request.args.get("aspect", type=bounded_id)
    form = _element_form(version, {"aspect_id": preset} if request.method == "GET" else None)
    return _save(
        form,
        version,
        lambda: editor.add_element(version, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã thêm yếu tố."),
        "admin/templates/element_form.html",
        anchor=lambda element: f"element-{element.id}",
        element=None,
    )


@bp.route(
    "/templates/versions/<int:version_id>/elements/<int:element_id>/edit", methods=["GET", "POST"]
)
@admin_only
def template_element_edit(version_id: int, element_id: int) -> Any:
    version = _draft(version_id)
    element = editor.element_of(version, element_id)
    data = None
    if request.method == "GET":
        data = {
            "aspect_id": element.aspect_id,
            "code": element.code,
            "name": element.name,
            "name_en": element.name_en,
        }
    form = _element_form(version, data)
    return _save(
        form,
        version,
        lambda: editor.update_element(element, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã lưu yếu tố."),
        "admin/templates/element_form.html",
        anchor=lambda _result: f"element-{element_id}",
        element=element,
    )


# --- Items ---------------------------------------------------------------------------------------


def _item_form(
    version: TemplateVersion, item: Item | None, data: dict[str, Any] | None
) -> ItemForm:
    form = ItemForm(data=data)
    choices = editor.editor_choices(version)
    form.element_id.choices = [
        SelectChoice("0", _("— Không thuộc yếu tố nào (câu hỏi chung, cuối phiếu) —")),
        *(
            SelectChoice(str(e.id), f"{e.aspect.code} › {e.code} – {e.name}")
            for e in choices.elements
        ),
    ]
    form.condition_item_id.choices = [
        SelectChoice("0", _("— Luôn hỏi —")),
        *(
            SelectChoice(str(i.id), f"{i.code} – {_short(i.text)}")
            for i in choices.items
            if i is not item
        ),
    ]
    return form


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@bp.route("/templates/versions/<int:version_id>/items/new", methods=["GET", "POST"])
@admin_only
def template_item_new(version_id: int) -> Any:
    version = _draft(version_id)
    data = None
    if request.method == "GET":
        data = {
            "scale": "sat5",
            "role": "criterion",
            "allow_na": True,
            "satisfied_values": "4, 5",
            "element_id": request.args.get("element", 0, type=bounded_id),
        }
    form = _item_form(version, None, data)
    return _save(
        form,
        version,
        lambda: editor.add_item(version, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã thêm câu hỏi."),
        "admin/templates/item_form.html",
        anchor=lambda item: f"item-{item.id}",
        item=None,
    )


@bp.route("/templates/versions/<int:version_id>/items/<int:item_id>/edit", methods=["GET", "POST"])
@admin_only
def template_item_edit(version_id: int, item_id: int) -> Any:
    version = _draft(version_id)
    item = editor.item_of(version, item_id)
    form = _item_form(version, item, ItemForm.data_of(item) if request.method == "GET" else None)
    return _save(
        form,
        version,
        lambda: editor.update_item(item, form.draft(), now=utcnow(), actor=current_staff()),
        _("Đã lưu câu hỏi."),
        "admin/templates/item_form.html",
        anchor=lambda _result: f"item-{item_id}",
        item=item,
    )


# --- Moving and deleting aspects, elements and items ---------------------------------------------

PART_PATH = (
    "/templates/versions/<int:version_id>/<any(aspects, elements, items):kind>/<int:part_id>"
)
ANCHORS = {"aspects": "aspect", "elements": "element", "items": "item"}


@bp.post(f"{PART_PATH}/move")
@admin_only
def template_part_move(version_id: int, kind: str, part_id: int) -> Any:
    version = _draft(version_id)
    part = PARTS[kind](version, part_id)
    form = MoveForm()
    if not form.validate_on_submit():
        flash(_("Không chuyển được: yêu cầu không hợp lệ."), "error")
        return _to_version(version.id)
    try:
        editor.move(
            part,
            "up" if form.direction.data == "up" else "down",
            now=utcnow(),
            actor=current_staff(),
        )
    except TemplateFrozenError:
        db.session.rollback()
        return _frozen(version)
    except TemplateInputError as exc:
        db.session.rollback()
        for messages in exc.problems.values():
            for message in messages:
                flash(_("Không chuyển được: %(reason)s", reason=message), "error")
        return _to_version(version_id, f"{ANCHORS[kind]}-{part_id}")
    db.session.commit()
    return _to_version(version_id, f"{ANCHORS[kind]}-{part_id}")


@bp.route(f"{PART_PATH}/delete", methods=["GET", "POST"])
@admin_only
def template_part_delete(version_id: int, kind: str, part_id: int) -> Any:
    version = _draft(version_id)
    part = PARTS[kind](version, part_id)
    refusal = REFUSALS[kind](part)
    form = ConfirmForm()
    if refusal is None and form.validate_on_submit():
        try:
            DELETERS[kind](part, now=utcnow(), actor=current_staff())
        except TemplateFrozenError:
            db.session.rollback()
            return _frozen(version)
        except TemplateInputError as exc:
            db.session.rollback()
            refusal = " ".join(m for messages in exc.problems.values() for m in messages)
        else:
            db.session.commit()
            flash(_("Đã xoá."), "success")
            return _to_version(version_id)
    status = 200 if request.method == "GET" else 409 if refusal else 422
    return render_template(
        "admin/templates/delete.html",
        version=version,
        kind=kind,
        part=part,
        refusal=refusal,
        form=form,
        **_labels(),
    ), status
