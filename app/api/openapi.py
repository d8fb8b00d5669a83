"""The OpenAPI 3.1 document of the JSON API, served at `GET /api/openapi.json` without a token.

The sequence format's schemas are generated from its pydantic models (app/core/format and the
step kinds' config models), so the document describes exactly what the API validates; the
other bodies are written here, beside the routes they describe. tests/api/test_openapi.py
keeps the paths true to `app.url_map`, and tests/api/test_schemathesis.py runs every
operation against the app.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from flask import jsonify

from app.api import api_bp
from app.core.contact_input import ContactInput
from app.core.events import AUTO_REPLY, BOUNCED, COMPLAINED, REPLIED
from app.core.format.document import SequenceDefinition
from app.core.steps.email import METRICS as AB_METRICS
from app.models.enrollment import ENROLLMENT_STATUSES
from app.models.experiment import AB_DECIDERS
from app.models.message import MESSAGE_STATUSES
from app.services.analytics import FUNNEL_COUNTS
from app.services.events import MAX_BATCH, MAX_CLIENT_ID, MAX_NAME

Schema = dict[str, Any]
SEQUENCE_STATUSES = ("draft", "active", "paused", "archived")
NULLABLE_TEXT: Schema = {"type": ["string", "null"]}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
UUID: Schema = {"type": "string", "format": "uuid"}
ADDRESS: Schema = {"type": "string", "format": "email"}
COUNT: Schema = {"type": "integer", "minimum": 0}
RATE: Schema = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
VARIANT_COUNTS = ("sent", "opened", "clicked", "replied", "unsubscribed", "converted")

EXAMPLE_DEFINITION = {
    "format": "sequence/v1",
    "name": "Welcome",
    "trigger": {"type": "api_event", "event": "signed_up"},
    "steps": [
        {
            "id": "hello",
            "type": "email",
            "config": {"subject": "Welcome, {{ contact.first_name }}", "body": "<p>Hello!</p>"},
        },
        {"id": "wait_2d", "type": "delay", "config": {"duration": "2 days"}},
        {"id": "tips", "type": "email", "config": {"subject": "Three tips", "body": "<p>1.</p>"}},
    ],
    "connections": [
        {"source": "hello", "target": "wait_2d"},
        {"source": "wait_2d", "target": "tips"},
    ],
}
EXAMPLE_CONTACT = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "timezone": "Europe/London",
    "fields": {"plan": "trial"},
    "tags": ["beta"],
}
EXAMPLE_SIMULATION = {
    "contact": {"first_name": "Ada", "timezone": "America/New_York", "fields": {"plan": "trial"}},
    "start": "2026-12-03T20:30:00-05:00",
    "events": [
        {
            "at": "2026-12-05T10:00:00-05:00",
            "event": "clicked_link",
            "properties": {"url": "https://example.com/book-demo"},
        },
        {
            "at": "2026-12-09T10:00:00-05:00",
            "event": "field_changed",
            "properties": {"field": "plan", "to": "paid"},
        },
    ],
}
EXAMPLE_EMAIL = (
    "From: Ada <ada@example.com>\r\nTo: team@example.com\r\nSubject: Re: Welcome\r\n"
    "In-Reply-To: <seq-1@penguinmails.localhost>\r\n\r\nThanks, see you Monday.\r\n"
)

ERRORS = {
    400: "The request is malformed: a body that is not the JSON expected, a bad query value.",
    401: "No API token, or one that is not valid.",
    404: "No such object in the token's workspace (another workspace's ids answer the same).",
    409: "The object's state refuses the change (a stale version, a finished enrollment...).",
    413: "The request body is larger than the server accepts.",
    422: "The content is invalid; `field` (and `step` for a definition) says where.",
    503: "The database is unavailable; try again after `Retry-After` seconds.",
}


@api_bp.get("/openapi.json")
def openapi_document() -> Any:
    """The document; public, so that tools can read it before they have a token."""
    return jsonify(build_document())


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    """An object schema; answers list every key, so `required` names them all there."""
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def _answer(properties: dict[str, Schema], **extra: Any) -> Schema:
    return _obj(properties, tuple(properties), **extra)


def _list_of(key: str, item: str) -> Schema:
    return _answer({key: {"type": "array", "items": _ref(item)}})


def _json(schema: Schema, example: Any = None) -> dict[str, Any]:
    """A JSON body; its example is what the documentation shows and schemathesis sends first."""
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


STORY_ENTRY: Schema = _answer(
    {
        "at": TIMESTAMP,
        "local_at": {**TIMESTAMP, "description": "The same instant in the contact's zone."},
        "run": {"type": "integer", "minimum": 1},
        "kind": {
            "type": "string",
            "description": "enrolled, step, decision, email, event, goal, change, waiting "
            "or finished.",
        },
        "text": {"type": "string", "description": "The entry in words."},
        "fields": {
            "type": "object",
            "description": "The facts behind the words: a step's key and outcome, a "
            "decision's values, an email's status and clicks...",
        },
    }
)
ENROLLMENT_STORY: Schema = {
    "allOf": [
        _ref("Enrollment"),
        _answer(
            {
                "time_zone": {"type": "string", "description": "The contact's zone."},
                "truncated": {
                    "type": "boolean",
                    "description": "Only the newest steps, emails and events are given.",
                },
                "timeline": {"type": "array", "items": STORY_ENTRY},
            }
        ),
    ]
}


def _operation(
    summary: str,
    ok: dict[int, tuple[str, dict[str, Any] | None]],
    errors: tuple[int, ...],
    *,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    parameters: list[Schema] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """One operation: its successful answers (status -> description, content) and the
    error statuses it can give, each answered with the shared Error body."""
    responses: dict[str, Any] = {
        str(status): {"description": text, **({"content": content} if content else {})}
        for status, (text, content) in ok.items()
    }
    statuses = set(errors) | (set() if public else {401, 503})
    if body is not None:
        statuses |= {413}
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/Error{status}"}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": body}
    if public:
        operation["security"] = []
    return operation


def _path_id(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id (a UUID).",
        "schema": {"type": "string"},
    }


def version_number(name: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": "A published version's number (1, 2, ...).",
        "schema": {"type": "string"},
    }


def _query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def definition_schemas() -> dict[str, Schema]:
    """The format's models as components: every model of SequenceDefinition, the document
    `GET /api/sequences/{id}` answers (the definition plus id, status and version) and the
    body of `PATCH` (any top-level key, and `version`)."""
    generated = SequenceDefinition.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, Schema] = generated.pop("$defs")
    schemas["SequenceDefinition"] = generated
    document = copy.deepcopy(generated)
    document["title"] = "SequenceDocument"
    document["properties"] |= {
        "id": UUID,
        "status": {"type": "string", "enum": list(SEQUENCE_STATUSES)},
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "The live version's number once published; the draft's edit count "
            "before.",
        },
        "draft_version": {
            "type": "integer",
            "description": "The number a started draft of the next version would get.",
        },
        "published": _ref("VersionSummary"),
    }
    document["required"] = [*generated["required"], "id", "status", "version"]
    schemas["SequenceDocument"] = document
    patch = copy.deepcopy(generated)
    patch["title"] = "SequencePatch"
    patch["properties"]["version"] = {
        "type": "integer",
        "description": "The version the change was made on; another one answers 409.",
    }
    patch["properties"]["migrate"] = {
        "type": "object",
        "description": "For a published sequence: where the contacts on each removed step go "
        "(a step id of the new version, 'exit' or 'stay' to finish on their version).",
        "additionalProperties": {"type": "string"},
    }
    patch["properties"]["note"] = {"type": "string", "description": "The new version's note."}
    patch.pop("required")
    schemas["SequencePatch"] = patch
    return schemas


def version_schemas() -> dict[str, Schema]:
    """Published versions: the summary, the list, one version, a diff."""
    text = {"type": "string"}
    edge = _answer({"source": text, "target": text, "label": NULLABLE_TEXT})
    summary = {
        "version": {"type": "integer", "minimum": 1},
        "published_at": TIMESTAMP,
        "published_by": NULLABLE_TEXT,
        "note": NULLABLE_TEXT,
        "migration": {
            "type": "array",
            "description": "Where the contacts in flight went, per step of the previous version.",
            "items": {"type": "object"},
        },
    }
    return {
        "VersionSummary": _answer(summary),
        "VersionList": _answer(
            {
                "live": {"type": ["integer", "null"]},
                "versions": {
                    "type": "array",
                    "items": _answer(
                        {**summary, "runs": {"type": "object", "additionalProperties": COUNT}}
                    ),
                },
            }
        ),
        "Version": _answer({**summary, "definition": _ref("SequenceDefinition")}),
        "VersionDiff": _answer(
            {
                "from": {"type": "integer"},
                "to": {"type": "integer"},
                "steps": {
                    "type": "array",
                    "items": _answer(
                        {
                            "id": {"type": "string"},
                            "name": NULLABLE_TEXT,
                            "type": {"type": "string"},
                            "status": {"type": "string", "enum": ["added", "removed", "changed"]},
                            "fields": {"type": "array", "items": {"type": "string"}},
                        }
                    ),
                },
                "connections": _answer(
                    {
                        "added": {"type": "array", "items": edge},
                        "removed": {"type": "array", "items": edge},
                    }
                ),
                "sequence": {"type": "array", "items": {"type": "string"}},
            }
        ),
    }


def contact_schemas() -> dict[str, Schema]:
    """The bodies of POST and PATCH /api/contacts, from the pydantic model both validate
    with; creating needs the email."""
    patch = ContactInput.model_json_schema(ref_template="#/components/schemas/{model}")
    patch.pop("$defs", None)  # JsonValue, the same as the definition models'
    patch["title"] = "ContactPatch"
    create = copy.deepcopy(patch)
    create["title"] = "ContactInput"
    create["properties"]["email"] = ADDRESS
    create["required"] = ["email"]
    return {"ContactInput": create, "ContactPatch": patch}


def api_schemas() -> dict[str, Schema]:
    """The bodies of the API other than the definition format."""
    problem = _answer(
        {"message": {"type": "string"}, "field": NULLABLE_TEXT, "step": NULLABLE_TEXT}
    )
    contact_names = {
        "first_name": {"type": ["string", "null"], "maxLength": 255},
        "last_name": {"type": ["string", "null"], "maxLength": 255},
        "timezone": {"type": ["string", "null"], "description": "An IANA zone, e.g. Europe/Paris"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    event = _obj(
        {
            "contact": {
                "oneOf": [
                    _obj({"email": ADDRESS}, ("email",)),
                    _obj({"id": UUID}, ("id",)),
                ]
            },
            "event": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
            "properties": {"type": ["object", "null"]},
            "occurred_at": NULLABLE_TIMESTAMP,
            "id": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_CLIENT_ID,
                "description": "Your own event id: stored once within 24 hours.",
            },
        },
        ("contact", "event"),
    )
    run = {
        "run": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": list(ENROLLMENT_STATUSES)},
        "enrolled_at": NULLABLE_TIMESTAMP,
        "finished_at": NULLABLE_TIMESTAMP,
        "enroll_reason": NULLABLE_TEXT,
        "exit_reason": NULLABLE_TEXT,
    }
    engagement = {
        "sent": COUNT,
        "opened": COUNT,
        "clicked": COUNT,
        "replied": COUNT,
        "unsubscribed": COUNT,
        "bounced": COUNT,
        "soft_bounced": COUNT,
        "complained": COUNT,
        "open_rate": RATE,
        "click_rate": RATE,
    }
    counts = {"type": "object", "additionalProperties": COUNT}
    interval: Schema = {
        "type": ["array", "null"],
        "items": {"type": "number"},
        "minItems": 2,
        "maxItems": 2,
        "description": "[low, high] at the test's confidence (0.95 without a test); null: no sends",
    }
    variant = _answer(
        {
            "key": {"type": "string"},
            "weight": {"type": "integer", "minimum": 1},
            **{name: COUNT for name in VARIANT_COUNTS},
            **{metric: RATE for metric in AB_METRICS},
            "intervals": _answer({metric: interval for metric in AB_METRICS}),
        }
    )
    ab_test = _answer(
        {
            "state": {"type": "string", "enum": ["collecting", "decided", "stopped"]},
            "winner": NULLABLE_TEXT,
            "decided_at": NULLABLE_TIMESTAMP,
            "decided_by": {"type": ["string", "null"], "enum": [*AB_DECIDERS, None]},
            "metric": {"type": "string", "enum": list(AB_METRICS)},
            "goal": NULLABLE_TEXT,
            "min_sends": {"type": "integer", "minimum": 1},
            "confidence": {"type": "number"},
            "figures": {
                "type": "object",
                "description": "Per variant sent, successes, rate and interval; `p_value` "
                "(Bonferroni-adjusted, one-sided) once every variant has sends. Stored with "
                "the decision, or live while collecting.",
            },
            "progress": {
                "type": ["object", "null"],
                "properties": {"sent": COUNT, "needed": {"type": "integer", "minimum": 1}},
                "required": ["sent", "needed"],
                "description": "While collecting: the weakest variant's sends and `min_sends`.",
            },
        },
        description="Present on email steps with variants and an `ab_test`.",
    )
    lift: Schema = {
        "type": ["object", "null"],
        "properties": {
            "treated_rate": {"type": "number"},
            "holdout_rate": {"type": "number"},
            "difference": {"type": "number"},
            "interval": {"type": "array", "items": {"type": "number"}},
            "relative": {"type": ["number", "null"]},
            "confidence": {"type": "number"},
        },
        "required": [
            "treated_rate",
            "holdout_rate",
            "difference",
            "interval",
            "relative",
            "confidence",
        ],
        "description": "Conversion rate of the emailed group minus the holdout's, with a "
        "Wald interval; null until both groups have enrollments.",
    }
    groups = {"treated": COUNT, "holdout": COUNT}
    return {
        "Problem": problem,
        "Error": _answer(
            {
                "error": _obj(
                    {
                        **problem["properties"],
                        "problems": {"type": "array", "items": _ref("Problem")},
                    },
                    ("message", "field", "step"),
                    description="`problems` lists every problem of a definition, first one first.",
                )
            }
        ),
        "Contact": _answer(
            {
                "id": UUID,
                "email": {"type": "string"},
                **contact_names,
                "fields": {"type": "object"},
                "unsubscribed_at": NULLABLE_TIMESTAMP,
                "created_at": TIMESTAMP,
            }
        ),
        "ApiEvent": event,
        "EventsResult": _answer(
            {
                "accepted": COUNT,
                "duplicates": COUNT,
                "events": {
                    "type": "array",
                    "items": _answer(
                        {
                            "id": {"type": ["integer", "null"], "description": "The stored id"},
                            "client_id": NULLABLE_TEXT,
                            "status": {"type": "string", "enum": ["stored", "duplicate"]},
                        }
                    ),
                },
            }
        ),
        "InboundResult": _obj(
            {
                "matched": {"type": "boolean"},
                "event": {
                    "type": ["string", "null"],
                    "enum": [REPLIED, AUTO_REPLY, BOUNCED, COMPLAINED],
                },
                "enrollment_exited": {"type": "boolean"},
                "duplicate": {"type": "boolean"},
            },
            ("matched",),
        ),
        "SequenceSummary": _answer(
            {
                "id": UUID,
                "name": {"type": "string"},
                "status": {"type": "string", "enum": list(SEQUENCE_STATUSES)},
                "version": {"type": "integer"},
                "active_enrollments": COUNT,
            }
        ),
        "StatusChange": _obj(
            {
                "id": UUID,
                "status": {"type": "string", "enum": list(SEQUENCE_STATUSES)},
                "warnings": {"type": "array", "items": _ref("Problem")},
            },
            ("id", "status"),
        ),
        "SimulateRequest": _obj(
            {
                "contact": {
                    "type": "object",
                    "description": "The hypothetical contact: email, first_name, last_name, "
                    "timezone, tags, fields (as for contacts), and segments (names).",
                },
                "start": {
                    "type": "string",
                    "format": "date-time",
                    "description": "When the contact is enrolled (with its UTC offset).",
                },
                "events": {
                    "type": "array",
                    "maxItems": 100,
                    "items": _obj(
                        {
                            "at": {"type": "string", "format": "date-time"},
                            "event": {
                                "type": "string",
                                "description": "opened, clicked_link, replied (properties "
                                "`email_step_id`: the email step's key, the last email sent "
                                "when absent; `url` for a click), field_changed (properties "
                                "`field` and `to`) or a custom event's name.",
                            },
                            "properties": {"type": "object"},
                        },
                        ("at", "event"),
                    ),
                },
                "version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "A published version to simulate, as its snapshot has it "
                    "(what its runs still follow); the live definition when absent.",
                },
            },
            ("start",),
        ),
        "TimelineEntry": _answer(
            {
                "at": {"type": "string", "format": "date-time"},
                "local": {
                    "type": "string",
                    "format": "date-time",
                    "description": "The same instant in the contact's time zone.",
                },
                "step": {"type": ["string", "null"], "description": "The step's key."},
                "type": {
                    "type": "string",
                    "description": "The step's type, or event, goal, sequence.",
                },
                "action": {
                    "type": "string",
                    "description": "queued email, waited, met, timed_out, true, false, "
                    "split path, applied, goal reached, an event's name, completed, exited, "
                    "failed, stopped...",
                },
                "detail": {
                    "type": "string",
                    "description": "An email's rendered subject; a wait's or a branch's "
                    "reason in words.",
                },
            }
        ),
        "EnrollRequest": _obj(
            {
                "contacts": {
                    "type": "array",
                    "items": _obj({"email": ADDRESS}, ("email",)),
                },
                "contact_ids": {"type": "array", "items": {"type": "string"}},
                "segment": {"type": "string", "description": "A segment's name."},
                "context": {
                    "type": "object",
                    "description": 'The enrollment\'s context: {"trigger": {"properties": {}}}',
                },
            },
            description="Name the contacts by `contacts`, `contact_ids` or `segment`.",
        ),
        "EnrollResult": _answer(
            {
                "enrolled": COUNT,
                "re_enrolled": COUNT,
                "skipped": COUNT,
                "skipped_reasons": counts,
                "enrolled_contact_ids": {"type": "array", "items": UUID, "maxItems": 1000},
                "skipped_details": {
                    "type": "array",
                    "items": _obj({"reason": {"type": "string"}}, ("reason",)),
                    "maxItems": 1000,
                },
                "details_truncated": {"type": "boolean"},
            }
        ),
        "EnrollmentRun": _answer(run),
        "Enrollment": _answer(
            {
                "id": UUID,
                "contact_id": UUID,
                "email": {"type": "string"},
                **run,
                "current_step": NULLABLE_TEXT,
                "current_step_name": NULLABLE_TEXT,
                "next_execution_at": NULLABLE_TIMESTAMP,
                "waiting": {
                    "type": ["string", "null"],
                    "description": "Why it waits and until when.",
                },
                "version": {
                    "type": ["integer", "null"],
                    "description": "The published version this run follows.",
                },
                "earlier_runs": {"type": "array", "items": _ref("EnrollmentRun")},
            }
        ),
        **version_schemas(),
        "EnrollmentPage": _answer(
            {
                "enrollments": {"type": "array", "items": _ref("Enrollment")},
                "next_offset": {"type": ["integer", "null"]},
            }
        ),
        "ExitedEnrollment": _answer(
            {
                "id": UUID,
                "contact_id": UUID,
                "sequence_id": UUID,
                "status": {"const": "exited"},
                "exit_reason": {"type": "string"},
                "finished_at": NULLABLE_TIMESTAMP,
            }
        ),
        "Analytics": _answer(
            {
                "enrollments": _answer({status: COUNT for status in ENROLLMENT_STATUSES}),
                "steps": {
                    "type": "array",
                    "items": _obj(
                        {
                            "step": {"type": "string"},
                            "name": NULLABLE_TEXT,
                            "type": {"type": "string"},
                            "taken": COUNT,
                            "waiting_here": COUNT,
                            "conversions": COUNT,
                            "emails": _answer({status: COUNT for status in MESSAGE_STATUSES}),
                            **engagement,
                            "failed": {
                                **COUNT,
                                "description": "Emails refused for good (never sent).",
                            },
                            "variants": {"type": "array", "items": variant},
                            "ab_test": ab_test,
                        },
                        ("step", "name", "type", "taken", "waiting_here", "conversions"),
                        description="Email steps also carry `emails` and the engagement "
                        "counts; with variants, `variants` and (with a test) `ab_test`.",
                    ),
                },
                "period": _answer({"since": NULLABLE_TIMESTAMP, "until": NULLABLE_TIMESTAMP}),
                "flow_order": {"type": "array", "items": {"type": "string"}},
                "funnel": {
                    "type": "array",
                    "description": "The steps in flow order.",
                    "items": _answer(
                        {
                            "step": {"type": "string"},
                            "name": NULLABLE_TEXT,
                            "type": {"type": "string"},
                            **{name: COUNT for name in FUNNEL_COUNTS},
                        }
                    ),
                },
                "conversions": _answer(
                    {
                        "total": COUNT,
                        "goals": {
                            "type": "object",
                            "additionalProperties": _answer({"total": COUNT, "steps": counts}),
                        },
                        "by_day": {
                            "type": "array",
                            "description": "Per UTC day with conversions, oldest first.",
                            "items": _answer(
                                {
                                    "day": {"type": "string", "format": "date"},
                                    "total": COUNT,
                                    "goals": counts,
                                }
                            ),
                        },
                    }
                ),
                "holdout": _answer(
                    {
                        "percent": {"type": "integer", "minimum": 0, "maximum": 50},
                        "enrolled": _answer(groups),
                        "converted": _answer(groups, description="Converted on any goal."),
                        "lift": lift,
                        "goals": {
                            "type": "object",
                            "additionalProperties": _answer(
                                {"converted": _answer(groups), "lift": lift}
                            ),
                        },
                    },
                    description="The current run of each enrollment, emailed or held out; "
                    "`converted` and `lift` on any goal, `goals` per goal.",
                ),
                "summary": _answer(
                    {
                        "enrolled": COUNT,
                        "emails_sent": COUNT,
                        "emails_failed": COUNT,
                        **{k: v for k, v in engagement.items() if k != "sent"},
                        "converted": COUNT,
                        "conversion_rate": RATE,
                    }
                ),
            }
        ),
        "AbTestDecision": _answer(
            {
                "step": {"type": "string", "description": "The step's id (its key)."},
                "state": {"type": "string", "enum": ["decided", "stopped"]},
                "winner": {
                    "type": ["string", "null"],
                    "description": "The variant every new send uses; null when stopped.",
                },
                "metric": {"type": "string", "enum": list(AB_METRICS)},
                "decided_at": TIMESTAMP,
                "decided_by": {"type": "string", "enum": list(AB_DECIDERS)},
                "actor": {
                    **NULLABLE_TEXT,
                    "description": "Who decided by hand: a user's email or an API token.",
                },
                "figures": {
                    "type": "object",
                    "description": (
                        "What the decision saw: per variant `sent`, `successes`, `rate` and "
                        "its `interval`, then `best` and `p_value` once every variant has sends."
                    ),
                },
            }
        ),
        "Message": _answer(
            {
                "id": UUID,
                "message_id": {"type": "string", "description": "The email's Message-ID"},
                "to_email": {"type": "string"},
                "status": {"type": "string", "enum": list(MESSAGE_STATUSES)},
                "attempts": COUNT,
                "sequence_id": UUID,
                "step_id": UUID,
                "contact_id": UUID,
                "enrollment_id": UUID,
                "subject": NULLABLE_TEXT,
                "queued_at": NULLABLE_TIMESTAMP,
                "next_attempt_at": NULLABLE_TIMESTAMP,
                "sent_at": NULLABLE_TIMESTAMP,
                "accepted_at": {
                    **NULLABLE_TIMESTAMP,
                    "description": "When the SMTP server accepted it",
                },
                "last_error": NULLABLE_TEXT,
            }
        ),
        "MessagePage": _answer(
            {
                "messages": {"type": "array", "items": _ref("Message")},
                "next_offset": {"type": ["integer", "null"]},
            }
        ),
        "Template": _answer(
            {
                "key": {"type": "string"},
                "name": {"type": "string"},
                "description": NULLABLE_TEXT,
                "source": {"type": "string", "enum": ["shipped", "workspace"]},
                "steps": COUNT,
                "emails": COUNT,
                "email_names": {"type": "array", "items": {"type": "string"}},
                "duration": NULLABLE_TEXT,
            }
        ),
    }


def paths() -> dict[str, dict[str, Any]]:
    """Every route of the API blueprint, by path and method."""
    sequence_id = [_path_id("sequence_id", "sequence")]
    sequence = _json(_ref("SequenceDocument"))
    definition = _json(_ref("SequenceDefinition"), EXAMPLE_DEFINITION)
    yaml_text = {"application/yaml": {"schema": _ref("SequenceDefinition")}}

    status = _json(_ref("StatusChange"))
    decision = _json(_ref("AbTestDecision"))
    step_path = [
        *sequence_id,
        {
            "name": "step_id",
            "in": "path",
            "required": True,
            "description": "An email step's id as the sequence shows it (its key, e.g. email_1).",
            "schema": {"type": "string"},
        },
    ]
    page = [
        _query(
            "limit",
            "At most this many (1 to 1000, default 100)",
            {"type": "integer", "minimum": 1, "maximum": 1000},
        ),
        _query("offset", "Skip this many", {"type": "integer", "minimum": 0}),
    ]

    def status_change(action: str, errors: tuple[int, ...]) -> dict[str, Any]:
        return {
            "post": _operation(
                f"{action.capitalize()} the sequence",
                {200: ("The new status, and warnings about what may be missing", status)},
                (404, 409, *errors),
                parameters=sequence_id,
            )
        }

    message_form = _obj({"message": {"type": "string"}}, ("message",))
    timeline = _json(_list_of("timeline", "TimelineEntry"))
    return {
        "/api/openapi.json": {
            "get": _operation(
                "This document",
                {200: ("The OpenAPI 3.1 document", _json({"type": "object"}))},
                (),
                public=True,
            )
        },
        "/api/sequences": {
            "get": _operation(
                "List the workspace's sequences, newest first",
                {200: ("The sequences", _json(_list_of("sequences", "SequenceSummary")))},
                (),
            ),
            "post": _operation(
                "Create a sequence from a definition (format v1)",
                {201: ("The new sequence", sequence)},
                (400, 422),
                body=definition,
            ),
        },
        "/api/sequences/import": {
            "post": _operation(
                "Create a draft from a format v1 file (JSON or YAML)",
                {201: ("The new draft", sequence)},
                (400, 422),
                body={
                    **definition,
                    **yaml_text,
                    "multipart/form-data": {
                        "schema": _obj({"file": {"type": "string", "format": "binary"}}, ("file",))
                    },
                },
            )
        },
        "/api/sequences/{sequence_id}": {
            "get": _operation(
                "One sequence as its definition, with step ids and positions",
                {200: ("The sequence", sequence)},
                (404,),
                parameters=sequence_id,
            ),
            "patch": _operation(
                "Replace the given top-level keys of the definition",
                {200: ("The sequence as saved", sequence)},
                (400, 404, 409, 422),
                body=_json(_ref("SequencePatch"), {"name": "Welcome (new)", "version": 1}),
                parameters=sequence_id,
            ),
        },
        "/api/sequences/{sequence_id}/activate": status_change("activate", (422,)),
        "/api/sequences/{sequence_id}/pause": status_change("pause", ()),
        "/api/sequences/{sequence_id}/resume": status_change("resume", (422,)),
        "/api/sequences/{sequence_id}/enroll": {
            "post": _operation(
                "Enroll contacts, by email, id or segment",
                {200: ("What became of each contact", _json(_ref("EnrollResult")))},
                (400, 404, 422),
                body=_json(_ref("EnrollRequest"), {"contacts": [{"email": "ada@example.com"}]}),
                parameters=sequence_id,
            )
        },
        "/api/sequences/{sequence_id}/enrollments": {
            "get": _operation(
                "A page of the sequence's enrollments, newest first",
                {200: ("The enrollments", _json(_ref("EnrollmentPage")))},
                (400, 404),
                parameters=[*sequence_id, *page],
            )
        },
        "/api/sequences/{sequence_id}/versions": {
            "get": _operation(
                "The published versions, newest first, with the runs on each",
                {200: ("The versions", _json(_ref("VersionList")))},
                (404,),
                parameters=sequence_id,
            )
        },
        "/api/sequences/{sequence_id}/versions/{number}": {
            "get": _operation(
                "One published version: the definition as it was",
                {200: ("The version", _json(_ref("Version")))},
                (404,),
                parameters=[*sequence_id, version_number("number")],
            )
        },
        "/api/sequences/{sequence_id}/versions/{a}/diff/{b}": {
            "get": _operation(
                "What changed from version a to version b",
                {200: ("Steps added, removed and changed", _json(_ref("VersionDiff")))},
                (404,),
                parameters=[*sequence_id, version_number("a"), version_number("b")],
            )
        },
        "/api/sequences/{sequence_id}/simulate": {
            "post": _operation(
                "Preview the timeline of a hypothetical contact (no writes, no sends)",
                {200: ("Every step, event, goal and the end, in time order", timeline)},
                (400, 404, 422),
                body=_json(_ref("SimulateRequest"), EXAMPLE_SIMULATION),
                parameters=sequence_id,
            )
        },
        "/api/sequences/{sequence_id}/analytics": {
            "get": _operation(
                "Per-step counts, engagement rates and conversions, A/B tests, holdout lift",
                {200: ("The figures", _json(_ref("Analytics")))},
                (400, 404),
                parameters=[
                    *sequence_id,
                    _query(
                        "from",
                        "First UTC day counted, YYYY-MM-DD (enrollments, steps, messages and "
                        "conversions by their own time)",
                        {"type": "string", "format": "date"},
                    ),
                    _query(
                        "to",
                        "Last UTC day counted, YYYY-MM-DD, included",
                        {"type": "string", "format": "date"},
                    ),
                ],
            )
        },
        "/api/sequences/{sequence_id}/steps/{step_id}/winner": {
            "post": _operation(
                "Pick the winner of an email step's A/B test by hand",
                {200: ("The decision: every new send of the step uses the winner", decision)},
                (400, 404, 422),
                body=_json(
                    _obj({"variant": {"type": "string", "minLength": 1}}, ("variant",)),
                    {"variant": "B"},
                ),
                parameters=step_path,
            )
        },
        "/api/sequences/{sequence_id}/steps/{step_id}/ab-test/stop": {
            "post": _operation(
                "Stop an email step's A/B test without a winner (the split goes on)",
                {200: ("The decision, stopped", decision)},
                (404, 422),
                parameters=step_path,
            )
        },
        "/api/sequences/{sequence_id}/export": {
            "get": _operation(
                "The sequence as a format v1 file",
                {200: ("The file, as an attachment", {**definition, **yaml_text})},
                (400, 404),
                parameters=[
                    *sequence_id,
                    _query("format", "yaml (the default) or json", {"enum": ["yaml", "json"]}),
                ],
            )
        },
        "/api/templates": {
            "get": _operation(
                "The gallery: shipped templates, then the workspace's own",
                {200: ("The templates", _json(_list_of("templates", "Template")))},
                (),
            )
        },
        "/api/templates/{key}/use": {
            "post": _operation(
                "Create a draft from a template",
                {201: ("The new draft", sequence)},
                (404, 422),
                parameters=[
                    {
                        "name": "key",
                        "in": "path",
                        "required": True,
                        "description": "A template's `key` from GET /api/templates.",
                        "schema": {"type": "string"},
                    }
                ],
            )
        },
        "/api/messages": {
            "get": _operation(
                "A page of the workspace's messages, newest first",
                {200: ("The messages", _json(_ref("MessagePage")))},
                (400, 422),
                parameters=[
                    _query(
                        "status",
                        "Only messages with this status, e.g. unknown",
                        {"enum": list(MESSAGE_STATUSES)},
                    ),
                    *page,
                ],
            )
        },
        "/api/messages/{message_id}/resend": {
            "post": _operation(
                "Queue an unknown or failed message again",
                {200: ("The message, queued", _json(_ref("Message")))},
                (404, 409),
                parameters=[_path_id("message_id", "message")],
            )
        },
        "/api/contacts": {
            "post": _operation(
                "Create a contact, or update the one with this email",
                {
                    200: ("The updated contact", _json(_ref("Contact"))),
                    201: ("The new contact", _json(_ref("Contact"))),
                },
                (400, 422),
                body=_json(_ref("ContactInput"), EXAMPLE_CONTACT),
            )
        },
        "/api/contacts/{contact_id}": {
            "get": _operation(
                "One contact",
                {200: ("The contact", _json(_ref("Contact")))},
                (404,),
                parameters=[_path_id("contact_id", "contact")],
            ),
            "patch": _operation(
                "Change names, time zone, tags or fields; each change is a field_changed event",
                {200: ("The contact as saved", _json(_ref("Contact")))},
                (400, 404, 422),
                body=_json(_ref("ContactPatch"), {"fields": {"plan": "pro", "trial_ends": None}}),
                parameters=[_path_id("contact_id", "contact")],
            ),
        },
        "/api/enrollments/{enrollment_id}": {
            "get": _operation(
                "One enrollment's full story: every run's steps, decisions, emails, events",
                {200: ("The enrollment and its timeline", _json(ENROLLMENT_STORY))},
                (404,),
                parameters=[_path_id("enrollment_id", "enrollment")],
            )
        },
        "/api/enrollments/{enrollment_id}/exit": {
            "post": _operation(
                "End an active or paused enrollment as exited",
                {200: ("The ended enrollment", _json(_ref("ExitedEnrollment")))},
                (400, 404, 409, 422),
                body=_json(
                    _obj({"reason": {"type": ["string", "null"], "maxLength": 500}}),
                    {"reason": "bought the product"},
                ),
                body_required=False,
                parameters=[_path_id("enrollment_id", "enrollment")],
            )
        },
        "/api/events": {
            "post": _operation(
                "Record one event or a list of them; waiting enrollments wake at once",
                {202: ("What became of each event", _json(_ref("EventsResult")))},
                (400, 409, 422),
                body=_json(
                    {
                        "oneOf": [
                            _ref("ApiEvent"),
                            {
                                "type": "array",
                                "items": _ref("ApiEvent"),
                                "minItems": 1,
                                "maxItems": MAX_BATCH,
                            },
                        ]
                    },
                    {
                        "contact": {"email": "ada@example.com"},
                        "event": "user_login",
                        "properties": {"plan": "pro"},
                        "id": "evt-0001",
                    },
                ),
            )
        },
        "/api/inbound/email": {
            "post": _operation(
                "A raw RFC 5322 email: a reply, a delivery report or a complaint (ARF)",
                {202: ("Whether it matched one of our messages", _json(_ref("InboundResult")))},
                (400,),
                body={
                    "message/rfc822": {"schema": {"type": "string"}, "example": EXAMPLE_EMAIL},
                    "multipart/form-data": {"schema": message_form},
                    "application/x-www-form-urlencoded": {"schema": message_form},
                },
            )
        },
        "/api/health": {
            "get": _operation(
                "The engine's health: its periodic passes, lag, this workspace's stuck "
                "enrollments and failing messages, and RQ's queues, workers and failed jobs",
                {200: ("The health page's figures", _json(engine_health_schema()))},
                (),
            )
        },
    }


@cache
def build_document() -> dict[str, Any]:
    """The whole document; built once, it depends on code only."""
    error = _json(_ref("Error"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PenguinMails Sequences API",
            "version": "1",
            "description": (
                "Every request but this document's needs `Authorization: Bearer <token>` "
                "(`flask tokens create`); everything is scoped to the token's workspace, so "
                "another workspace's ids answer 404. Errors are "
                '`{"error": {"message", "field", "step"}}`. The sequence format is '
                "shared/spec/sequence-format.md."
            ),
        },
        "security": [{"bearerToken": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A workspace's API token (pm_...).",
                }
            },
            "schemas": {**definition_schemas(), **contact_schemas(), **api_schemas()},
            "responses": {
                f"Error{status}": {"description": text, "content": error}
                for status, text in ERRORS.items()
            },
        },
    }


def engine_health_schema() -> Schema:
    """`GET /api/health`'s answer (app.services.engine_health.as_json)."""
    seconds: Schema = {"type": "number", "minimum": 0}
    counts: Schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    job = _answer(
        {
            "name": {"type": "string"},
            "interval_seconds": COUNT,
            "last_started_at": NULLABLE_TIMESTAMP,
            "last_finished_at": NULLABLE_TIMESTAMP,
            "last_duration_ms": {"type": ["integer", "null"], "minimum": 0},
            "last_report": NULLABLE_TEXT,
            "last_error": NULLABLE_TEXT,
            "last_failed_at": NULLABLE_TIMESTAMP,
            "runs": COUNT,
            "failures": COUNT,
            "seconds_total": seconds,
            "totals": counts,
            "age_seconds": {"type": ["number", "null"]},
            "overdue": {"type": "boolean"},
            "failing": {"type": "boolean"},
        }
    )
    rq = _answer(
        {
            "error": NULLABLE_TEXT,
            "queues": {
                "type": "array",
                "items": _answer({"name": {"type": "string"}, "length": COUNT, "failed": COUNT}),
            },
            "workers": {
                "type": "array",
                "items": _answer(
                    {
                        "name": {"type": "string"},
                        "state": {"type": "string"},
                        "current_job": NULLABLE_TEXT,
                    }
                ),
            },
            "failed_jobs": {
                "type": "array",
                "items": _answer(
                    {
                        "id": {"type": "string"},
                        "queue": {"type": "string"},
                        "func": NULLABLE_TEXT,
                        "error": {"type": "string"},
                        "ended_at": NULLABLE_TIMESTAMP,
                    }
                ),
            },
        }
    )
    return _answer(
        {
            "now": {"type": "string", "format": "date-time"},
            "jobs": {"type": "array", "items": job},
            "lag": _answer(
                {
                    "oldest_due_enrollment_at": NULLABLE_TIMESTAMP,
                    "oldest_due_message_at": NULLABLE_TIMESTAMP,
                    "enrollments_seconds": seconds,
                    "messages_seconds": seconds,
                }
            ),
            "stuck": _answer(
                {
                    "enrollments": COUNT,
                    "messages": COUNT,
                    "after_seconds": COUNT,
                    "count_cap": {
                        **COUNT,
                        "description": "counts stop here: equal to it means at least as many",
                    },
                }
            ),
            "rq": {"oneOf": [{"type": "null"}, rq]},
        }
    )
