"""docs/troubleshooting.md documents every auth error code with its exact message."""

from __future__ import annotations

from pathlib import Path

from tandem.auth import AUTH_MESSAGES, KEY_IMPORT_CODES
from tandem.auth.inspect import HINTS

DOC = (Path(__file__).parents[2] / "docs" / "troubleshooting.md").read_text()


def test_every_auth_error_is_documented_word_for_word():
    for code, message in AUTH_MESSAGES.items():
        assert f"#### `{code}` — {message}\n" in DOC, code
        assert f"| `{code}` | {message} |" in DOC, code


def test_every_key_import_code_is_documented():
    for code in KEY_IMPORT_CODES:
        assert f"| `{code}` |" in DOC, code


def test_inspect_has_a_hint_for_every_code():
    assert set(HINTS) == set(AUTH_MESSAGES)


def test_every_protocol_error_is_documented():
    from tandem.protocol.errors import CLOSE_CODES

    for code, (close, reason) in CLOSE_CODES.items():
        assert f"| `{code}` | {close} | {reason} |" in DOC, code
