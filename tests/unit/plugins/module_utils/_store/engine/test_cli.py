"""Running an engine's command line: its answer is bounded, its failure quoted."""

from __future__ import annotations

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli


def test_an_answer_is_returned_as_text_and_stderr_does_not_block_it():
    # More stderr than a pipe holds, while stdout is read: neither side may wait for ever.
    answer = cli.run(["sh", "-c", "head -c 300000 /dev/zero >&2; echo '[{\"Id\": \"x\"}]'"])
    assert answer == '[{"Id": "x"}]\n'


def test_an_answer_larger_than_the_limit_stops_the_engine_with_a_message(monkeypatch):
    monkeypatch.setattr(cli, "ANSWER_MAX_BYTES", 1024 * 1024)
    with pytest.raises(BundleError) as err:
        cli.run(["sh", "-c", "yes fleetimage"])  # never ends by itself
    assert str(err.value) == "`sh -c 'yes fleetimage'` answered with more than 1048576 bytes; it was stopped and " \
                             "its answer not used"


def test_a_failure_quotes_the_command_its_status_and_the_end_of_its_stderr():
    with pytest.raises(BundleError) as err:
        cli.run(["sh", "-c", "echo 'Cannot connect to the daemon' >&2; exit 3"])
    assert str(err.value) == "`sh -c 'echo '\"'\"'Cannot connect to the daemon'\"'\"' >&2; exit 3'` failed (exit 3): " \
                             "Cannot connect to the daemon"


def test_the_engines_word_for_absence_is_none():
    assert cli.run(["sh", "-c", "echo 'Error: No such image: app:1' >&2; exit 1"],
                   none_when_stderr_has="No such image") is None
