"""Thin neutral print across coloured text, through JPEG: what the second chance's ``neutral`` step
(``pipeline/variants.py``) keeps of it, against the first rule tried (one chroma threshold, every
coloured pixel one grey).

    .venv/bin/python -m bench.neutral_strokes

For each ground (purple, green, red, blue), a line of coloured text (3 px strokes) crossed by
``ED: 27.08.30`` in black or white 1, 2 or 3 px thick, anti-aliased, JPEG quality 85, 480 x 800:
the share of the print's pixels that the step brings within 25 grey levels of the ground (lost),
and how far the coloured text ends from its ground's grey (0: gone). Synthetic and deterministic.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline import variants
from pipeline.variants import Step, make_variant

GROUNDS = {"purple": (160, 31, 75), "green": (60, 160, 60), "red": (40, 40, 200), "blue": (200, 120, 40)}
INKS = {"black": (20, 20, 20), "white": (240, 240, 240)}
STROKES = ((1, 0.9), (2, 1.1), (3, 1.4))  # thickness px, font scale


def one_threshold(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first rule: chroma over 20 makes a pixel coloured; every coloured pixel takes their median
    lightness."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness = lab[..., 0].copy()
    chroma = np.hypot(lab[..., 1].astype(np.float32) - 128, lab[..., 2].astype(np.float32) - 128)
    coloured = chroma > 20
    lightness[coloured] = np.uint8(np.median(lightness[coloured]))
    return cv2.cvtColor(lightness, cv2.COLOR_GRAY2BGR), np.eye(2, 3)


def scene(
    ground: tuple[int, int, int], ink: tuple[int, int, int], thickness: int, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The JPEG-coded scene, and the masks of its coloured text and of its print."""
    text_colour = (200, 60, 220) if ground == GROUNDS["green"] else (80, 230, 90)
    image = np.full((480, 800, 3), ground, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(image, "wheat sugar Crispy Distributed", (20, 240), font, 1.2, text_colour, 3, cv2.LINE_AA)
    coloured = np.abs(image.astype(int) - ground).sum(axis=2) > 150
    cv2.putText(image, "ED: 27.08.30", (60, 250), font, scale, ink, thickness, cv2.LINE_AA)
    printed = np.abs(image.astype(int) - ink).sum(axis=2) < 30
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR), coloured, printed


def measure(image: np.ndarray, coloured: np.ndarray, printed: np.ndarray) -> tuple[float, float]:
    variant = make_variant(image, (Step.NEUTRAL,))
    assert variant is not None
    grey = cv2.cvtColor(variant.image, cv2.COLOR_BGR2GRAY).astype(float)
    ground = float(np.median(grey[~coloured & ~printed]))
    lost = float(np.mean(np.abs(grey[printed & ~coloured] - ground) <= 25))
    return lost, abs(float(np.median(grey[coloured & ~printed])) - ground)


def main() -> None:
    shipped = variants._STEPS[Step.NEUTRAL]
    grounds = ", ".join(GROUNDS)
    print(f"| rule | print | px | lost: {grounds} | coloured text off its ground (grey levels) |")
    print("| --- | --- | --- | --- | --- |")
    for rule, step in (("one threshold", one_threshold), ("shipped", shipped)):
        variants._STEPS[Step.NEUTRAL] = step
        try:
            for ink_name, ink in INKS.items():
                for thickness, scale in STROKES:
                    rows = [measure(*scene(ground, ink, thickness, scale)) for ground in GROUNDS.values()]
                    lost = ", ".join(f"{row[0]:.0%}" for row in rows)
                    off = ", ".join(f"{row[1]:.0f}" for row in rows)
                    print(f"| {rule} | {ink_name} | {thickness} | {lost} | {off} |")
        finally:
            variants._STEPS[Step.NEUTRAL] = shipped


if __name__ == "__main__":
    main()
