"""Emails written as blocks: the MJML they make escapes the author's text but keeps template
tags as written, and every refusal names the block (and, in the builder's words, the step)."""

from __future__ import annotations

import pytest

from app.core import email_blocks, limits
from app.core.draft import Draft, DraftStep, check_draft
from app.core.email_blocks import Style, to_mjml
from app.core.format.parse import parse_definition, step_config_problems
from app.core.problem_words import in_words, step_names
from app.core.steps.email import EmailConfig
from app.core.version_diff import diff_definitions


def blocks(*raw: dict[str, object]) -> list[object]:
    return EmailConfig.model_validate({"subject": "Hi", "blocks": list(raw)}).blocks or []


def test_text_is_escaped_and_template_tags_are_kept_as_written() -> None:
    mjml = to_mjml(
        blocks(
            {"type": "heading", "text": "Hi {{ contact.first_name }} <script>alert(1)</script>"},
            {"type": "text", "text": 'Tom & "Jerry" {{ contact.fields["plan"] | default(\'a\') }}'},
            {"type": "button", "label": "Go", "url": "https://x.test/?a=1&id={{ contact.id }}"},
        )
    )
    assert "<script>" not in mjml.source and "&lt;script&gt;" in mjml.source
    assert "Tom &amp; &quot;Jerry&quot;" in mjml.source
    assert "{{" not in mjml.source  # tags stand aside while mrml works...
    restored = mjml.restore(mjml.source)  # ...and come back exactly as written
    assert "Hi {{ contact.first_name }} &lt;script&gt;" in restored
    assert "{{ contact.fields[\"plan\"] | default('a') }}" in restored
    assert 'href="https://x.test/?a=1&amp;id={{ contact.id }}"' in restored


def test_the_placeholder_marker_never_collides_with_the_authors_text() -> None:
    mjml = to_mjml(blocks({"type": "text", "text": "pmtag0_ {{ contact.email }}"}))
    restored = mjml.restore(mjml.source)
    assert "pmtag0_ {{ contact.email }}" in restored


def test_text_has_paragraphs_bold_and_https_links_only() -> None:
    source = to_mjml(
        blocks(
            {
                "type": "text",
                "text": "One **two**\nthree\n\n[Book](https://x.test/b) [x](javascript:alert(1))",
            }
        )
    ).source
    assert '<p style="margin:0 0 12px">One <strong>two</strong><br>three</p>' in source
    assert '<a href="https://x.test/b" style="color:#1f6feb">Book</a>' in source
    assert "javascript:" in source and 'href="javascript' not in source


def test_style_sets_font_and_button_colour_and_the_footer_links_unsubscribe() -> None:
    mjml = to_mjml(
        blocks({"type": "button", "label": "Go", "url": "https://x.test"}, {"type": "footer"}),
        Style(brand_colour="#aa0000", font="Georgia"),
    )
    assert 'font-family="Georgia, &#x27;Times New Roman&#x27;, serif"' in mjml.source
    assert 'background-color="#aa0000"' in mjml.source
    assert 'href="{{ unsubscribe_url }}"' in mjml.restore(mjml.source)


def test_unfinished_blocks_are_left_out_and_listed_as_gaps() -> None:
    raw = [
        {"type": "button", "label": "Go", "url": ""},
        {"type": "image", "src": "https://x.test/a.png", "alt": ""},
        {"type": "heading", "text": ""},
    ]
    source = to_mjml(blocks(*raw)).source
    # the image shows (its missing alt text is a gap); the button and the heading wait
    assert '<mj-column><mj-image src="https://x.test/a.png" alt=""/></mj-column>' in source
    assert [(gap.path, gap.message) for gap in email_blocks.gaps(raw)] == [
        ("blocks[0].url", "block 1 (button): give the button a link"),
        ("blocks[1].alt", "block 2 (image): describe the image (alt text)"),
        ("blocks[2].text", "block 3 (heading): write the heading"),
    ]


@pytest.mark.parametrize(
    ("block", "field", "message"),
    [
        (
            {"type": "button", "label": "Go", "url": "http://x.test"},
            "config.blocks[2].url",
            "block 3 (button): url must start with https://",
        ),
        (
            {"type": "image", "src": "data:image/png;base64,AAAA", "alt": "A"},
            "config.blocks[2].src",
            "block 3 (image): src must start with https://",
        ),
        (
            {"type": "heading", "text": "Hi", "level": 7},
            "config.blocks[2].level",
            "block 3 (heading): level should be 1, 2 or 3",
        ),
        (
            {"type": "text", "text": "x" * (limits.BLOCK_TEXT + 1)},
            "config.blocks[2].text",
            f"block 3 (text): text should have at most {limits.BLOCK_TEXT} characters",
        ),
        (
            {"type": "button", "lable": "Go"},
            "config.blocks[2].lable",
            "block 3 (button): lable is not a key of this block",
        ),
        (
            {"type": "video"},
            "config.blocks[2].type",
            "block 3: the type must be one of heading, text, button, image, divider, footer",
        ),
    ],
)
def test_a_bad_block_is_named_with_its_position_and_type(
    block: dict[str, object], field: str, message: str
) -> None:
    config = {"subject": "Hi", "blocks": [{"type": "divider"}, {"type": "divider"}, block]}
    [problem] = step_config_problems("email", config, "email_1")
    assert (problem.field, problem.message, problem.step) == (field, message, "email_1")
    assert in_words(problem, step_names([("email_1", "Email 1", "email")])) == (
        f"'Email 1': {message}"
    )


def test_blocks_are_bounded_and_a_style_needs_blocks() -> None:
    too_many = {"subject": "Hi", "blocks": [{"type": "divider"}] * (limits.BLOCKS + 1)}
    [problem] = step_config_problems("email", too_many)
    assert problem.field == "config.blocks" and str(limits.BLOCKS) in problem.message
    styled = {"subject": "Hi", "body": "<p>x</p>", "style": {"font": "Georgia"}}
    assert step_config_problems("email", styled)[0].field == "config.style"


def test_a_definition_with_blocks_needs_no_body_and_round_trips() -> None:
    step = {
        "id": "e",
        "type": "email",
        "config": {"subject": "Hi", "blocks": [{"type": "divider"}]},
    }
    exported = parse_definition({"name": "S", "steps": [step]}).model_dump(mode="json")
    assert exported["steps"][0]["config"] == {
        "subject": "Hi",
        "body": "",
        "blocks": [{"type": "divider"}],
    }
    assert parse_definition(exported).model_dump(mode="json") == exported


def test_the_canvas_flags_unfinished_blocks_on_their_step() -> None:
    config = {"subject": "Hi", "body": "<p>x</p>", "blocks": [{"type": "button", "label": "Go"}]}
    findings = check_draft(Draft([DraftStep("email_1", "email", config)], []))
    messages = {(f.problem.field, f.problem.message) for f in findings}
    assert ("config.blocks[0].url", "block 1 (button): give the button a link") in messages


def test_a_version_diff_names_the_changed_block_not_the_generated_body() -> None:
    def definition(url: str, body: str) -> dict[str, object]:
        button = {"type": "button", "label": "Go", "url": url}
        config = {"subject": "Hi", "body": body, "blocks": [{"type": "divider"}, button]}
        return {"steps": [{"id": "e", "type": "email", "config": config}], "connections": []}

    diff = diff_definitions(
        definition("https://a.test", "<a>"), definition("https://b.test", "<b>")
    )
    assert [(d.step, d.fields) for d in diff.steps] == [("e", ("config.blocks[1].url",))]
