"""Dot-matrix labels for the second-chance tests: a 5x7 dot font, as inkjet date coders print it.

The glyphs are the common 5x7 shapes (each character 5 dots wide and 7 high, one dot column
between characters); each dot is a filled disc, so the dot size and pitch are exactly what the test
asks for. Deterministic: the same arguments always give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["GLYPHS", "Label", "dot_matrix_label", "small_code_photo"]

# Rows top to bottom, "#" a dot.
GLYPHS: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "/": (".....", "....#", "...#.", "..#..", ".#...", "#....", "....."),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    ":": (".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."),
    " ": (".....", ".....", ".....", ".....", ".....", ".....", "....."),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
}


@dataclass(frozen=True, slots=True, eq=False)
class Label:
    """A rendered label and the box around its dots (x1, y1, x2, y2, pixel edges)."""

    image: np.ndarray
    box: tuple[int, int, int, int]


def dot_matrix_label(
    text: str,
    *,
    pitch_px: int,
    dot_radius_px: int,
    ink: tuple[int, int, int] = (25, 25, 25),
    paper: tuple[int, int, int] = (232, 232, 226),
    height_px: int = 480,
    seed: int = 0,
) -> Label:
    """A label of one line of ``text`` in 5x7 dots on ``paper``, with room around it.

    Args:
        text: characters of ``GLYPHS``.
        pitch_px: distance between neighbouring dots, pixels.
        dot_radius_px: each dot's radius, pixels.
        ink, paper: BGR colours (light ink on dark paper is white-ink print).
        height_px: the image's height; its width fits the line with a margin of 8 pitches.
        seed: of the faint pixel noise (standard deviation 3 grey levels), as a camera adds.

    Returns:
        A ``(height_px, width, 3)`` uint8 BGR image and the box of its dots.
    """
    margin = 8 * pitch_px
    width = 2 * margin + len(text) * 6 * pitch_px
    image = np.empty((height_px, width, 3), np.uint8)
    image[:] = paper
    top = (height_px - 6 * pitch_px) // 2
    for index, character in enumerate(text):
        left = margin + index * 6 * pitch_px
        for row, dots in enumerate(GLYPHS[character]):
            for column, dot in enumerate(dots):
                if dot == "#":
                    centre = (left + column * pitch_px, top + row * pitch_px)
                    cv2.circle(image, centre, dot_radius_px, ink, -1, cv2.LINE_AA)
    noise = np.random.default_rng(seed).normal(0.0, 3.0, image.shape)
    noisy = np.clip(image + noise, 0, 255).astype(np.uint8)
    right = margin + (len(text) * 6 - 2) * pitch_px
    box = (
        margin - dot_radius_px - 1,
        top - dot_radius_px - 1,
        right + dot_radius_px + 2,
        top + 6 * pitch_px + dot_radius_px + 2,
    )
    return Label(noisy, box)


def small_code_photo(
    code: str,
    lot: str,
    *,
    pitch_px: int,
    dot_radius_px: int,
    angle_deg: float,
    size: tuple[int, int] = (4032, 3024),
    seed: int = 0,
) -> np.ndarray:
    """A phone-sized photo of a small two-line dot-matrix code (``code`` over ``lot``, the lines
    touching), turned by ``angle_deg``, on plain paper: print the text detector reads shrunk.

    Returns:
        A ``(height, width, 3)`` uint8 BGR image of ``size`` = ``(width, height)``.
    """
    paper = (232, 232, 226)
    top = dot_matrix_label(code, pitch_px=pitch_px, dot_radius_px=dot_radius_px, height_px=8 * pitch_px)
    under = dot_matrix_label(lot, pitch_px=pitch_px, dot_radius_px=dot_radius_px, height_px=8 * pitch_px)
    width = max(top.image.shape[1], under.image.shape[1])
    block = np.empty((top.image.shape[0] + under.image.shape[0], width, 3), np.uint8)
    block[:] = paper
    block[: top.image.shape[0], : top.image.shape[1]] = top.image
    block[top.image.shape[0] :, : under.image.shape[1]] = under.image
    height, width = block.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, 1.0)
    block = cv2.warpAffine(block, turn, (width, height), borderValue=paper)
    photo = np.empty((size[1], size[0], 3), np.uint8)
    photo[:] = paper
    y, x = size[1] // 2 - height // 2, size[0] // 2 - width // 2
    photo[y : y + height, x : x + width] = block
    noise = np.random.default_rng(seed).normal(0.0, 3.0, photo.shape)
    return np.clip(photo + noise, 0, 255).astype(np.uint8)
