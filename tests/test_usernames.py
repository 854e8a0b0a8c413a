"""Username rules without the web layer."""

import pytest

from app.auth.usernames import name_key, normalize, validation_error


@pytest.mark.parametrize("name", ["alice", "小明", "Zoë", "a.b-c_d", "x" * 32, "नमस्ते", "Ünïcødé9"])
def test_valid_names(name):
    assert validation_error(normalize(name)) is None


@pytest.mark.parametrize("name", ["", "x" * 33, "a b", "a@b", "<b>", "\u0301a", "all", "ALL", "a\u200bb"])
def test_invalid_names(name):
    assert validation_error(normalize(name)) is not None


def test_keys_ignore_case_and_normalisation():
    assert name_key("ALICE") == name_key("alice")
    assert name_key("Jose\u0301") == name_key("JOSÉ")
    assert name_key("Straße") == name_key("STRASSE")
