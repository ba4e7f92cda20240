"""Which OCR models fill the stages: repository entries, wheel files, recogniser dictionaries.

The dictionary checks run on a hand-built CTC model whose output is known exactly; the reading
checks run the real models shipped in the wheels that pyproject.toml installs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from pipeline.config import OcrConfig, PipelineConfig, RuntimeConfig
from pipeline.ctc import Read
from pipeline.ocr import OcrEngine, TextRecognizer, default_model_paths
from pipeline.repository import DEFAULT_REPOSITORY, load_model_config
from pipeline.runtime import OnnxModel
from pipeline.synth import render_label_image

CPU = RuntimeConfig(providers=("cpu",))
# Class ids per step of the hand-built model: blank=0, then the dictionary, then the space CTC adds.
# "a", blank, "b", "b" decodes to "ab" (repeats merge, blanks split).
_STEPS = (1, 0, 2, 2)


def _ctc_model(path: Path, classes: int) -> Path:
    """A recogniser-shaped model: input ``(N, 3, 48, W)``, output ``(N, 4, classes)`` one-hot on
    ``_STEPS`` whatever the input, with no ``character`` metadata."""
    probs = np.zeros((1, len(_STEPS), classes), dtype=np.float32)
    probs[0, np.arange(len(_STEPS)), _STEPS] = 1.0
    nodes = [
        helper.make_node("Shape", ["x"], ["batch"], start=0, end=1),
        helper.make_node("Concat", ["batch", "tail"], ["out_shape"], axis=0),
        helper.make_node("Expand", ["probs", "out_shape"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_ctc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 48, "W"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", len(_STEPS), classes])],
        initializer=[
            numpy_helper.from_array(probs, "probs"),
            numpy_helper.from_array(np.array([len(_STEPS), classes], dtype=np.int64), "tail"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture
def ctc_model(tmp_path: Path) -> OnnxModel:
    return OnnxModel("ocr_rec", "ocr_rec", _ctc_model(tmp_path / "rec.onnx", classes=5), CPU)


_CROP = np.full((48, 160, 3), 255, dtype=np.uint8)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_dictionary_file_decodes_a_model_without_metadata(
    tmp_path: Path, ctc_model: OnnxModel, newline: str
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes(newline.join(["a", "b", "c"]).encode() + newline.encode())
    recognizer = TextRecognizer(ctc_model, keys)
    assert [read.text for read in recognizer.recognize([_CROP, _CROP])] == ["ab", "ab"]


def test_a_model_without_metadata_needs_a_dictionary(ctc_model: OnnxModel) -> None:
    with pytest.raises(ValueError, match="has no 'character' metadata: give its dictionary"):
        TextRecognizer(ctc_model)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # 4 characters + blank + space = 6 classes, the model has 5: every read would be shifted.
        (
            b"a\nb\nc\nd\n",
            "rec_dict_path .*keys.txt: 4 characters \\(\\+ blank \\+ space = 6\\) .* 5 output",
        ),
        (b"a\n\xff\n", "rec_dict_path .*keys.txt: cannot be read as a dictionary"),
        (b"", "rec_dict_path .*keys.txt: holds no characters"),
    ],
)
def test_a_dictionary_that_does_not_fit_is_refused_naming_the_key(
    tmp_path: Path, ctc_model: OnnxModel, content: bytes, message: str
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        TextRecognizer(ctc_model, keys, dict_source="rec_dict_path")


def test_a_missing_dictionary_file_is_refused_naming_the_key(tmp_path: Path, ctc_model: OnnxModel) -> None:
    with pytest.raises(ValueError, match=r"rec_dict_path .*absent\.txt: cannot be read"):
        TextRecognizer(ctc_model, tmp_path / "absent.txt", dict_source="rec_dict_path")


def _repository(tmp_path: Path, entries: dict[str, str]) -> Path:
    for name, text in entries.items():
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "config.yaml").write_text(text)
    return tmp_path


def test_the_engine_takes_the_recogniser_and_dictionary_its_config_names(tmp_path: Path) -> None:
    _ctc_model(tmp_path / "rec.onnx", classes=5)
    (tmp_path / "keys.txt").write_text("a\nb\nc\n")
    repository = _repository(
        tmp_path / "repo",
        # Absolute paths, as a relative one would be taken from the entry's folder.
        {"ocr_rec_tiny": f"kind: ocr_rec\npath: {tmp_path}/rec.onnx\ncharacter_dict: {tmp_path}/keys.txt\n"},
    )
    engine = OcrEngine.load(
        OcrConfig(rec_model_name="ocr_rec_tiny", use_angle_cls=False), CPU, repository=repository
    )
    assert engine.recognizer.model.path == tmp_path / "rec.onnx"
    assert engine.recognizer.model.name == "ocr_rec"  # the stage's name: metrics and batching keep theirs
    # This repository has no coder detector: none is loaded and reads cannot ask for one.
    assert engine.coder_detector is None and [m.name for m in engine.models()] == ["ocr_det", "ocr_rec"]
    with pytest.raises(ValueError, match="no coder text detector"):
        engine.read(_CROP, coder=True)
    with pytest.raises(ValueError, match=r"coder_det_model_name: no .*ocr_det_elsewhere/config\.yaml"):
        OcrEngine.load(OcrConfig(coder_det_model_name="ocr_det_elsewhere"), CPU, repository=repository)
    # And "" loads none from the shipped repository, whose default plans still name coder.
    plain = OcrEngine.load(OcrConfig(coder_det_model_name="", use_angle_cls=False), CPU)
    assert plain.coder_detector is None and "coder" in PipelineConfig().second_chance_photo_variants
    assert engine.recognizer.recognize([_CROP]) == [Read("ab", 1.0)]
    # The flag's dictionary wins over the entry's, and is checked against the model.
    (tmp_path / "long.txt").write_text("a\nb\nc\nd\n")
    with pytest.raises(ValueError, match=r"rec_dict_path .*long\.txt: 4 characters"):
        OcrEngine.load(
            OcrConfig(
                rec_model_name="ocr_rec_tiny", rec_dict_path=tmp_path / "long.txt", use_angle_cls=False
            ),
            CPU,
            repository=repository,
        )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (OcrConfig(rec_model_name="ocr_rec_absent"), "rec_model_name: no .*ocr_rec_absent/config.yaml"),
        (
            OcrConfig(rec_model_name="ocr_det"),
            "rec_model_name: .*ocr_det/config.yaml is kind ocr_det, not ocr_rec",
        ),
        (
            OcrConfig(det_model_path=Path("/nonexistent/det.onnx")),
            "det_model_path: no model file '/nonexistent/det.onnx'",
        ),
    ],
)
def test_bad_model_choices_name_the_key(config: OcrConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OcrEngine.load(config, CPU, repository=DEFAULT_REPOSITORY)


def test_model_names_are_folder_names_never_paths() -> None:
    for bad in ("../ocr_rec", "a/b", "..", ""):
        with pytest.raises(ValueError, match="rec_model_name must be a folder name"):
            OcrConfig(rec_model_name=bad)


# --- the real models ---------------------------------------------------------------------------

_ENTRIES = sorted(p.name for p in DEFAULT_REPOSITORY.glob("ocr_*") if (p / "config.yaml").is_file())
# One rendered label, one line that matters: what every shipped recogniser must read exactly.
_LINES = ["Best before", "EXP 12/08/2026"]


def _compact(text: str) -> str:
    return text.replace(" ", "").upper()


@pytest.mark.slow
def test_the_default_recogniser_is_a_wheel_file_with_a_dictionary_file_and_reads_a_date() -> None:
    entry = load_model_config("ocr_rec", "ocr_rec", DEFAULT_REPOSITORY)
    assert entry.path is not None and "site-packages" in entry.path.parts
    assert entry.path != default_model_paths()["ocr_rec"]  # not rapidocr's PP-OCRv4 fallback
    assert entry.character_dict is not None and entry.character_dict.is_file()
    engine = OcrEngine.load(OcrConfig(), CPU)
    assert engine.recognizer.model.path == entry.path
    assert "character" not in engine.recognizer.model.metadata()  # the file is what decodes it
    lines = engine.read(render_label_image(_LINES, seed=5))
    assert [_compact(line.text) for line in lines] == [_compact(text) for text in _LINES]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in _ENTRIES if load_model_config(n, "ocr_rec").kind == "ocr_rec"])
def test_every_shipped_recogniser_reads_a_rendered_date(name: str) -> None:
    engine = OcrEngine.load(OcrConfig(rec_model_name=name), CPU)
    lines = engine.read(render_label_image(_LINES, seed=5))
    assert _compact(lines[-1].text) == "EXP12/08/2026"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in _ENTRIES if load_model_config(n, "ocr_det").kind == "ocr_det"])
def test_every_shipped_text_detector_finds_the_lines(name: str) -> None:
    engine = OcrEngine.load(OcrConfig(det_model_name=name), CPU)
    lines = engine.read(render_label_image(_LINES, seed=5))
    assert [_compact(line.text) for line in lines] == [_compact(text) for text in _LINES]
