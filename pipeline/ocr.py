"""Reads text lines in an image with the PP-OCR models: detection, angle classification, recognition.

Each model stage is split into ``preprocess -> run one batch array -> postprocess`` so that a dynamic
batcher can later gather the batch arrays of several requests. The pre/post-processing helpers of
the rapidocr-onnxruntime wheel are reused where they fit; its sessions are not: every model runs
through :class:`pipeline.runtime.OnnxModel`.

Every resize here has a cap on its output, whatever the image's size or shape (the caps below, each
with where its number comes from). Memory of one read, at the caps: the detector input, at most
``DET_MAX_INPUT_PIXELS`` x 12 bytes as floats (48 MB) plus its 8-bit copy and probability map
(28 MB); then ``TEXT_BOXES_AT_ONCE`` text boxes at a time (of at most ``DET_MAX_BOXES``), each a
crop of at most ``CROP_MAX_PIXELS`` x 3 bytes (3 MB), a classifier input (110 KB) and a
recognizer input of at most 48 x ``REC_MAX_WIDTH_PX`` x 12 bytes (1.1 MB): 135 MB. A crop the
angle classifier would turn, or whose read looks like an upside-down number, is also read turned:
one more crop and recognizer input each, made one recognizer batch (or one crop) at a time (a few
MB). The recogniser's output comes on top, one batch at a time: at most 18 MB a crop with
PP-OCRv5/v6's 18,000-odd classes (see ``REC_MAX_WIDTH_PX``). Model activations come on top too,
and are largest for the detector at its 4 MP cap.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import cv2
import numpy as np
import rapidocr_onnxruntime
from rapidocr_onnxruntime.ch_ppocr_cls.utils import ClsPostProcess
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess, DetPreProcess

from pipeline.config import CODER_DET_DEFAULT, OcrConfig, RuntimeConfig
from pipeline.ctc import DIGIT_CONTEXT_RATIO, CtcDecoder, Read
from pipeline.curved_lines import CurveAwareDBPostProcess, crop_polygon, is_polygon, polygon_size
from pipeline.cut_lines import to_grow, with_grown
from pipeline.repository import (
    DEFAULT_REPOSITORY,
    BatchingConfig,
    ModelConfig,
    TextDetectionSettings,
    load_model_config,
)
from pipeline.runtime import OnnxModel
from pipeline.stacked_lines import split_stacked
from pipeline.types import BoundingBox, OcrLine
from pipeline.weights_patch import load_patch

__all__ = [
    "CROP_MAX_PIXELS",
    "CROP_MAX_SIDE_PX",
    "DET_MAX_BOXES",
    "DET_MAX_INPUT_PIXELS",
    "DET_MAX_INPUT_SIDE_PX",
    "REC_MAX_WIDTH_PX",
    "TEXT_BOXES_AT_ONCE",
    "AngleClassifier",
    "OcrEngine",
    "TextDetector",
    "TextRecognizer",
    "better_orientation",
    "chunks",
    "default_model_paths",
    "det_input_size",
    "line_angle",
    "lines_from_reads",
    "orientation_score",
    "pick_orientations",
    "quad_reading_order",
    "reading_order",
    "turned_crops",
    "unproposed_turns",
    "with_turned_reads",
]

_WHEEL_MODELS = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"
# PP-OCR's classifier and recogniser normalise every input to [-1, 1]; the text detector's
# normalisation is its model's (TextDetectionSettings).
_MEAN = (0.5, 0.5, 0.5)
_STD = (0.5, 0.5, 0.5)
# Larger inputs are shrunk first, as rapidocr does: detection cost grows with the pixel count.
_DET_MAX_SIDE_PX = 2000
# Caps on the text detector's input, whatever the image or window. 4 MP is what the rule above
# already gives a square photo (2000 x 2000), so photos of usual shapes never reach it; the side
# cap bounds strips, whose short side the 736 px rule would blow up along with their long side
# (a 16 x 40000 strip: 736 x 1.8 M px, 16 GB as floats).
DET_MAX_INPUT_PIXELS = 2000 * 2000
DET_MAX_INPUT_SIDE_PX = 4096
# A strip (its short side under half its long side) that the whole-image rule would blow up more
# than this many times is a tight crop of a printed line, its text as tall as the strip: blown up
# to a 736 px short side, the text stood 400 to 650 px tall, and PP-OCRv4's detector found none of
# it (realworld6: eight crops of Japanese date codes, 110 to 213 px tall, read nothing). Such a
# strip is read padded instead, each side grown to at least the rule's 736 px with its border's
# colour, so its text keeps its printed size with ground around it, as in a photo of the label.
_STRIP_MAX_UPSCALE = 2.0
_STRIP_MAX_ASPECT = 0.5
# DB's stride: input sides are multiples of it, and at least one.
_DET_STRIDE_PX = 32
# Text regions kept per read: DB's candidate cap (rapidocr's default).
DET_MAX_BOXES = 1000
# Text boxes cropped, classified and recognised at once in one read; more are read in turns, so a
# read's crops and model inputs stay within the bound in the module docstring. A label photo has a
# few dozen lines at most: one turn.
TEXT_BOXES_AT_ONCE = 32
# Crops are resized to height 48 for the classifier and recogniser, so resolution beyond these caps
# only costs memory: a larger crop is cut at a reduced scale, in the same warp. No text line of a
# 40 MP photo reaches 1 MP unless it is a headline across the whole photo.
CROP_MAX_PIXELS = 1_000_000
CROP_MAX_SIDE_PX = DET_MAX_INPUT_SIDE_PX
_CLS_SHAPE = (3, 48, 192)
_CLS_LABELS = ["0", "180"]
# The classifier proposes turning a crop upside down only when it is this sure (PP-OCR default).
# A proposal is a second read, not a decision: see :func:`better_orientation`.
_CLS_FLIP_SCORE = 0.9
# A crop read as cut with at least this mean confidence is never turned: the classifier is wrong
# on it (dot-matrix and stencilled lines fool it; the recogniser reads them upright, confidently).
_KEEP_AS_CUT_CONFIDENCE = 0.9
# A crop the classifier leaves as cut is read turned too when its read is unsure (below
# _KEEP_AS_CUT_CONFIDENCE), holds no date, and holds at least this many digits: an upside-down
# date line still reads as digits ("5202/21/61", "92E090"), and the classifier, trained on solid
# print, leaves upside-down dot-matrix lines as cut (bench/dot_lines.py: half of its misses). The
# digits keep the second read off the unsure reads of words, logos and other scripts.
_UNPROPOSED_TURN_DIGITS = 4
# What a date-like text (see _date_like) adds to a read's score when orientations are compared:
# upside down, "19/12/2025" reads "5202/21/61", no date; upright, a date. Small against a real gap
# in confidence, decisive against a near tie.
_DATE_LIKE_BONUS = 0.1
# Date-like text: day, month and year as printed on packs, separated (19/12/2025, 2026.08.05,
# 05-08-26) or run together (190625, 20260805), or a day and a month name (16 NOV). See _date_like.
_SEPARATED_DATE = re.compile(r"(?<!\d)(\d{1,4})[ ./\-]{1,2}(\d{1,2})[ ./\-]{1,2}(\d{2,4})(?!\d)")
_COMPACT_DATE = re.compile(r"(?<!\d)(\d{6}|\d{8})(?!\d)")
_DAY_MONTH_NAME = re.compile(
    r"(?<!\d)(0?[1-9]|[12]\d|3[01]) ?(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
)
_REC_SHAPE = (3, 48, 320)
# The recogniser's input width cap (40:1 at height 48, about 70 characters): a longer line is
# squeezed to it instead of widening every input of its batch, and the model's output with it:
# width / 8 steps x classes floats a crop, classes being 6,625 for PP-OCRv4 and 18,385 for
# PP-OCRv5 (18,710 for PP-OCRv6 small): at the cap 240 x 18,710 x 4 bytes = 18 MB a crop, so a
# CPU batch (4 crops, twice that with turned ones) outputs at most 144 MB and a CUDA batch of 32
# (64 with turned crops) 1.15 GB; PP-OCRv4's were 6.4 MB a crop, 51 MB and 407 MB.
REC_MAX_WIDTH_PX = 1920
# A recogniser's dictionary file is read whole; PP-OCR's largest (PP-OCRv6, 18,708 characters)
# is 75 KB.
REC_DICT_MAX_BYTES = 1 << 20
# Boxes whose tops differ by less than this many pixels count as one row when sorting.
_SAME_ROW_PX = 10
# Lines turned by this many degrees or more are sorted along their own rows (quad_reading_order);
# past the most, lines of vertical text and lines turned a quarter are sorted as the image's rows.
# A line is a box at least _LINE_ASPECT times longer than high.
_TURNED_TEXT_DEG = 10.0
_MAX_TURNED_DEG = 60.0
_LINE_ASPECT = 2.0

_Item = TypeVar("_Item")


def default_model_paths() -> dict[str, Path]:
    """Returns the OCR model files shipped in the rapidocr-onnxruntime wheel, by model name."""
    return {
        "ocr_det": _WHEEL_MODELS / "ch_PP-OCRv4_det_infer.onnx",
        "ocr_cls": _WHEEL_MODELS / "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "ocr_rec": _WHEEL_MODELS / "ch_PP-OCRv4_rec_infer.onnx",
    }


class Padding(NamedTuple):
    """Rows and columns grown round a tight strip (see ``_STRIP_MAX_UPSCALE``), in its pixels."""

    top: int
    bottom: int
    left: int
    right: int


@dataclass(frozen=True, slots=True)
class DetInput:
    """One image prepared for text detection, with what is needed to map boxes back."""

    batch: np.ndarray  # (1, 3, H, W) float32
    shape: tuple[int, int]  # (height, width) of the image the boxes are reported in
    scale: float  # original pixels per reported pixel
    # A tight strip's (see _STRIP_MAX_UPSCALE): the rows and columns it was grown by, in its own
    # pixels, to the canvas the boxes are reported in; None for an image read as it is.
    padding: Padding | None = None


class TextDetector:
    """Finds text regions (as 4-point quadrilaterals) with the DB text detection model."""

    def __init__(
        self, model: OnnxModel, config: OcrConfig, settings: TextDetectionSettings | None = None
    ) -> None:
        """``settings``: the model's normalisation and DB settings (its ``text_detection`` in
        config.yaml); ``config.det_box_thresh`` and ``det_unclip_ratio`` win where set."""
        settings = settings or TextDetectionSettings()
        self.model = model
        self.settings = settings
        self._limit_side_len = config.det_limit_side_len
        self._pre = DetPreProcess(config.det_limit_side_len, "min", list(settings.mean), list(settings.std))
        # (pixel * scale - shift) is (pixel / 255 - mean) / std, per BGR channel.
        self._scale = (1.0 / (255.0 * np.asarray(settings.std, dtype=np.float32))).astype(np.float32)
        self._shift = (np.asarray(settings.mean, dtype=np.float32) / np.asarray(settings.std)).astype(
            np.float32
        )
        post = CurveAwareDBPostProcess if config.curved_lines else DBPostProcess
        self._post = post(
            thresh=settings.thresh,
            box_thresh=settings.box_thresh if config.det_box_thresh is None else config.det_box_thresh,
            max_candidates=DET_MAX_BOXES,
            unclip_ratio=settings.unclip_ratio
            if config.det_unclip_ratio is None
            else config.det_unclip_ratio,
            score_mode="fast",
            use_dilation=settings.use_dilation,
        )

    def reading_scale(self, shape: tuple[int, ...]) -> float:
        """The resize factor :meth:`preprocess` applies to a whole image of this shape.

        Very large images are shrunk to ``_DET_MAX_SIDE_PX``, then the short side is brought up to
        ``det_limit_side_len``, within ``DET_MAX_INPUT_SIDE_PX`` and ``DET_MAX_INPUT_PIXELS``.
        """
        height, width = _padded_size(shape[:2], self._limit_side_len)
        shrink = min(1.0, _DET_MAX_SIDE_PX / max(height, width))
        scale = shrink * max(1.0, self._limit_side_len / (min(height, width) * shrink))
        return scale * _det_scale_cap(height * scale, width * scale)

    def _rule_fits(self, height: int, width: int) -> bool:
        """Whether rapidocr's whole-image resize of this (already shrunk) size stays within the caps."""
        side = max(1, min(height, width))
        ratio = self._limit_side_len / side if side < self._limit_side_len else 1.0
        out_h = round(int(height * ratio) / _DET_STRIDE_PX) * _DET_STRIDE_PX
        out_w = round(int(width * ratio) / _DET_STRIDE_PX) * _DET_STRIDE_PX
        return 0 < out_h * out_w <= DET_MAX_INPUT_PIXELS and max(out_h, out_w) <= DET_MAX_INPUT_SIDE_PX

    def preprocess(self, image: np.ndarray, scale: float | None = None) -> DetInput:
        """Resizes and normalises one BGR image into a batch of one.

        Args:
            image: the image, or a crop of one.
            scale: resize by this factor (sides rounded to multiples of 32) instead of by the
                whole-image rule. A detector's crop is read at the scale of the photo it came from
                (``reading_scale(photo.shape)``): text then looks as it does to a whole-image read,
                where the rule would blow a 500x150 crop up to 2464x736.
        """
        if scale is None and (padding := _strip_padding(image.shape[:2], self._limit_side_len)):
            prepared = self.preprocess(_padded(image, padding))
            return dataclasses.replace(prepared, padding=padding)
        height, width = image.shape[:2]
        if scale is None:
            factor = max(1.0, max(height, width) / _DET_MAX_SIDE_PX)
            if self._rule_fits(round(height / factor), round(width / factor)):
                # rapidocr's own resize, so photos of usual shapes are read exactly as before.
                if factor > 1.0:
                    image = cv2.resize(image, (round(width / factor), round(height / factor)))
                return DetInput(
                    _normalize(self._pre.resize(image), self._scale, self._shift), image.shape[:2], factor
                )
            scale = self.reading_scale(image.shape)
        resized = cv2.resize(image, det_input_size(height, width, scale))
        return DetInput(_normalize(resized, self._scale, self._shift), (height, width), 1.0)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Runs the model on ``(N, 3, H, W)`` images of one size; returns ``(N, 1, H, W)`` maps."""
        return self.model.run_single_input(batch)

    def postprocess(self, prob_map: np.ndarray, prepared: DetInput) -> list[np.ndarray]:
        """Turns one ``(1, 1, H, W)`` probability map into boxes in reading order.

        Returns:
            ``(4, 2)`` float32 quadrilaterals (top-left, top-right, bottom-right, bottom-left)
            in original image pixels; a curved line's ``(2k, 2)`` polygon instead (top edge left
            to right, bottom edge right to left, see :mod:`pipeline.curved_lines`).
        """
        boxes, _ = self._post(prob_map, prepared.shape)
        height, width = prepared.shape
        # the canvas in original pixels, where a padded strip's boxes are found
        canvas = (round(height * prepared.scale), round(width * prepared.scale))
        kept = []
        for box in boxes:
            quad = box.astype(np.float32) if is_polygon(box) else _order_clockwise(box.astype(np.float32))
            quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
            if min(_quad_size(quad)) > 3:
                kept.append(_unpadded(quad * prepared.scale, prepared.padding, canvas))
        return quad_reading_order(kept)

    def detect(self, image: np.ndarray, scale: float | None = None) -> list[np.ndarray]:
        """Finds the text boxes of one image (see :meth:`preprocess` and :meth:`postprocess`)."""
        prepared = self.preprocess(image, scale)
        return self.postprocess(self.run(prepared.batch), prepared)


class AngleClassifier:
    """Proposes which text crops to turn upside down (the recogniser's reads decide, see
    :func:`better_orientation`)."""

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self._post = ClsPostProcess(_CLS_LABELS)

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        """Resizes and pads crops into one ``(N, 3, 48, 192)`` batch."""
        return np.stack([_resize_pad(crop, _CLS_SHAPE, _CLS_SHAPE[2] / _CLS_SHAPE[1]) for crop in crops])

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Runs the model; returns ``(N, 2)`` probabilities of 0 and 180 degrees."""
        return self.model.run_single_input(batch)

    def postprocess(self, probs: np.ndarray) -> list[bool]:
        """Per crop, whether the classifier is confident (PP-OCR's threshold) it is upside down."""
        return [label == "180" and score > _CLS_FLIP_SCORE for label, score in self._post(probs)]

    def classify(self, crops: list[np.ndarray]) -> list[bool]:
        """Which crops look upside down (see :meth:`postprocess`)."""
        if not crops:
            return []
        return self.postprocess(self.run(self.preprocess(crops)))


