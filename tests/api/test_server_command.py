"""`zkvault-server` refuses bad settings with one line per setting, never a traceback."""

from __future__ import annotations

import pytest

from server.main import main


def test_a_bad_setting_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZKVAULT_LOG_LEVEL", "trace")
    monkeypatch.setenv("ZKVAULT_SIGNING_KEYS", '["not-a-key-but-secret-looking"]')
    monkeypatch.setenv("ZKVAULT_WORKERS", "0")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "ZKVAULT_LOG_LEVEL: Input should be 'critical'" in err
    assert "ZKVAULT_WORKERS:" in err
    assert "Traceback" not in err and "secret-looking" not in err


@pytest.mark.parametrize("level", ["info", "debug"])
def test_log_levels_configure_the_root_logger_only_at_debug(
    level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.main import _log_config
    from server.settings import Settings

    monkeypatch.setenv("ZKVAULT_LOG_LEVEL", level)
    root = _log_config(Settings())["root"]
    assert root == {"handlers": ["err"] if level == "debug" else [], "level": level.upper()}
