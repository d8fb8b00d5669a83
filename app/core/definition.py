"""What the web layer still imports by this name; the format lives in `app.core.format`
(values, conditions, document, problems, parse) and each step type's config model in its
kind module (`app.core.steps.<type>`). New code imports from there."""

from app.core.events import EMAIL_EVENTS
from app.core.format.parse import settings_problems, step_config_problems
from app.core.format.problems import DefinitionError
from app.core.graph import Problem

__all__ = [
    "EMAIL_EVENTS",
    "DefinitionError",
    "Problem",
    "settings_problems",
    "step_config_problems",
]
