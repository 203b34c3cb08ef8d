"""The interpreter settings an import changes are changed only while imports run, and restored after the last."""

from __future__ import annotations

import gc
import sys

import pytest

from ingest.imports.pipeline import _import_tuning


def test_settings_change_while_imports_run_and_come_back_after_the_last() -> None:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    with _import_tuning():
        during = gc.get_threshold(), sys.getswitchinterval()
        assert during[0][0] > threshold[0] and during[1] < interval
        with _import_tuning():  # a second import of the same process
            assert (gc.get_threshold(), sys.getswitchinterval()) == during
        assert (gc.get_threshold(), sys.getswitchinterval()) == during  # the first is still running
    assert (gc.get_threshold(), sys.getswitchinterval()) == (threshold, interval)


def test_settings_come_back_when_an_import_fails() -> None:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    with pytest.raises(RuntimeError), _import_tuning():
        raise RuntimeError("a failed import")
    assert (gc.get_threshold(), sys.getswitchinterval()) == (threshold, interval)
