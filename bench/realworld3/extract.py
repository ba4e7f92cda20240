#!/usr/bin/env python3
"""Writes the photos of manifest.csv into images/ next to this file, from fetched copies of the
seven public repositories of README.md (``bench/realworld_extract.py``).

Usage: python bench/realworld3/extract.py [MIRRORS]  (/work/.mirror by default)
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from bench.realworld_extract import main

COMMITS = {
    "KrishanuGharami/Flipkart-GRiD-6.0-Robotics-Challenge-Code-Submission": (
        "2ba35cca9f2ff4dcedceee7aba28fa3e3c43de57"
    ),
    "Saransh482003/expiry-date-checker-adherence-assistant": "8709894af26ce33e9aceaafc5f9544e41af0b2dc",
    "jvclisboa/api-ocr-expiration-date": "5be83645588282ca36e4ae4228849c00d18ecbf5",
    "shukla-peeyush/FlipKart-GRiD-6.0-Robotics": "ca44fc750fde4317076f56157a713a49cd55e024",
    "ShwetaNagapure/Flipkart-Grid-6.0---Smart-Vision-Technology-Quality-Control": (
        "e7652fdb56b6e00509e57d97dbaf6610b134c9c3"
    ),
    "NagaAnjaliMoturi/Flipkart-Grid-6.0": "1d744845c13831c9f91b45fa061f07673d3b88cc",
    "Malavika-Gupta/Smart-Vision-Technology-Quality-Control-Flipkart-GRID-6.0-": (
        "f739293e63a95b8e3fcb95f940077fd12f934933"
    ),
}

if __name__ == "__main__":
    main(pathlib.Path(__file__).resolve().parent, COMMITS)