def turned_crops(crops: Sequence[np.ndarray], flips: Sequence[bool]) -> Iterator[np.ndarray]:
    """Each crop the classifier would turn, turned by 180 degrees, one at a time (a crop's memory
    is freed with its model input): the second orientation read, one extra crop per proposal."""
    for crop, flip in zip(crops, flips, strict=True):
        if flip:
            yield cv2.rotate(crop, cv2.ROTATE_180)


def pick_orientations(reads: list[Read], flips: list[bool]) -> list[Read]:
    """Each crop's read, from the recogniser's reads of the crops followed by their
    :func:`turned_crops`: a proposed flip is kept only when :func:`better_orientation` says so."""
    count = len(flips)
    if len(reads) != count + sum(flips):
        raise ValueError(f"{len(reads)} reads for {count} crops with {sum(flips)} turned")
    turned = iter(reads[count:])
    return [
        better_orientation(read, next(turned)) if flip else read
        for read, flip in zip(reads[:count], flips, strict=True)
    ]


def unproposed_turns(reads: Sequence[Read], flips: Sequence[bool]) -> list[bool]:
    """Which crops to read turned by 180 degrees although the classifier did not propose it
    (``flips``): those whose read (:func:`pick_orientations`) is unsure, dateless and digit-bearing
    (see ``_UNPROPOSED_TURN_DIGITS``). Their turned reads go to :func:`with_turned_reads`."""
    return [
        not flip
        and read[1] < _KEEP_AS_CUT_CONFIDENCE
        and sum(character.isdigit() for character in read[0]) >= _UNPROPOSED_TURN_DIGITS
        and not _date_like(read[0])
        for read, flip in zip(reads, flips, strict=True)
    ]


