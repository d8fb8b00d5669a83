"""Rendering user templates: escaping where it belongs, sandbox refusals, runaway output."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from app.mail.html_text import html_to_text
from app.mail.rendering import (
    MAX_RENDER_CHARS,
    RenderBudgetExceeded,
    RenderError,
    render_email,
)

EVIL_NAME = '<script>alert("x")</script> & Co'


def context(**contact: Any) -> dict[str, Any]:
    return {"contact": contact, "unsubscribe_url": "https://pm.test/u/tok?a=1&b=2"}


def test_renders_contact_fields_with_dot_access_and_missing_fields_empty() -> None:
    rendered = render_email(
        "Hi {{ contact.first_name }}",
        "<p>{{ contact.first_name }} is on [{{ contact.fields.plan }}]</p>",
        "{{ contact.first_name }} is on [{{ contact.fields.plan | default('free') }}]",
        context(first_name="Ada"),
    )
    assert rendered.subject == "Hi Ada"
    assert rendered.html == "<p>Ada is on []</p>"
    assert rendered.text == "Ada is on [free]"


def test_custom_field_named_like_a_dict_method_is_the_field() -> None:
    rendered = render_email("{{ contact.fields.items }}", "x", None, context(fields={"items": 3}))
    assert rendered.subject == "3"


def test_contact_values_are_escaped_in_html_but_not_in_subject_or_text() -> None:
    rendered = render_email(
        "For {{ contact.first_name }}",
        '<p>Hi {{ contact.first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        "Hi {{ contact.first_name }}",
        context(first_name=EVIL_NAME),
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in rendered.html
    assert 'href="https://pm.test/u/tok?a=1&amp;b=2"' in rendered.html
    assert rendered.subject == f"For {EVIL_NAME}"
    assert rendered.text == f"Hi {EVIL_NAME}"


def test_generated_text_part_shows_the_name_unescaped() -> None:
    rendered = render_email(
        "s", "<p>Hi {{ contact.first_name }}</p>", None, context(first_name=EVIL_NAME)
    )
    assert rendered.text == f"Hi {EVIL_NAME}"


@pytest.mark.parametrize(
    "name",
    [
        "Ada\r\nBcc: victim@example.com",
        "Ada\nBcc: victim@example.com",
        "Ada\rBcc: victim@example.com",
        "Ada\x00\x0b\x0c\x85\u2028Bcc: victim@example.com",
    ],
)
def test_subject_is_collapsed_to_one_line(name: str) -> None:
    rendered = render_email("  Hi {{ contact.first_name }}\n", "x", None, context(first_name=name))
    assert rendered.subject == "Hi Ada Bcc: victim@example.com"


def test_subject_is_capped_at_998_characters() -> None:
    rendered = render_email("{{ 'ab ' * 600 }}", "x", None, {})
    assert len(rendered.subject) <= 998
    assert rendered.subject.startswith("ab ab")
    assert not rendered.subject.endswith(" ")


@pytest.mark.parametrize("text", [None, "", "  \n\t"])
def test_blank_text_part_is_generated_from_the_html(text: str | None) -> None:
    rendered = render_email("s", "<h1>Welcome</h1><p>Hello &amp; thanks</p>", text, {})
    assert rendered.text == "Welcome\n\nHello & thanks"


def test_text_part_rendering_blank_falls_back_to_the_html() -> None:
    rendered = render_email("s", "<p>From HTML</p>", "{{ contact.fields.note }}", context())
    assert rendered.text == "From HTML"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''|attr('__class__') }}",
        "{{ range.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ contact.fields.update(plan='pro') }}",
    ],
)
@pytest.mark.parametrize("part", ["subject", "HTML body", "text body"])
def test_sandbox_refusals_raise_render_error(source: str, part: str) -> None:
    templates = {"subject": "s", "HTML body": "h", "text body": "t"}
    templates[part] = source
    with pytest.raises(RenderError) as caught:
        render_email(*templates.values(), context(fields={"plan": "free"}))
    assert caught.value.reason.startswith(f"{part}: template refused by the sandbox: ")
    assert "unsafe" in caught.value.reason


def test_sandbox_refusal_message_names_what_was_refused() -> None:
    with pytest.raises(RenderError, match="access to attribute '__class__' of 'str' object"):
        render_email("s", "{{ ''.__class__.__mro__ }}", None, {})


def test_huge_repetition_is_refused_quickly_without_allocating_it() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(RenderError, match="repetition would be 100,000,000 long"):
            render_email("s", "{{ 'a' * 10**8 }}", None, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1
    assert peak < 10_000_000


@pytest.mark.parametrize(
    "source",
    [
        "{{ 10**8 * 'a' }}",
        "{{ [0] * 10**7 }}",
        "{{ ([1] * 1000) * 1001 }}",
        "{{ 9 ** 999999 }}",
        "{{ (10 ** 2000) * (10 ** 2000) }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '%*s' % (10**9, 'a') }}",
        "{{ '%.999999999f' | format(1) }}",
        "{{ '{:>999999999}'.format('a') }}",
        "{{ '{:{}}'.format('a', 10**9) }}",
        "{{ 'a'.center(10**9) }}",
        "{{ 'a'.zfill(10**9) }}",
        "{{ 'a' | center(1000000000) }}",
        "{{ ('x\n' * 1000) | indent(10**4) }}",
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "{{ range(100000) | join('a' * 1000000) }}",
        "{{ ('a' * 1000000) | replace('a', 'aa') }}",
        "{{ ('a' * 1000000).replace('a', 'aa') }}",
        "{{ ('a' * 1000000).join(['b'] * 100000) }}",
    ],
)
def test_oversized_builds_are_refused(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(RenderError, match="refused by the sandbox"):
        render_email("s", source, None, {})
    assert time.perf_counter() - started < 2


def test_output_up_to_the_byte_budget_is_allowed_and_one_byte_more_is_stopped() -> None:
    exactly = f"{{{{ 'a' * {MAX_RENDER_CHARS} }}}}"
    assert len(render_email("", exactly, "", {}, max_bytes=MAX_RENDER_CHARS).html) == 1_000_000
    with pytest.raises(RenderBudgetExceeded, match="output is larger than 1,000,000 bytes"):
        render_email("é", exactly, "", {}, max_bytes=MAX_RENDER_CHARS)  # é is two bytes


def test_many_small_outputs_are_stopped_at_the_byte_budget_not_after_building_them() -> None:
    source = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
    with pytest.raises(RenderBudgetExceeded) as caught:
        render_email("s", source, None, {}, max_bytes=50_000)
    assert caught.value.reason == (
        "HTML body: template is over the render budget (output is larger than 50,000 bytes)"
    )


def test_a_nested_loop_template_is_stopped_by_the_step_budget_in_about_a_second() -> None:
    source = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(RenderBudgetExceeded) as caught:
        render_email("s", "<p>hi</p>", source, {})
    assert caught.value.reason == (
        "text body: template is over the render budget (more than 1,000,000 loop steps)"
    )
    assert time.perf_counter() - started < 3


def test_a_loop_with_heavy_iterations_is_stopped_by_the_cpu_time_budget() -> None:
    source = "{% for i in range(100000) %}{{ range(100000) | sum }}{% endfor %}"
    started = time.thread_time()
    with pytest.raises(RenderBudgetExceeded, match=r"more than 0\.3 s of CPU time"):
        render_email(source, "x", None, {}, timeout_seconds=0.3)
    assert time.thread_time() - started < 1


def test_a_macro_that_calls_itself_twice_is_stopped_without_any_loop() -> None:
    source = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    )
    with pytest.raises(RenderBudgetExceeded, match="subject: template is over the render budget"):
        render_email(source, "x", None, {}, timeout_seconds=0.3)


def test_a_recursive_loop_spends_a_step_per_item_at_every_depth() -> None:
    source = (
        "{% for row in [range(100000), range(100000)] * 6 recursive %}"
        "{% if row is iterable %}{{ loop(row) }}{% endif %}{% endfor %}"
    )
    with pytest.raises(RenderBudgetExceeded, match="more than 1,000,000 loop steps"):
        render_email("s", source, None, {}, timeout_seconds=60)  # the steps decide, not the CPU


def test_a_huge_range_is_refused_by_the_budget() -> None:
    refused = r"range of 1,000,000,000 items \(limit 100,000\)"
    with pytest.raises(RenderBudgetExceeded, match=refused):
        render_email("s", "{{ range(10**9) | length }}", None, {})


def test_loops_keep_their_loop_variable_filters_and_else_under_the_budget() -> None:
    source = (
        "{% for i in range(5) if i is odd %}{{ loop.index }}/{{ loop.length }}"
        "{{ '.' if loop.last }} {% else %}none{% endfor %}"
        "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}"
        "{% for x in [] %}x{% else %}empty{% endfor %}"
    )
    assert render_email("s", source, None, {}).html == "1/2 2/2. a=1empty"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% if %}", "HTML body: syntax error on line 1: "),
        ("ok\n{{ contact.first_name }\n", "HTML body: syntax error on line 2: "),
        ("{{ contact.fields.plan() }}", "HTML body: template error: "),
        ("{{ 1 / 0 }}", "HTML body: template failed: ZeroDivisionError: division by zero"),
        ("{{ 'a' + 1 }}", "HTML body: template failed: TypeError: "),
    ],
)
def test_template_errors_become_render_errors(source: str, message: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_email("s", source, None, context())
    assert caught.value.reason.startswith(message)
    assert str(caught.value) == caught.value.reason


def test_ordinary_arithmetic_and_formatting_still_work() -> None:
    rendered = render_email(
        "{{ '%.2f' | format(price) }}",
        "{{ '-' * 3 }}{{ 2 ** 10 }}{{ '{:>5}'.format(n) }}{{ 'ab'.center(6) }}{{ 7 % 3 }}",
        None,
        {"price": 9.5, "n": 42},
    )
    assert rendered.subject == "9.50"
    assert rendered.html == "---1024   42  ab  1"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("Line<br>break<br/>here", "Line\nbreak\nhere"),
        ("<h1>Title</h1>Body", "Title\n\nBody"),
        ("<ul><li>First</li><li> Second </li></ul>", "- First\n- Second"),
        (
            '<a href="https://x.test/p?a=1&amp;b=2">Read more</a>',
            "Read more (https://x.test/p?a=1&b=2)",
        ),
        ('<a href="https://x.test/">https://x.test/</a>', "https://x.test/"),
        ('<a href="mailto:hi@x.test">hi@x.test</a>', "hi@x.test"),
        ('<a href="https://x.test/"><img src="logo.png"></a>', "https://x.test/"),
        ('<a href="#top">Back to top</a>', "Back to top"),
        ("<head><title>T</title><style>p{color:red}</style></head><p>Hi</p>", "Hi"),
        ("<html><head><meta charset=utf-8><body><p>Hi</p>", "Hi"),
        ("<script>var a = '<p>x</p>';</script>Visible", "Visible"),
        ("Caf&eacute; &lt;3 &#8212; &nbsp;ok", "Café <3 — ok"),
        ("  lots\n\n of   \t space  ", "lots of space"),
        ("<div><div><p>Deep</p></div></div><p>Next</p>", "Deep\n\nNext"),
        ("<table><tr><td>Cell A</td><td>Cell B</td></tr></table>", "Cell A\nCell B"),
        ("<p>" + "word " * 100 + "</p>", ("word " * 100).strip()),
        ("<p>a</p><br><br><br><br>b", "a\n\nb"),
        ("<ul>\n  <li>One</li>\n  <li>Two</li>\n</ul>\n<p>After</p>", "- One\n- Two\n\nAfter"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
