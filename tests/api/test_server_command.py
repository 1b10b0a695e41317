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


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # Clocks that may differ by more than half a token's life: refused.
        (
            {"ZKVAULT_MAX_CLOCK_SKEW_SECONDS": "300", "ZKVAULT_ACCESS_TOKEN_TTL_SECONDS": "600"},
            "max_clock_skew_seconds (300) must be below half of access_token_ttl_seconds",
        ),
        # The grace window is gone: a leftover setting is refused, not silently ignored.
        ({"ZKVAULT_REFRESH_GRACE_SECONDS": "120"}, "refresh_grace_seconds was removed"),
        ({"ZKVAULT_TOKEN_SECRETS": '["short-but-secret-looking"]'}, "ZKVAULT_TOKEN_SECRETS:"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(
    env: dict[str, str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert named in err, err
    assert "Traceback" not in err and "secret-looking" not in err