def with_turned_reads(reads: Sequence[Read], turns: Sequence[bool], turned: Sequence[Read]) -> list[Read]:
    """``reads`` with each crop flagged in ``turns`` given its read turned (``turned``: one per
    flag, in order) when that is more confident as well as :func:`better_orientation`: with no
    classifier's proposal behind it, the date-like bonus alone must not turn a number that reads
    unsure either way into a date."""
    if len(turned) != sum(turns):
        raise ValueError(f"{len(turned)} turned reads for {sum(turns)} turns")
    later = iter(turned)
    kept = []
    for read, turn in zip(reads, turns, strict=True):
        other = next(later) if turn else read
        better = better_orientation(read, other) if turn else read
        kept.append(better if better is not read and other[1] > read[1] else read)
    return kept


def better_orientation(as_cut: Read, turned: Read) -> Read:
    """Of a crop's two reads, as cut and turned by 180 degrees, the one to keep.

    The classifier proposed the turn; the turned read is kept only when it reads better: a higher
    :func:`orientation_score`, and an as-cut read below ``_KEEP_AS_CUT_CONFIDENCE`` (the classifier
    misjudges dot-matrix lines, which the recogniser then reads confidently as cut).
    """
    if as_cut[1] >= _KEEP_AS_CUT_CONFIDENCE:
        return as_cut
    return (
        Read(*turned)._replace(turned=True)
        if orientation_score(turned) > orientation_score(as_cut)
        else as_cut
    )


