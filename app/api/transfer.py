"""Import and export of sequences as files, and the template gallery, over the API."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from app.api import ApiError, api_bp, owned
from app.api.sequences import sequence_document
from app.extensions import db
from app.models import Workspace
from app.services import gallery
from app.services.sequences import get_sequence


@api_bp.post("/sequences/import")
def import_sequence() -> tuple[Any, int]:
    """The body is the definition as JSON or YAML text, or a multipart upload named `file`."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, "upload the definition as the multipart field 'file'", "file")
        source, filename = upload.read(), upload.filename or None
    else:  # any other type, even curl's default form type for --data-binary: the raw text
        source, filename = request.get_data(), None
    workspace = db.session.get_one(Workspace, g.workspace_id)
    sequence = gallery.import_sequence(workspace, source, filename, None)
    return jsonify(sequence_document(sequence)), 201


@api_bp.get("/sequences/<sequence_id>/export")
def export_sequence(sequence_id: str) -> Response:
    fmt = request.args.get("format", "yaml")
    if fmt not in gallery.EXPORT_FORMATS:
        raise ApiError(400, "format must be yaml or json", "format")
    text, mimetype, filename = gallery.export_sequence(
        owned(get_sequence, sequence_id, "sequence"), fmt
    )
    response = Response(text, mimetype=mimetype)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    return response


@api_bp.get("/templates")
def list_templates() -> Any:
    """The shipped templates, then the workspace's own; `key` is what `use` takes."""
    shipped = gallery.shipped_templates()
    saved = gallery.workspace_templates(g.workspace_id)
    return jsonify({"templates": [_template(t) for t in [*shipped, *saved]]})


def _template(template: gallery.GalleryTemplate) -> dict[str, Any]:
    return {
        "key": template.key,
        "name": template.name,
        "description": template.description,
        "source": "shipped" if template.shipped else "workspace",
        "steps": len(template.definition.get("steps") or []),
        "emails": template.facts.email_count,
        "email_names": list(template.facts.email_names),
        "duration": template.facts.duration,
    }


@api_bp.post("/templates/<key>/use")
def use_template(key: str) -> tuple[Any, int]:
    workspace = db.session.get_one(Workspace, g.workspace_id)
    try:
        sequence = gallery.use_template(workspace, key, None)
    except gallery.TemplateNotFound:
        raise ApiError(404, "no such template") from None
    return jsonify(sequence_document(sequence)), 201
