"""A malformed secret setting is reported without repeating its value (D12); other settings still show theirs."""

from __future__ import annotations

import pytest

from nlpipe.config import get_settings
from nlpipe.errors import ConfigError


@pytest.mark.parametrize("value", ['["alice:s3cr3t-key"', '["alice:s3cr3t-key", 5]', '[{"s3cr3t-key": 1}]'])
def test_a_malformed_api_keys_setting_is_not_echoed(monkeypatch, value):
    monkeypatch.setenv("NLPIPE_API_KEYS", value)
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert err.value.code == "E001"
    assert "NLPIPE_API_KEYS" in err.value.message
    assert "s3cr3t" not in str(err.value) and "s3cr3t" not in repr(err.value.details)


def test_other_settings_still_name_the_bad_value(monkeypatch):
    monkeypatch.setenv("NLPIPE_SEED", "twelve")
    with pytest.raises(ConfigError) as err:
        get_settings()
    assert "NLPIPE_SEED" in err.value.message and "'twelve'" in err.value.message


def test_well_formed_api_keys_still_parse(monkeypatch):
    monkeypatch.setenv("NLPIPE_API_KEYS", '["alice:k1", "plain"]')
    assert get_settings().api_key_names == {"k1": "alice", "plain": None}
