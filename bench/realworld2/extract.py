#!/usr/bin/env python3
"""Writes the photos of manifest.csv into images/ next to this file, from fetched copies of the
public repositories its source_repo column names (the photos are not ours and are not committed).

Usage: python bench/realworld2/extract.py [MIRRORS]
  MIRRORS: the folder where the search tool's `fetch github:OWNER/NAME` puts each repository, as
  OWNER+NAME/repo (a bare git directory); /work/.mirror by default. Fetch the three repositories
  of README.md first. Each photo is written as the repository holds it, at the commit below
  (the pipeline applies its EXIF orientation). Idempotent: a photo already there is kept.
"""

from __future__ import annotations

import csv
import pathlib
import subprocess
import sys

COMMITS = {
    "ArcFreez/expiry-date-detector": "5eb80539dcadd6aeff04638d1f9add3d10443d13",
    "kivancgunduz/expiration-date-detection": "2850ca0bcfd8b70a670a667730c7835b8c6971c4",
    "TimStrauven/Delhaize_dates": "0ceedf82d867b207fcce534cc44e21b8da79675c",
}


def main() -> None:
    here = pathlib.Path(__file__).resolve().parent
    mirrors = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror")
    (here / "images").mkdir(exist_ok=True)
    with open(here / "manifest.csv", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            out = here / row["file"]
            if out.exists():
                continue
            repo = row["source_repo"]
            git = mirrors / repo.replace("/", "+") / "repo"
            photo = subprocess.run(
                ["git", f"--git-dir={git}", "cat-file", "-p", f"{COMMITS[repo]}:{row['source_path']}"],
                check=True,
                capture_output=True,
            ).stdout
            out.write_bytes(photo)
    print("photos in", here / "images")


if __name__ == "__main__":
    main()
