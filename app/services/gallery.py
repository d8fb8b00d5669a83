"""Templates and file transfer: the shipped gallery, workspace templates, import and export.

Shipped templates are the `app/gallery/*.yaml` files (format v1); a workspace's own are
`sequence_templates` rows. Using either creates an ordinary draft sequence. Imports are
parsed in full before anything is written, so a bad file creates nothing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.format.parse import definition_to_dict, parse_definition
from app.core.format.problems import DefinitionError
from app.core.gallery_facts import GalleryFacts, gallery_facts
from app.core.graph import Problem
from app.core.thumbnail import render_thumbnail
from app.extensions import db
from app.models import Sequence, SequenceTemplate, Workspace
from app.services.sequences import create_sequence, export_definition, parse_input
from app.services.template_budget import check_definition

GALLERY_DIR = Path(__file__).resolve().parent.parent / "gallery"
"""Where the shipped templates live (packaged with the app, see pyproject's package-data)."""
SHIPPED_ORDER = (
    "saas_trial",
    "webinar_promo",
    "cold_outreach",
    "new_user_onboarding",
    "re_engagement",
)
"""The seed's three standard templates first, in its order; any other file after these."""
IMPORT_SUFFIXES = (".json", ".yaml", ".yml")
MAX_IMPORT_BYTES = 512 * 1024
EXPORT_FORMATS = {"yaml": "application/yaml", "json": "application/json"}


class TemplateNotFound(LookupError):
    """No shipped template with that key and none of the workspace's with that id."""


@dataclass(frozen=True)
class GalleryTemplate:
    """One gallery card: `key` is the file stem (shipped) or the row id (workspace)."""

    key: str
    name: str
    description: str | None
    definition: dict[str, Any]
    facts: GalleryFacts
    svg: str
    shipped: bool


def shipped_templates() -> list[GalleryTemplate]:
    """The gallery's files, parsed once and reloaded only when a file changes."""
    files = sorted(GALLERY_DIR.glob("*.yaml"))
    stamp = tuple((path.name, path.stat().st_mtime_ns) for path in files)
    return list(_load_shipped(stamp))


@lru_cache(maxsize=4)
def _load_shipped(stamp: tuple[tuple[str, int], ...]) -> tuple[GalleryTemplate, ...]:
    """`stamp` (each file's name and modification time) is the cache key."""
    templates = [_shipped(GALLERY_DIR / name) for name, _ in stamp]
    rank = {key: index for index, key in enumerate(SHIPPED_ORDER)}
    return tuple(sorted(templates, key=lambda t: (rank.get(t.key, len(rank)), t.key)))


def _shipped(path: Path) -> GalleryTemplate:
    try:
        definition = parse_definition(path.read_text(encoding="utf-8"))
    except DefinitionError as exc:
        raise ValueError(f"the shipped template {path.name} is invalid: {exc}") from exc
    return _card(path.stem, definition_to_dict(definition), shipped=True)


def _card(key: str, document: dict[str, Any], shipped: bool) -> GalleryTemplate:
    return GalleryTemplate(
        key=key,
        name=document["name"],
        description=document.get("description"),
        definition=document,
        facts=gallery_facts(document),
        svg=render_thumbnail(document),
        shipped=shipped,
    )


def workspace_templates(workspace_id: uuid.UUID) -> list[GalleryTemplate]:
    """The workspace's saved templates by name; the definition stored is what `use` copies."""
    rows = db.session.scalars(
        SequenceTemplate.in_workspace(workspace_id).order_by(SequenceTemplate.name)
    )
    return [_card(str(row.id), {**row.definition, "name": row.name}, shipped=False) for row in rows]


def find_template(workspace_id: uuid.UUID, key_or_id: str) -> GalleryTemplate:
    """A shipped template by file stem, else one of this workspace's by id."""
    for template in shipped_templates():
        if template.key == key_or_id:
            return template
    try:
        template_id = uuid.UUID(key_or_id)
    except ValueError:
        raise TemplateNotFound(key_or_id) from None
    row = db.session.scalar(
        SequenceTemplate.in_workspace(workspace_id, SequenceTemplate.id == template_id)
    )
    if row is None:
        raise TemplateNotFound(key_or_id)
    return _card(str(row.id), {**row.definition, "name": row.name}, shipped=False)


def use_template(workspace: Workspace, key_or_id: str, created_by: uuid.UUID | None) -> Sequence:
    """A new draft from the template, named after it (numbered when the name is taken)."""
    template = find_template(workspace.id, key_or_id)
    definition = parse_definition(template.definition)
    name = unique_sequence_name(workspace.id, template.name)
    return create_sequence(workspace, definition.model_copy(update={"name": name}), created_by)


def unique_sequence_name(workspace_id: uuid.UUID, wanted: str) -> str:
    """`wanted`, or `wanted (2)`, `(3)`... so the list never shows two identical names."""
    wanted = wanted.strip()[:255]
    taken = set(
        db.session.scalars(
            select(Sequence.name).where(
                Sequence.workspace_id == workspace_id,
                Sequence.name.startswith(wanted[:240], autoescape=True),
            )
        )
    )
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        suffix = f" ({number})"
        candidate = wanted[: 255 - len(suffix)] + suffix
    return candidate


def save_as_template(
    sequence: Sequence, name: str, created_by: uuid.UUID | None
) -> SequenceTemplate:
    """Store the sequence's definition as a workspace template; it must be complete to be
    reused, and its name unique in the workspace."""
    name = name.strip()
    if not name:
        raise DefinitionError([Problem("give the template a name", "name")])
    if len(name) > 255:
        raise DefinitionError([Problem("a template name has at most 255 characters", "name")])
    document = {**export_definition(sequence), "name": name}
    check_definition(parse_definition(document))
    if _template_named(sequence.workspace_id, name):
        raise _duplicate(name)
    template = SequenceTemplate(
        tenant_id=sequence.tenant_id,
        workspace_id=sequence.workspace_id,
        name=name,
        description=sequence.description,
        definition=document,
        created_by=created_by,
    )
    db.session.add(template)
    try:
        db.session.commit()
    except IntegrityError:  # saved by someone else a moment ago
        db.session.rollback()
        raise _duplicate(name) from None
    return template


def _template_named(workspace_id: uuid.UUID, name: str) -> bool:
    found = db.session.scalar(
        select(SequenceTemplate.id).where(
            SequenceTemplate.workspace_id == workspace_id, SequenceTemplate.name == name
        )
    )
    return found is not None


def _duplicate(name: str) -> DefinitionError:
    message = f"this workspace already has a template named {name!r}; choose another name"
    return DefinitionError([Problem(message, "name")])


def import_sequence(
    workspace: Workspace, source: str | bytes, filename: str | None, created_by: uuid.UUID | None
) -> Sequence:
    """A draft from a JSON or YAML file; raises DefinitionError naming each problem's step
    and field before anything is written."""
    if filename is not None and not filename.lower().endswith(IMPORT_SUFFIXES):
        raise DefinitionError([Problem("choose a .json, .yaml or .yml file", "file")])
    if len(source) > MAX_IMPORT_BYTES:
        limit = MAX_IMPORT_BYTES // 1024
        raise DefinitionError([Problem(f"the file is larger than {limit} KB", "file")])
    if not source.strip():
        raise DefinitionError([Problem("the file is empty", "file")])
    definition = parse_input(source)
    name = unique_sequence_name(workspace.id, definition.name)
    return create_sequence(workspace, definition.model_copy(update={"name": name}), created_by)


def export_sequence(sequence: Sequence, fmt: str) -> tuple[str, str, str]:
    """(text, mimetype, filename) of the sequence as a format v1 file; unfinished drafts
    export as they are, so work in progress can be moved too."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected yaml or json")
    document = export_definition(sequence)
    if fmt == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=False
        )
    slug = re.sub(r"[^a-z0-9]+", "-", sequence.name.lower()).strip("-")[:80] or "sequence"
    return text, EXPORT_FORMATS[fmt], f"{slug}.{fmt}"
