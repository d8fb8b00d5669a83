"""The template gallery, "Save as template", and sequence import and export as files."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from app.core.format.problems import DefinitionError
from app.core.graph import Problem
from app.extensions import db
from app.models import Sequence
from app.services import gallery
from app.web import web_bp
from app.web.builder import owned_sequence


@web_bp.get("/templates")
@login_required
def templates() -> Any:
    return render_template(
        "gallery/index.html",
        shipped=gallery.shipped_templates(),
        saved=gallery.workspace_templates(current_user.workspace_id),
        thumbnail=_thumbnail,
    )


def _thumbnail(template: gallery.GalleryTemplate) -> Markup:
    """The card's SVG, built by core.thumbnail with every piece of author text escaped."""
    return Markup(template.svg)


@web_bp.post("/templates/<key>/use")
@login_required
def use_template(key: str) -> Any:
    try:
        sequence = gallery.use_template(current_user.workspace, key, current_user.id)
    except gallery.TemplateNotFound:
        abort(404)
    except DefinitionError as exc:  # a saved template the current format no longer accepts
        db.session.rollback()
        flash(f"This template cannot be used: {exc.first}", "error")
        return redirect(url_for("web.templates"))
    flash(f"Created {sequence.name!r} from the template as a draft.", "ok")
    return redirect(url_for("web.builder_page", sequence_id=sequence.id))


@web_bp.post("/sequences/<uuid:sequence_id>/save-as-template")
@login_required
def save_as_template(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    name = request.form.get("name", "")
    try:
        template = gallery.save_as_template(sequence, name, current_user.id)
    except DefinitionError as exc:
        db.session.rollback()
        page = render_template(
            "gallery/save_template.html", sequence=sequence, name=name, problems=exc.problems
        )
        return page, 422
    flash(f"Saved {template.name!r} as a template of this workspace.", "ok")
    return redirect(url_for("web.templates", _anchor="workspace-templates"))


@web_bp.get("/sequences/import")
@login_required
def sequence_import() -> Any:
    return render_template("gallery/import.html", problems=[])


@web_bp.post("/sequences/import")
@login_required
def sequence_import_upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_refused([Problem("choose a file to import", "file")], None)
    try:
        sequence = gallery.import_sequence(
            current_user.workspace, upload.read(), upload.filename, current_user.id
        )
    except DefinitionError as exc:
        db.session.rollback()
        return _import_refused(exc.problems, upload.filename)
    flash(f"Imported {sequence.name!r} as a draft.", "ok")
    return redirect(url_for("web.builder_page", sequence_id=sequence.id))


def _import_refused(problems: list[Problem], filename: str | None) -> Any:
    return render_template("gallery/import.html", problems=problems, filename=filename), 422


@web_bp.get("/sequences/<uuid:sequence_id>/export.<any(yaml, json):fmt>")
@login_required
def sequence_export(sequence_id: uuid.UUID, fmt: str) -> Any:
    return _download(owned_sequence(sequence_id), fmt)


def _download(sequence: Sequence, fmt: str) -> Response:
    """The sequence as a file the browser saves rather than shows."""
    text, mimetype, filename = gallery.export_sequence(sequence, fmt)
    response = Response(text, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response