def orientation_score(read: Read) -> float:
    """A read's mean character confidence, plus ``_DATE_LIKE_BONUS`` when its text holds a date."""
    text, confidence = read[0], read[1]
    if not text.strip():
        return 0.0
    return confidence + (_DATE_LIKE_BONUS if _date_like(text) else 0.0)


def _date_like(text: str) -> bool:
    """Whether the text holds a plausible date: a valid day, month and year in some order (year
    two digits, or four from 1990 to 2099), or a day and a month name. Upside down, most dates are
    not: "19/12/2025" reads "5202/21/61", "060326" reads "920090"."""
    upper = text.upper()
    if _DAY_MONTH_NAME.search(upper):
        return True
    groups = [match.groups() for match in _SEPARATED_DATE.finditer(upper)]
    for match in _COMPACT_DATE.finditer(upper):
        digits = match.group(1)
        if len(digits) == 6:
            groups.append((digits[:2], digits[2:4], digits[4:]))
        else:
            groups += [(digits[:2], digits[2:4], digits[4:]), (digits[:4], digits[4:6], digits[6:])]
    return any(_valid_date_parts(parts) for parts in groups)


def _valid_date_parts(parts: tuple[str, str, str]) -> bool:
    first, middle, last = parts

    def day(part: str) -> bool:
        return len(part) <= 2 and 1 <= int(part) <= 31

    def month(part: str) -> bool:
        return len(part) <= 2 and 1 <= int(part) <= 12

    def year(part: str) -> bool:
        return len(part) == 2 or (len(part) == 4 and 1990 <= int(part) <= 2099)

    return (
        (day(first) and month(middle) and year(last))  # D M Y
        or (month(first) and day(middle) and year(last))  # M D Y
        or (year(first) and month(middle) and day(last))  # Y M D
    )


