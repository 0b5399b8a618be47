"""Names are checked whole: a trailing newline (which ``$`` lets through) or other junk never passes (D11)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nlpipe.cli.main import app
from nlpipe.errors import InputError
from nlpipe.store.annotation_checks import check_annotator
from nlpipe.store.datasets import check_name, list_datasets
from nlpipe.tasks.saved import VERSION_RE, check_model_name, versions

BAD_NAMES = ["abc\n", "abc\r\n", "\nabc", "a" * 101, "", "-abc", "a/b", "a\x00b"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_dataset_and_model_names_are_matched_whole(name):
    with pytest.raises(InputError) as dataset_error:
        check_name(name)
    assert dataset_error.value.code == "E201"
    with pytest.raises(InputError) as model_error:
        check_model_name(name)
    assert model_error.value.code == "E401"


def test_good_names_still_pass():
    assert check_name("news.v2_en-GB") == "news.v2_en-GB"
    assert check_model_name("a" * 100) == "a" * 100
    assert check_annotator(" alice@example.org ") == "alice@example.org"


def test_a_version_folder_ending_in_a_newline_is_not_a_version(tmp_path):
    for folder in ("v1", "v2\n"):
        (tmp_path / "m" / folder).mkdir(parents=True)
        (tmp_path / "m" / folder / "meta.json").write_text("{}")
    assert versions(tmp_path, "m") == ["v1"]
    assert VERSION_RE.match("v2\n") is None


def test_cli_datasets_create_refuses_a_name_ending_in_a_newline(store):
    result = CliRunner().invoke(app, ["datasets", "create", "abc\n"])
    assert result.exit_code == 1, result.output
    assert "E201" in result.output
    with store.session() as s:
        assert list_datasets(s) == []
