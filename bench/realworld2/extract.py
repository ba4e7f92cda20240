#!/usr/bin/env python3
"""Writes the photos of manifest.csv into images/ next to this file, from fetched copies of the
three public repositories of README.md (``bench/realworld_extract.py``).

Usage: python bench/realworld2/extract.py [MIRRORS]  (/work/.mirror by default)
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from bench.realworld_extract import main

COMMITS = {
    "ArcFreez/expiry-date-detector": "5eb80539dcadd6aeff04638d1f9add3d10443d13",
    "kivancgunduz/expiration-date-detection": "2850ca0bcfd8b70a670a667730c7835b8c6971c4",
    "TimStrauven/Delhaize_dates": "0ceedf82d867b207fcce534cc44e21b8da79675c",
}

if __name__ == "__main__":
    main(pathlib.Path(__file__).resolve().parent, COMMITS)