class TextRecognizer:
    """Reads the text of each crop with the CTC recognition model.

    Args:
        model: the recognition model; its output is ``(N, T, classes)``.
        character_dict: its characters, one a line (UTF-8, at most ``REC_DICT_MAX_BYTES``); ``None``
            for the ``character`` metadata of the ONNX file (rapidocr's models carry it).
        dict_source: where ``character_dict`` was configured, named in errors.
        digit_context_ratio: see ``pipeline.ctc.CtcDecoder`` (0: a plain greedy read).

    Raises:
        ValueError: no dictionary at all, an unreadable one, or one whose size does not match the
            model's classes (characters + CTC's blank + space): decoding with it would give garbage.
    """

    def __init__(
        self,
        model: OnnxModel,
        character_dict: Path | None = None,
        *,
        dict_source: str = "character_dict",
        digit_context_ratio: float = DIGIT_CONTEXT_RATIO,
    ) -> None:
        self.model = model
        if character_dict is not None:
            characters = _read_dictionary(character_dict, dict_source)
            origin = f"{dict_source} {character_dict}"
        else:
            metadata = model.metadata().get("character")
            if metadata is None:
                raise ValueError(
                    f"recognition model {model.path} has no 'character' metadata: give its dictionary "
                    "(character_dict in models/ocr_rec/config.yaml, or --rec-dict-path)"
                )
            characters = metadata.splitlines()
            origin = f"the 'character' metadata of {model.path}"
        classes = model.info().outputs[0].shape[-1]
        if classes > 0 and classes != len(characters) + 2:
            raise ValueError(
                f"{origin}: {len(characters)} characters (+ blank + space = {len(characters) + 2}) "
                f"for a recognition model with {classes} output classes ({model.path})"
            )
        # CTC's classes: its blank first, then the dictionary, then a space (PP-OCR's layout).
        self._decode = CtcDecoder(["blank", *characters, " "], digit_context_ratio)

    def preprocess(self, crops: list[np.ndarray]) -> np.ndarray:
        """Resizes crops to height 48 and pads them to the widest one: one ``(N, 3, 48, W)`` batch."""
        base_ratio = _REC_SHAPE[2] / _REC_SHAPE[1]
        max_ratio = max([base_ratio, *(crop.shape[1] / crop.shape[0] for crop in crops)])
        max_ratio = min(max_ratio, REC_MAX_WIDTH_PX / _REC_SHAPE[1])
        return np.stack([_resize_pad(crop, _REC_SHAPE, max_ratio) for crop in crops])

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Runs the model; returns ``(N, T, classes)`` per-step character probabilities."""
        return self.model.run_single_input(batch)

    def postprocess(self, probs: np.ndarray) -> list[Read]:
        """Decodes CTC outputs into reads: text, mean character confidence, digit alternatives."""
        return self._decode(probs)

    def recognize(self, crops: list[np.ndarray], flips: Sequence[bool] = ()) -> list[Read]:
        """Reads the text of each crop, and of each crop with a ``flips`` flag turned by 180 degrees.

        Returns:
            The crops' reads, then those of the turned crops (in the crops' order). A turned crop
            is read in its crop's batch: padded alike, and the other crops' batches (so reads) are
            those of a read without flips. Such a batch holds up to twice ``max_batch_size`` crops.
        """
        if not crops:
            return []
        flips = list(flips) or [False] * len(crops)
        if len(flips) != len(crops):
            raise ValueError(f"{len(flips)} flip flags for {len(crops)} crops")
        # A turned crop's read goes after all the crops' reads, in the crops' order.
        turned_at = {
            index: len(crops) + k for k, index in enumerate(i for i, flip in enumerate(flips) if flip)
        }
        # Similar widths batch together with little padding, as PP-OCR does.
        order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
        results: list[Read] = [Read("", 0.0)] * (len(crops) + len(turned_at))
        batch_size = max(1, self.model.max_batch_size)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            sub = [crops[i] for i in chunk]
            batch = sub + list(turned_crops(sub, [flips[i] for i in chunk]))
            decoded = self.postprocess(self.run(self.preprocess(batch)))
            slots = [*chunk, *(turned_at[i] for i in chunk if flips[i])]
            for index, result in zip(slots, decoded, strict=True):
                results[index] = result
        return results


class OcrEngine:
    """Text detection, angle classification and recognition, chained.

    Args:
        detector: finds text boxes.
        classifier: proposes which crops to turn upside down (each proposal is read both ways and
            the better read kept, see :func:`better_orientation`); ``None`` skips that stage.
        recognizer: reads each crop.
        min_text_score: lines read with a lower confidence are dropped.
        split_stacked_lines: split a box of two or three printed lines into one box a line
            (:func:`pipeline.stacked_lines.split_stacked`).
        coder_detector: a second text detector, for reads that ask for it (``read(...,
            coder=True)``: the second chance's ``coder`` variant); ``None``: none loaded.
        grow_cut_lines: read a box whose read looks cut again, grown along its line
            (:mod:`pipeline.cut_lines`).
    """

    def __init__(
        self,
        detector: TextDetector,
        classifier: AngleClassifier | None,
        recognizer: TextRecognizer,
        min_text_score: float,
        split_stacked_lines: bool = True,
        coder_detector: TextDetector | None = None,
        grow_cut_lines: bool = True,
    ) -> None:
        self.detector = detector
        self.coder_detector = coder_detector
        self.classifier = classifier
        self.recognizer = recognizer
        self.min_text_score = min_text_score
        self.split_stacked_lines = split_stacked_lines
        self.grow_cut_lines = grow_cut_lines
        # Per model name: how its batcher is configured for the provider it runs on.
        self.batching: dict[str, BatchingConfig] = {}

    @classmethod
    def load(
        cls,
        config: OcrConfig,
        runtime: RuntimeConfig,
        *,
        concurrency: int = 1,
        repository: Path = DEFAULT_REPOSITORY,
    ) -> OcrEngine:
        """Builds the three sessions.

        Each stage (``ocr_det``, ``ocr_cls``, ``ocr_rec``) is filled by the repository entry that
        ``config`` names (``det_model_name``, ...; by default the stage's own folder). Its file is,
        first found: the path in ``config`` (a flag), the entry's ``path``, the rapidocr wheel's
        PP-OCRv4 file. The entry also gives the detector's ``text_detection`` settings, the
        recogniser's ``character_dict`` (``config.rec_dict_path`` wins) and each model's batching
        block for the provider its session ended up on.

        Raises:
            ValueError: a named entry has no config.yaml or is of another kind, a model file is
                missing, or a dictionary does not fit its recogniser; the message names the key.
        """
        defaults = default_model_paths()
        overrides = {
            "ocr_det": config.det_model_path,
            "ocr_cls": config.cls_model_path,
            "ocr_rec": config.rec_model_path,
        }
        models: dict[str, OnnxModel] = {}
        entries: dict[str, ModelConfig] = {}
        batching: dict[str, BatchingConfig] = {}
        for name in defaults:
            if name == "ocr_cls" and not config.use_angle_cls:
                continue
            entry = _stage_entry(name, config, repository)
            path = overrides[name] or entry.path or defaults[name]
            if not path.is_file():
                key = f"{name[4:]}_model_path" if overrides[name] else f"{entry.name}/config.yaml path"
                raise ValueError(f"{key}: no model file {str(path)!r}")
            # A patch was trained on the entry's own file; a file from a flag loads as it is.
            patched = not overrides[name]
            models[name] = _session(name, entry, path, patched, runtime, concurrency, repository, batching)
            entries[name] = entry
        detector = TextDetector(models["ocr_det"], config, entries["ocr_det"].text_detection)
        coder = _coder_detector(config, runtime, concurrency, repository, batching)
        classifier = AngleClassifier(models["ocr_cls"]) if "ocr_cls" in models else None
        rec_entry = entries["ocr_rec"]
        if config.rec_dict_path is not None:
            dictionary, source = config.rec_dict_path, "rec_dict_path"
        else:
            dictionary = rec_entry.character_dict
            source = f"{repository / rec_entry.name / 'config.yaml'} character_dict"
        recognizer = TextRecognizer(
            models["ocr_rec"],
            dictionary,
            dict_source=source,
            digit_context_ratio=config.digit_context_ratio,
        )
        engine = cls(
            detector,
            classifier,
            recognizer,
            config.min_text_score,
            config.split_stacked_lines,
            coder,
            config.grow_cut_lines,
        )
        engine.batching = batching
        return engine

    def models(self) -> list[OnnxModel]:
        """Returns the loaded models: detection, classification (if used), recognition."""
        stages = [self.detector.model, self.recognizer.model]
        if self.classifier is not None:
            stages.insert(1, self.classifier.model)
        if self.coder_detector is not None:
            stages.append(self.coder_detector.model)
        return stages

    def text_detector(self, coder: bool) -> TextDetector:
        """The detector a read uses: ``coder_detector`` when ``coder``, else ``detector``.

        Raises:
            ValueError: ``coder`` and no coder detector is loaded.
        """
        if not coder:
            return self.detector
        if self.coder_detector is None:
            raise ValueError("no coder text detector is loaded (coder_det_model_name)")
        return self.coder_detector

    def text_boxes(self, image: np.ndarray, quads: list[np.ndarray]) -> list[np.ndarray]:
        """The text detector's boxes, those of stacked lines split one a line (if configured)."""
        return split_stacked(image, quads) if self.split_stacked_lines else quads

    def read(
        self, image: np.ndarray, detection_index: int = -1, scale: float | None = None, coder: bool = False
    ) -> list[OcrLine]:
        """Reads the text lines of one BGR image.

        Args:
            image: the image (or a detector's crop of it).
            detection_index: stored on every line, pointing at the detection the image came from.
            scale: text detection's resize factor; ``None`` for the whole-image rule (see
                :meth:`TextDetector.preprocess`).
            coder: find the text with ``coder_detector`` instead of ``detector``.

        Returns:
            Lines in reading order (top to bottom, then left to right), boxes in ``image`` pixels,
            without empty lines or lines below ``min_text_score``.

        Raises:
            ValueError: ``coder`` asked of an engine without a coder detector.
        """
        quads = self.text_detector(coder).detect(image, scale)
        reads = self._read_boxes(image, quads)
        if self.split_stacked_lines:
            quads, reads = self._split_reads(image, quads, reads)
        grown = self.cut_lines(image, quads, reads)
        if grown:
            grown_reads = self._read_boxes(image, [regrowth.quad for regrowth in grown])
            quads, reads = with_grown(quads, reads, grown, grown_reads)
        return lines_from_reads(quads, reads, self.min_text_score, detection_index)

    def cut_lines(
        self, image: np.ndarray, quads: list[np.ndarray], reads: list[Read]
    ) -> list[tuple[int, np.ndarray]]:
        """The boxes of one read to read again grown (:func:`pipeline.cut_lines.to_grow`); none
        when ``grow_cut_lines`` is off."""
        if not self.grow_cut_lines:
            return []
        return to_grow(quads, [read.text for read in reads], image.shape, [read.turned for read in reads])

    def _read_boxes(self, image: np.ndarray, quads: list[np.ndarray]) -> list[Read]:
        reads: list[Read] = []
        for chunk in chunks(quads):
            crops = [_crop_quad(image, quad) for quad in chunk]
            if self.classifier is None:
                reads.extend(self.recognizer.recognize(crops))
                continue
            # A crop the classifier would turn is read both ways, in the same recogniser batch; one
            # it left as cut but reads like an upside-down number, in a second one.
            flips = self.classifier.classify(crops)
            chunk_reads = pick_orientations(self.recognizer.recognize(crops, flips), flips)
            turns = unproposed_turns(chunk_reads, flips)
            if any(turns):
                chunk_reads = with_turned_reads(chunk_reads, turns, self._read_turned(crops, turns))
            reads.extend(chunk_reads)
        return reads

    def _read_turned(self, crops: list[np.ndarray], turns: list[bool]) -> list[Read]:
        """The reads of the crops flagged in ``turns``, turned by 180 degrees, one at a time: each
        padded to its own width only, not to a wider crop's (the batched path pads each to its
        width bucket), and one turned copy in memory at a time. Few crops are flagged (see
        ``_UNPROPOSED_TURN_DIGITS``)."""
        return [self.recognizer.recognize([turned])[0] for turned in turned_crops(crops, turns)]

    def _split_reads(
        self, image: np.ndarray, quads: list[np.ndarray], reads: list[Read]
    ) -> tuple[list[np.ndarray], list[Read]]:
        """The boxes and reads with each box of stacked lines replaced by its lines and their reads.

        The lines are read in batches of their own: here a batch is padded to its widest crop, so
        reading them among the other boxes would change those boxes' reads.
        """
        split = {
            index: parts for index, quad in enumerate(quads) if len(parts := split_stacked(image, [quad])) > 1
        }
        if not split:
            return quads, reads
        part_reads = iter(self._read_boxes(image, [part for parts in split.values() for part in parts]))
        boxes: list[np.ndarray] = []
        texts: list[Read] = []
        for index, (quad, read) in enumerate(zip(quads, reads, strict=True)):
            parts = split.get(index, [quad])
            boxes.extend(parts)
            texts.extend([next(part_reads) for _ in parts] if index in split else [read])
        return boxes, texts


def _coder_detector(
    config: OcrConfig,
    runtime: RuntimeConfig,
    concurrency: int,
    repository: Path,
    batching: dict[str, BatchingConfig],
) -> TextDetector | None:
    """The second chance's coder-print text detector that ``config`` names (its batching added to
    ``batching`` as ``ocr_det_coder``), or ``None``: none named, or the default name and a
    repository without that folder (its coder variants are then not read).

    Raises:
        ValueError: a folder named on purpose is missing or of another kind, its model file is
            missing, or its weights patch was trained on another file; the message names the key.
    """
    name = config.coder_det_model_name
    if not name or (name == CODER_DET_DEFAULT and not (repository / name / "config.yaml").is_file()):
        return None
    key = "coder_det_model_name"
    entry = _named_entry(key, name, "ocr_det", repository)
    if entry.path is None or not entry.path.is_file():
        raise ValueError(f"{key}: {repository / entry.name / 'config.yaml'} names no model file")
    model = _session("ocr_det_coder", entry, entry.path, True, runtime, concurrency, repository, batching)
    return TextDetector(model, config, entry.text_detection)


def _session(
    name: str,
    entry: ModelConfig,
    path: Path,
    patched: bool,
    runtime: RuntimeConfig,
    concurrency: int,
    repository: Path,
    batching: dict[str, BatchingConfig],
) -> OnnxModel:
    """The ONNX Runtime session of ``entry``'s model file ``path`` under the model name ``name``,
    with the entry's weights patch when ``patched``, on the entry's providers; its batching for
    the provider it ended up on is added to ``batching``.

    Raises:
        ValueError: the file cannot be loaded, or the patch was trained on another file (the
            message then names the entry's config and its weights_patch).
    """
    model_runtime = dataclasses.replace(runtime, providers=entry.providers or runtime.providers)
    patch = load_patch(entry.weights_patch) if entry.weights_patch and patched else None
    try:
        model = OnnxModel(name, entry.kind, path, model_runtime, concurrency=concurrency, weights_patch=patch)
    except ValueError as exc:
        if patch is None:
            raise
        raise ValueError(f"{repository / entry.name / 'config.yaml'} weights_patch: {exc}") from None
    batching[name] = entry.batching_for(model.provider)
    model.max_batch_size = batching[name].batcher.max_batch_size
    return model


def _stage_entry(stage: str, config: OcrConfig, repository: Path) -> ModelConfig:
    """The repository entry that ``config`` names for one OCR stage (``ocr_det``, ...).

    A stage's own folder may be missing (the rapidocr wheel's defaults); another name must be a
    folder with a config.yaml of the stage's kind.
    """
    key = f"{stage[4:]}_model_name"
    return _named_entry(key, getattr(config, key), stage, repository)


def _named_entry(key: str, name: str, stage: str, repository: Path) -> ModelConfig:
    """The entry ``name`` (set by the configuration's ``key``), which must be of kind ``stage``."""
    entry = load_model_config(name, stage, repository)
    if name != stage and not (repository / name / "config.yaml").is_file():
        raise ValueError(f"{key}: no {repository / name / 'config.yaml'}")
    if entry.kind != stage:
        raise ValueError(f"{key}: {repository / name / 'config.yaml'} is kind {entry.kind}, not {stage}")
    return entry


def chunks(quads: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    """The text boxes of one read, ``TEXT_BOXES_AT_ONCE`` at a time, in order."""
    for start in range(0, len(quads), TEXT_BOXES_AT_ONCE):
        yield quads[start : start + TEXT_BOXES_AT_ONCE]


def _normalize(image: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 to a ``(1, 3, H, W)`` float32 batch of ``pixel * scale - shift`` per
    channel (``(3,)`` arrays), in float32 throughout: rapidocr's own goes through float64, twice
    the memory."""
    batch = image.astype(np.float32)
    batch *= scale
    batch -= shift
    return np.ascontiguousarray(batch.transpose(2, 0, 1))[None]


def _read_dictionary(path: Path, source: str) -> list[str]:
    """A recogniser's characters, one a line (``\\r\\n`` or ``\\n``), as PaddleOCR reads them."""
    try:
        size = path.stat().st_size
        if size > REC_DICT_MAX_BYTES:
            raise ValueError(f"{size} bytes, more than {REC_DICT_MAX_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{source} {path}: cannot be read as a dictionary ({exc})") from None
    characters = [line.rstrip("\r") for line in text.split("\n")]
    if characters and characters[-1] == "":
        characters.pop()  # the final newline ends the last line; it does not start another
    if not characters:
        raise ValueError(f"{source} {path}: holds no characters")
    return characters


def _strip_padding(shape: tuple[int, int], limit_side_len: int) -> Padding | None:
    """The rows and columns that grow a tight strip (see
    ``_STRIP_MAX_UPSCALE``) at most ``_DET_MAX_SIDE_PX`` long to at least ``limit_side_len`` each
    way, split evenly, so that the detector reads it at its own scale; ``None`` for any other
    shape."""
    height, width = shape
    short, long = min(height, width), max(height, width)
    if short < 1 or short > _STRIP_MAX_ASPECT * long or limit_side_len / short <= _STRIP_MAX_UPSCALE:
        return None
    if long > _DET_MAX_SIDE_PX:
        return None  # a canvas within a photo's (2000 x 2000 at most); longer strips as before
    rows, columns = max(0, limit_side_len - height), max(0, limit_side_len - width)
    return Padding(rows // 2, rows - rows // 2, columns // 2, columns - columns // 2)


def _padded_size(shape: tuple[int, int], limit_side_len: int) -> tuple[int, int]:
    """``(height, width)`` of the image the text detector reads for a whole image of ``shape``."""
    padding = _strip_padding(shape, limit_side_len)
    if padding is None:
        return shape
    top, bottom, left, right = padding
    return shape[0] + top + bottom, shape[1] + left + right


def _padded(image: np.ndarray, padding: Padding) -> np.ndarray:
    """``image`` grown by ``padding`` in the median colour of its border."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).reshape(
        -1, image.shape[2] if image.ndim == 3 else 1
    )
    colour = [int(value) for value in np.median(border, axis=0)]
    return cv2.copyMakeBorder(image, *padding, cv2.BORDER_CONSTANT, value=colour)


def _unpadded(quad: np.ndarray, padding: Padding | None, canvas: tuple[int, int]) -> np.ndarray:
    """A box found on a strip's padded ``canvas`` (its ``(height, width)``), in the strip's own
    pixels (clipped to it)."""
    if padding is None:
        return quad
    height = canvas[0] - padding.top - padding.bottom
    width = canvas[1] - padding.left - padding.right
    quad = quad - np.array([padding.left, padding.top], np.float32)
    quad[:, 0] = np.clip(quad[:, 0], 0, width - 1)
    quad[:, 1] = np.clip(quad[:, 1], 0, height - 1)
    return quad


def _det_scale_cap(height: float, width: float) -> float:
    """The factor (at most 1) that brings a ``height x width`` detector input within both caps."""
    height, width = max(1.0, height), max(1.0, width)
    return min(
        1.0,
        DET_MAX_INPUT_SIDE_PX / max(height, width),
        math.sqrt(DET_MAX_INPUT_PIXELS / (height * width)),
    )


def det_input_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The text detector's input size, ``(width, height)``, for an image resized by ``scale``.

    Sides are multiples of 32 (DB's stride), at least 32, at most ``DET_MAX_INPUT_SIDE_PX``, with
    at most ``DET_MAX_INPUT_PIXELS`` pixels: a scale that would exceed a cap is lowered to meet it.
    """
    want_h, want_w = max(1.0, height * scale), max(1.0, width * scale)
    shrink = _det_scale_cap(want_h, want_w)
    want_h, want_w = want_h * shrink, want_w * shrink
    out_h, out_w = (max(_DET_STRIDE_PX, round(v / _DET_STRIDE_PX) * _DET_STRIDE_PX) for v in (want_h, want_w))
    if out_h * out_w > DET_MAX_INPUT_PIXELS or max(out_h, out_w) > DET_MAX_INPUT_SIDE_PX:
        # Rounding up took a side past a cap: round both down instead.
        out_h, out_w = (
            max(_DET_STRIDE_PX, math.floor(v / _DET_STRIDE_PX) * _DET_STRIDE_PX) for v in (want_h, want_w)
        )
    return out_w, out_h


def lines_from_reads(
    quads: list[np.ndarray], reads: list[Read], min_text_score: float, detection_index: int
) -> list[OcrLine]:
    """Pairs each box with its read (text, score, digit alternatives), dropping empty lines and
    lines read below ``min_text_score``."""
    lines = []
    for quad, read in zip(quads, reads, strict=True):
        text, score, alternatives, turned = Read(*read)
        if text.strip() and score >= min_text_score:
            box = _bounding_box(quad)
            lines.append(OcrLine(text, score, box, detection_index, alternatives, turned))
    return lines


def _order_clockwise(points: np.ndarray) -> np.ndarray:
    by_x = points[np.argsort(points[:, 0])]
    left = by_x[:2][np.argsort(by_x[:2, 1])]
    right = by_x[2:][np.argsort(by_x[2:, 1])]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _quad_size(quad: np.ndarray) -> tuple[float, float]:
    """A box's width and height: a quadrilateral's longer opposite sides, a curved line's
    straightened size (:func:`pipeline.curved_lines.polygon_size`, measured once for both)."""
    if is_polygon(quad):
        return polygon_size(quad)
    width = max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))
    height = max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))
    return float(width), float(height)


def line_angle(quads: Sequence[np.ndarray]) -> float:
    """The angle of the text lines among ``quads`` (``(4, 2)`` corners from top-left, clockwise),
    in degrees, image y down (positive: the lines fall to the right): the median of the top edges
    of the boxes at least ``_LINE_ASPECT`` times longer than high; 0.0 with fewer than two such.
    A curved line's polygon has no one angle and is left out."""
    angles = []
    for quad in quads:
        if is_polygon(quad):
            continue
        top, side = quad[1] - quad[0], quad[3] - quad[0]
        if math.hypot(*top) >= _LINE_ASPECT * math.hypot(*side):
            angles.append(math.degrees(math.atan2(float(top[1]), float(top[0]))))
    return float(np.median(angles)) if len(angles) >= 2 else 0.0


def quad_reading_order(quads: list[np.ndarray]) -> list[np.ndarray]:
    """Text boxes in :func:`reading_order`, along the text's own rows when its lines are turned
    by ``_TURNED_TEXT_DEG`` to ``_MAX_TURNED_DEG`` degrees (:func:`line_angle`): the boxes are
    sorted by their corners turned level. Sorted by the image's rows instead, the boxes of a
    turned code come line by line in the wrong order, a keyword before the date of another line
    (hard set v3 960183: ``Use by`` read before the production date beside it; bench/RESULTS.md,
    "seventh session")."""
    angle = line_angle(quads)
    if not _TURNED_TEXT_DEG <= abs(angle) <= _MAX_TURNED_DEG:
        return reading_order(quads, lambda quad: (float(quad[0][0]), float(quad[0][1])))
    turn = math.radians(-angle)
    level = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]], dtype=np.float32)
    corners = {id(quad): (quad @ level.T).min(axis=0) for quad in quads}
    return reading_order(quads, lambda quad: (float(corners[id(quad)][0]), float(corners[id(quad)][1])))


