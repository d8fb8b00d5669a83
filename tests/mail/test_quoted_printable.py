"""Text parts are encoded exactly as the `email` package encodes them: compared on generated
text, with the choice of 7bit, quoted-printable and base64 and every wrapping rule."""

from email import quoprimime
from email.contentmanager import _encode_text

from hypothesis import given, settings
from hypothesis import strategies as st

from app.mail.compose import _POLICY
from app.mail.quoted_printable import body_encode, encode_text

PIECES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["=", " ", "\t", "\n", "\r\n", "\r", "é", "€", "=3D", "a" * 75, "<p>"]),
    st.builds(lambda n: "x" * n, st.integers(70, 160)),
)
TEXT = st.lists(PIECES, max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(TEXT)
def test_a_text_part_is_encoded_as_the_email_package_encodes_it(text):
    ours = encode_text(text, _POLICY.max_line_length, _POLICY.linesep)

    assert ours == _encode_text(text, "utf-8", None, _POLICY)


@settings(max_examples=600, deadline=None)
@given(TEXT.map(lambda text: text.encode("utf-8").decode("latin-1")), st.integers(4, 80))
def test_quoted_printable_is_written_as_the_email_package_writes_it(body, width):
    assert body_encode(body, width) == quoprimime.body_encode(body, width)
