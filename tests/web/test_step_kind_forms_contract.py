"""The web side of every registered step kind: a panel form module and template beside it,
a default config that survives its form, and a panel that renders and keeps each of the
default's problems on a field it shows. Adding a kind without its panel fails here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.datastructures import MultiDict

import app as app_package
from app.core.steps import KINDS
from app.extensions import db
from app.models import Sequence
from app.services import accounts, builder, sequences
from app.web.form_toolkit import FormReader, compact
from app.web.steps import FORMS, config_from_form, form_from_config
from tests.core.test_step_kind_contract import EXAMPLE_CONFIGS
from tests.web.client import CSRF_INPUT, PASSWORD, Web

TEMPLATES = Path(app_package.__file__).parent / "templates" / "builder" / "steps"
TYPES = list(KINDS)


@pytest.mark.parametrize("step_type", TYPES)
def test_each_kind_has_a_form_module_and_a_panel_template(step_type):
    assert importlib.util.find_spec(f"app.web.steps.{step_type}") is not None, (
        f"step type {step_type!r} needs app/web/steps/{step_type}.py defining FORM"
    )
    assert step_type in FORMS, f"app/web/steps/{step_type}.py must define FORM = StepForm(...)"
    assert FORMS[step_type].type == step_type
    assert (TEMPLATES / f"{step_type}.html").is_file(), (
        f"step type {step_type!r} needs templates/builder/steps/{step_type}.html"
    )


def test_every_form_is_for_a_registered_kind():
    assert set(FORMS) <= set(KINDS), "a form module names a type app/core/steps does not know"


@pytest.mark.parametrize("step_type", TYPES)
def test_a_kinds_default_config_comes_back_from_its_form(step_type):
    default = dict(KINDS[step_type].default_config)
    shown = form_from_config(step_type, default).values
    config, form = config_from_form(step_type, shown)
    if config is not None:
        assert config == default
        return
    # An unfinished default (a goal without its name) is refused by the save, as it should be;
    # read back as typed it must show the same form again: nothing lost, nothing invented
    # (an empty box and a missing one look the same).
    read_back = FORMS[step_type].from_form(FormReader(compact(shown)))
    assert _filled(form_from_config(step_type, read_back).values) == _filled(shown)
    assert form.errors, "a refused form says why"


@pytest.mark.parametrize("step_type", sorted(EXAMPLE_CONFIGS))
def test_a_kinds_finished_example_comes_back_from_its_form(step_type):
    example = EXAMPLE_CONFIGS[step_type]
    config, form = config_from_form(step_type, form_from_config(step_type, example).values)
    assert form.errors == {}
    assert config == example


def _filled(values: MultiDict[str, str]) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in values.items(multi=True) if value)


@pytest.fixture
def kinds_sequence(app: Flask) -> tuple[Web, Sequence, dict[str, str]]:
    """A signed-in marketer's draft holding one step of every kind."""
    workspace = accounts.create_workspace("Contract")
    accounts.create_user("kinds@contract.test", workspace, PASSWORD)
    sequence = sequences.create_blank(workspace, "Every kind", None)
    step_ids = {}
    for index, step_type in enumerate(TYPES):
        position = (40, 40 + 120 * index)
        step_ids[step_type], _ = builder.add_step(sequence, step_type, position, sequence.version)
    web = Web(app)
    assert web.sign_in("kinds@contract.test", PASSWORD).status_code == 302
    return web, sequence, step_ids


@pytest.mark.parametrize("step_type", TYPES)
def test_a_kinds_panel_renders_and_shows_each_problem_on_its_field(step_type, kinds_sequence):
    web, sequence, step_ids = kinds_sequence
    url = f"/sequences/{sequence.id}/steps/{step_ids[step_type]}/panel"
    page = web.get(url)
    assert page.status_code == 200
    assert f"<h2>{KINDS[step_type].label}</h2>" in page.text

    token = CSRF_INPUT.search(page.text)
    assert token
    db.session.expire_all()
    values = MultiDict(form_from_config(step_type, KINDS[step_type].default_config).values)
    values.update({"csrf_token": token.group(1), "version": str(sequence.version)})
    saved = web.post(url, data=values)
    assert saved.status_code == 200
    _, form = config_from_form(step_type, values)
    for name in form.errors:
        assert re.search(rf'id="pf-{re.escape(name)}-error"', saved.text), (
            f"{step_type}: the problem at {name!r} is not shown next to a field of the panel"
        )