def reading_order(items: list[_Item], top_left: Callable[[_Item], tuple[float, float]]) -> list[_Item]:
    """Sorts boxes top to bottom, and left to right within a row (as rapidocr's sorted_boxes).

    Args:
        items: text boxes of any type.
        top_left: each item's top-left corner, ``(x, y)``.
    """
    ordered = sorted(items, key=lambda item: top_left(item)[::-1])
    # One insertion pass: a box whose top is within a row's tolerance moves left of boxes to its right.
    for i in range(1, len(ordered)):
        j = i
        while j > 0:
            (x, y), (prev_x, prev_y) = top_left(ordered[j]), top_left(ordered[j - 1])
            if abs(y - prev_y) >= _SAME_ROW_PX or x >= prev_x:
                break
            ordered[j - 1], ordered[j] = ordered[j], ordered[j - 1]
            j -= 1
    return ordered


def _crop_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Cuts a (possibly rotated) quadrilateral out of the image as an upright rectangle, within
    ``CROP_MAX_SIDE_PX`` and ``CROP_MAX_PIXELS`` (a larger one is cut at a reduced scale); a
    curved line's polygon straightened (:func:`pipeline.curved_lines.crop_polygon`)."""
    box_w, box_h = _quad_size(quad)
    width, height = max(1, int(box_w)), max(1, int(box_h))
    shrink = min(1.0, CROP_MAX_SIDE_PX / max(width, height), math.sqrt(CROP_MAX_PIXELS / (width * height)))
    out_w, out_h = (
        (width, height) if shrink >= 1.0 else (max(1, int(width * shrink)), max(1, int(height * shrink)))
    )
    if is_polygon(quad):
        return crop_polygon(image, quad, (out_w, out_h))
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    transform = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, transform, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    # Tall narrow crops are vertical text: the recognizer reads rows, so lay them down.
    if height / width >= 1.5:
        crop = np.rot90(crop)
    return crop


def _resize_pad(crop: np.ndarray, shape: tuple[int, int, int], wh_ratio: float) -> np.ndarray:
    """Resizes a crop to the model's height, normalises it and pads it right to ``height * wh_ratio``."""
    channels, height, _ = shape
    width = int(height * wh_ratio)
    resized_w = min(width, math.ceil(height * crop.shape[1] / crop.shape[0]))
    resized = cv2.resize(crop, (resized_w, height)).astype(np.float32)
    padded = np.zeros((channels, height, width), dtype=np.float32)
    padded[:, :, :resized_w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return padded


def _bounding_box(quad: np.ndarray) -> BoundingBox:
    return BoundingBox(
        x1=float(quad[:, 0].min()),
        y1=float(quad[:, 1].min()),
        x2=float(quad[:, 0].max()),
        y2=float(quad[:, 1].max()),
    )
