"""The configuration object: flags over environment over file over defaults, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import DateOrder
from server.config import OPTIONS, ConfigError, ServerConfig, default_job_db_path, load_config


def test_defaults_match_the_architecture() -> None:
    config = load_config([], {})
    assert config == ServerConfig()
    assert (config.host, config.port, config.max_message_bytes) == ("127.0.0.1", 50051, 16 * 1024 * 1024)
    assert config.pipeline.full_image_fallback is True


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    settings = tmp_path / "datalid.yaml"
    settings.write_text("port: 7000\ngrace_s: 3\nmax_image_pixels: 1000000\nproviders: [cuda, cpu]\n")
    config = load_config(
        ["--config", str(settings), "--port", "9000"],
        {"DATALID_PORT": "8000", "DATALID_GRACE_S": "4.5", "DATALID_DATE_ORDER": "mdy"},
    )
    assert config.port == 9000
    assert config.grace_s == 4.5
    assert config.pipeline.decode.max_image_pixels == 1_000_000
    assert config.pipeline.runtime.providers == ("cuda", "cpu")
    assert config.pipeline.date_order is DateOrder.MDY


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    settings = tmp_path / "datalid.yaml"
    settings.write_text("max_message_bytes: 2048\nfull_image_fallback: false\n")
    config = load_config([], {"DATALID_CONFIG": str(settings)})
    assert config.max_message_bytes == 2048
    assert config.pipeline.full_image_fallback is False


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--port", "70000"], {}, "port"),
        ([], {"DATALID_PORT": "fifty"}, "DATALID_PORT"),
        (["--grace-s", "-1"], {}, "grace_s"),
        ([], {"DATALID_FULL_IMAGE_FALLBACK": "maybe"}, "DATALID_FULL_IMAGE_FALLBACK"),
        (["--providers", "tpu"], {}, "providers"),
        (["--detection-confidence", "2"], {}, "detection_confidence"),
        (["--log-level", "chatty"], {}, "log_level"),
    ],
)
def test_bad_values_name_the_key_and_value(argv, environ, named) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(argv, environ)


def test_unknown_file_keys_are_refused(tmp_path: Path) -> None:
    settings = tmp_path / "datalid.yaml"
    settings.write_text("prot: 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(["--config", str(settings)], {})


def test_every_option_has_a_flag_and_variable() -> None:
    for option in OPTIONS:
        assert option.flag == "--" + option.name.replace("_", "-")
        assert option.env == "DATALID_" + option.name.upper()


def test_detector_settings_reach_the_pipeline(tmp_path: Path) -> None:
    model = tmp_path / "detector.onnx"
    config = load_config(["--detector-model-path", str(model)], {"DATALID_DETECTION_CROP_PADDING": "0.5"})
    assert config.pipeline.detector_model_path == model
    assert config.pipeline.detection_crop_padding == 0.5
    with pytest.raises(ConfigError, match="detection_crop_padding"):
        load_config(["--detection-crop-padding", "3"], {})


def test_max_detections_limit_is_an_option_and_covers_the_default() -> None:
    assert load_config([], {}).max_detections_limit == 100
    config = load_config(["--max-detections-limit", "20"], {"DATALID_MAX_DETECTIONS": "15"})
    assert (config.max_detections_limit, config.pipeline.max_detections) == (20, 15)
    # A default no request could ask for explicitly is a configuration mistake.
    with pytest.raises(ConfigError, match="max_detections_limit"):
        load_config([], {"DATALID_MAX_DETECTIONS_LIMIT": "5", "DATALID_MAX_DETECTIONS": "10"})


def test_help_lists_every_option() -> None:
    """`python -m server --help`, as the README says, in a real subprocess (argparse formats help
    text with %, so a literal one in a description once made it crash)."""
    completed = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    for option in OPTIONS:
        assert option.flag in completed.stdout


def test_the_default_job_database_is_per_port(tmp_path: Path) -> None:
    assert load_config([], {}).job_db_path == ""
    assert default_job_db_path(50051, tmp_path) == str(tmp_path / ".local/state/datalid/jobs-50051.sqlite3")
    assert default_job_db_path(50052, tmp_path) != default_job_db_path(50051, tmp_path)
    assert default_job_db_path(0, tmp_path) == ":memory:"
