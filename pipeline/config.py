"""Typed configuration of the pipeline: built once by the caller and passed down.

Every field has a unit in its name where it has a unit, and every value is checked in
``__post_init__`` with a message that names the field and the bad value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ctc import DIGIT_CONTEXT_RATIO
from pipeline.types import DateOrder

__all__ = ["DecodeLimits", "OcrConfig", "PipelineConfig", "RuntimeConfig"]

PROVIDER_NAMES = ("tensorrt", "cuda", "cpu")
# A model's name is a folder of the model repository, never a path.
_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _require(condition: bool, name: str, value: object, rule: str) -> None:
    if not condition:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class DecodeLimits:
    """Limits checked before and while decoding an image."""

    max_image_bytes: int = 16 * 1024 * 1024
    # The most pixels an image is read at: a larger photo is decoded smaller (pipeline/decode.py),
    # its boxes still in its own pixels. 40 MP keeps every printed line of a phone photo legible.
    max_image_pixels: int = 40_000_000
    # The largest image accepted at all, from its header: the 200 MP of the largest phone sensors.
    # A JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg and never holds more than
    # max_image_pixels; another format is decoded whole first, so it may have at most 1.5 times
    # max_image_pixels (60 MP); a decompression bomb claims far more.
    max_source_pixels: int = 200_000_000
    # Smaller images hold no readable date; refusing them gives the caller a clear reason.
    min_image_side_px: int = 16
    # Long side over short side. The text detector's input is capped at 4096 px a side
    # (pipeline/ocr.py), so a 1:50 strip still reaches it 82 px thick, room for a line of text; a
    # thinner one holds nothing readable and is refused before decoding rather than read in tiles.
    max_image_aspect_ratio: float = 50.0

    def __post_init__(self) -> None:
        _require(self.max_image_bytes > 0, "max_image_bytes", self.max_image_bytes, "> 0")
        _require(self.max_image_pixels > 0, "max_image_pixels", self.max_image_pixels, "> 0")
        _require(
            self.max_source_pixels >= self.max_image_pixels,
            "max_source_pixels",
            self.max_source_pixels,
            f">= max_image_pixels ({self.max_image_pixels})",
        )
        _require(self.min_image_side_px >= 1, "min_image_side_px", self.min_image_side_px, ">= 1")
        _require(
            self.max_image_aspect_ratio >= 1, "max_image_aspect_ratio", self.max_image_aspect_ratio, ">= 1"
        )


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """How ONNX Runtime sessions are built.

    ``providers`` lists the execution providers allowed, best first; the first ones that this
    host's ONNX Runtime build offers are used, and CPU is always the last resort.
    ``intra_op_threads`` of 0 means: chosen from the machine's cores.
    """

    providers: tuple[str, ...] = PROVIDER_NAMES
    intra_op_threads: int = 0
    tensorrt_fp16: bool = True
    # Building a TensorRT engine takes minutes; the cache makes it a one-time cost per host.
    tensorrt_cache_dir: Path = Path("~/.cache/datalid/trt")

    def __post_init__(self) -> None:
        for name in self.providers:
            _require(name in PROVIDER_NAMES, "providers", self.providers, f"a subset of {PROVIDER_NAMES}")
        _require(self.intra_op_threads >= 0, "intra_op_threads", self.intra_op_threads, ">= 0")


# The model repository's coder-print text detector (OcrConfig.coder_det_model_name).
CODER_DET_DEFAULT = "ocr_det_coder"


@dataclass(frozen=True, kw_only=True)
class OcrConfig:
    """The three OCR models and their settings.

    A ``None`` file means the model repository's (``models/ocr_*/config.yaml``: ``path``,
    ``character_dict``), else the rapidocr wheel's PP-OCRv4 file; a file given here wins.
    """

    # Which entry of the model repository fills each OCR stage: a folder name there, holding a
    # config.yaml of the stage's kind (models/README.md lists the shipped ones).
    det_model_name: str = "ocr_det"
    cls_model_name: str = "ocr_cls"
    rec_model_name: str = "ocr_rec"
    # A second text detector, read only by the second chance's ``coder`` variant (pipeline/variants.py):
    # PP-OCRv4's neck and head fine-tuned to find dot-matrix and inkjet lines as lines
    # (models/ocr_det_coder/MODEL_CARD.md). "" loads none, nor does another repository without this
    # default's folder: the plans' coder variants are then not read.
    coder_det_model_name: str = CODER_DET_DEFAULT
    det_model_path: Path | None = None
    cls_model_path: Path | None = None
    rec_model_path: Path | None = None
    # The recogniser's dictionary (one character a line), for an ONNX file without ``character``
    # metadata; wins over ``character_dict`` in models/ocr_rec/config.yaml.
    rec_dict_path: Path | None = None
    use_angle_cls: bool = True
    # Text detection resizes so that the short side is at least this many pixels (PP-OCR default).
    det_limit_side_len: int = 736
    # DB's box threshold and unclip ratio; None: the detector's ``text_detection`` settings in
    # models/ocr_det/config.yaml (see pipeline.repository.TextDetectionSettings).
    det_box_thresh: float | None = None
    det_unclip_ratio: float | None = None
    # Lines read with less confidence are dropped.
    min_text_score: float = 0.5
    # A character inside a number becomes the digit, date separator or blank the recogniser ranks
    # at least this fraction of its greedy choice (pipeline/ctc.py; 0 turns it off).
    digit_context_ratio: float = DIGIT_CONTEXT_RATIO
    # A text box that holds two or three printed lines (sparse dot-matrix codes) is split into one
    # box a line before it is read (pipeline/stacked_lines.py).
    split_stacked_lines: bool = True
    # A text line that curves (print on a can or a tub) is boxed along its curve and read
    # straightened, where a rectangle would drop it or take in its neighbours (pipeline/curved_lines.py).
    curved_lines: bool = True
    # A text box whose read ends (or begins) where a date cannot is grown along its line and read
    # again, and the longer read kept where it holds the first (pipeline/cut_lines.py).
    grow_cut_lines: bool = True

    def __post_init__(self) -> None:
        for name in ("det_model_name", "cls_model_name", "rec_model_name"):
            value = getattr(self, name)
            _require(
                bool(_MODEL_NAME.fullmatch(value)) and value not in (".", ".."),
                name,
                value,
                "a folder name in the model repository ([A-Za-z0-9_.-], at most 64)",
            )
        if self.coder_det_model_name:
            _require(
                bool(_MODEL_NAME.fullmatch(self.coder_det_model_name))
                and self.coder_det_model_name not in (".", ".."),
                "coder_det_model_name",
                self.coder_det_model_name,
                "a folder name in the model repository, or empty for none",
            )
        _require(self.det_limit_side_len >= 32, "det_limit_side_len", self.det_limit_side_len, ">= 32")
        if self.det_box_thresh is not None:
            _require(0 <= self.det_box_thresh <= 1, "det_box_thresh", self.det_box_thresh, "in 0..1")
        if self.det_unclip_ratio is not None:
            _require(self.det_unclip_ratio > 0, "det_unclip_ratio", self.det_unclip_ratio, "> 0")
        _require(0 <= self.min_text_score <= 1, "min_text_score", self.min_text_score, "in 0..1")
        _require(
            0 <= self.digit_context_ratio <= 1, "digit_context_ratio", self.digit_context_ratio, "in 0..1"
        )


@dataclass(frozen=True, kw_only=True)
class PipelineConfig:
    """Everything the pipeline needs, with the defaults a request gets when it sets no option."""

    decode: DecodeLimits = field(default_factory=DecodeLimits)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    detection_confidence: float = 0.25
    detection_iou: float = 0.45
    max_detections: int = 10
    full_image_fallback: bool = True
    date_order: DateOrder = DateOrder.DMY
    # A date printed without a year ("16 NOV") is the next one on or after today minus this grace.
    date_grace_days: int = 30
    # Printed years outside [today - back, today + ahead] are not dates: lot codes, phone numbers.
    date_years_back: int = 15
    date_years_ahead: int = 15
    # Worker threads for decoding, pre/post-processing and model runs (at most this many ONNX runs
    # at once, each with cores / max_concurrency intra-op threads); 0 means one per core.
    max_concurrency: int = 0
    # Images admitted by aprocess at once (queued or running); more are refused with Overloaded at
    # once. 0 means 4 per unit of max_concurrency: enough to keep every core busy, few enough that
    # an admitted image does not wait for seconds.
    max_pending_images: int = 0
    # models/<name>/config.yaml: model files and batching settings; None means the repository's models/.
    model_repository: Path | None = None
    # False reads whole images even where a detector model is present (a baseline, or a fault).
    use_detector: bool = True
    # The YOLO date detector's ONNX file; None: models/date_detector/ (config.yaml path, else
    # model.onnx) if present there, else no detector and OCR reads the whole image.
    detector_model_path: Path | None = None
    # Each detection is widened by this fraction of its text height on every side before OCR, because
    # text detection needs some background around the glyphs.
    detection_crop_padding: float = 0.25
    # ...and by this many text heights above and to the left, where labels print the word that
    # names the date ("Use by", "EXP"): without it an expiry date reads as a date of unknown kind.
    detection_crop_context: float = 1.0
    # When the first read finds no date, or only a doubtful one (what is left of a line cut short,
    # pipeline.second_chance.doubtful), read variants of the windows and then of the photo
    # (dot-matrix joined, turned, inverted...; pipeline/second_chance.py). Photos the first read
    # dates beyond doubt never pay.
    second_chance: bool = True
    # A photo whose whole-photo read finds most of its text running down the photo (sent without
    # its EXIF orientation, or held sideways) is turned upright and read again from the start
    # (pipeline/photo_orientation.py; bench/RESULTS.md, "nineteenth session"). Upright photos pay nothing:
    # the judgement is made on the boxes already read.
    turn_sideways_photos: bool = True
    # A photo whose whole-photo read read most of its level text turned by 180 degrees (upside
    # down: a product on a conveyor, a camera mounted upside down) is turned and read again from
    # the start (pipeline/photo_orientation.py; bench/RESULTS.md, "twentieth session").
    turn_upside_down_photos: bool = True
    # At most this many variants tried per image, windows', photo's and text windows' together (a variant of
    # several windows counts once; one with nothing to undo, such as dots on a photo without a dot
    # grid, counts but is not read). A read costs a text-detector pass and recognition of what it
    # finds. The default tries every variant of the default lists.
    second_chance_max_variants: int = 16
    # The variants read, in order: comma-separated, each steps joined with "+" (pipeline/variants.py
    # names them: coder, dots, contrast, invert, upscale, turn90, turn180, turn270, deskew, flat,
    # neutral). The defaults are the measured ones (pipeline/second_chance.py, bench/RESULTS.md
    # "Second-chance reads"). coder comes first in both: it reads the pixels as they are, with the detector
    # fine-tuned for coder print, and its date stands on one read (realworld2 001 and 016, hard set
    # v3 960009; bench/RESULTS.md, "ninth session"). Without a coder detector it is not read.
    second_chance_window_variants: str = "coder,dots,contrast,upscale"
    # The photo's upscale reads small print in photos of up to about 2.5 MP (the variants' 4 MP cap
    # over its least useful 1.25x; a cap's 10.04.24 whose first read lost a digit); a larger photo
    # has no room for it and it is not read (pipeline/variants.py). The deskew is made only for a
    # photo whose text leans 4 degrees or more (up to 90 either way): a dotted line at 20 degrees
    # that the first read cut in two ("06-11" and "19-07-") reads whole levelled, and dots levelled
    # read a code turned 60 degrees, or 90 (as dots+turn90 did before; bench/RESULTS.md,
    # "seventh session", "eighth session"). Then the print lifted off its ground and levelled: dots
    # on streaked film turned 80 degrees, which every other variant read as "PKD:" alone (hard set
    # v3 960092; "twenty-second session"). Last, the colour of coloured text and marks taken away,
    # neutral print kept: a code printed across a line of the label's coloured text, which the text
    # detector takes in with it (hard set v2 940199; "twenty-sixth session"). These two are read
    # together, and cost a read each only where no date stood after all the others.
    second_chance_photo_variants: str = (
        "coder,dots,contrast,upscale,deskew,dots+deskew,turn90,turn270,flat+deskew,neutral"
    )
    # Then, on a photo the text detector reads shrunk (most over 2,000 px a side), windows around the
    # lines of its read that hold digits, read up close at their own scale
    # (pipeline.regions.text_windows): a small code on a big photo, its lines slanted and close,
    # reads whole levelled there (realworld2 013: "JAN1323" under "BEST If Used By" on a cap).
    second_chance_text_variants: str = "deskew,contrast"

    # The whole-photo fallback of a photo whose longer side is under small_photo_side_px is read
    # upscaled to it (at most twice) when its windows' lines with digits are on median under
    # small_text_px high (pipeline/small_text.py; bench/RESULTS.md, "sixteenth session"). 0 turns
    # it off.
    small_photo_side_px: int = 1600
    small_text_px: int = 40

    def __post_init__(self) -> None:
        _require(
            0 <= self.detection_confidence <= 1, "detection_confidence", self.detection_confidence, "in 0..1"
        )
        _require(0 <= self.detection_iou <= 1, "detection_iou", self.detection_iou, "in 0..1")
        _require(self.max_detections >= 1, "max_detections", self.max_detections, ">= 1")
        _require(self.max_concurrency >= 0, "max_concurrency", self.max_concurrency, ">= 0")
        _require(self.date_grace_days >= 0, "date_grace_days", self.date_grace_days, ">= 0")
        _require(self.date_years_back >= 0, "date_years_back", self.date_years_back, ">= 0")
        _require(self.date_years_ahead >= 0, "date_years_ahead", self.date_years_ahead, ">= 0")
        _require(
            0 <= self.detection_crop_padding <= 2,
            "detection_crop_padding",
            self.detection_crop_padding,
            "in 0..2",
        )
        _require(
            0 <= self.detection_crop_context <= 10,
            "detection_crop_context",
            self.detection_crop_context,
            "in 0..10",
        )
        _require(self.max_pending_images >= 0, "max_pending_images", self.max_pending_images, ">= 0")
        _require(
            0 <= self.small_photo_side_px <= 4096,
            "small_photo_side_px",
            self.small_photo_side_px,
            "in 0..4096",
        )
        _require(0 <= self.small_text_px <= 1000, "small_text_px", self.small_text_px, "in 0..1000")
        _require(
            0 <= self.second_chance_max_variants <= 64,
            "second_chance_max_variants",
            self.second_chance_max_variants,
            "in 0..64",
        )
        # Imported here: pipeline.variants imports the OCR module, which imports this one.
        from pipeline.variants import parse_plan

        for name in (
            "second_chance_window_variants",
            "second_chance_photo_variants",
            "second_chance_text_variants",
        ):
            try:
                parse_plan(getattr(self, name))
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
