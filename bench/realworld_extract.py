"""Writes the photos of a real-photo set's manifest.csv into its images/ folder, from fetched copies
of the public repositories its source_repo column names (the photos are not ours and are not
committed; bench/realworld2/ and bench/realworld3/ each name their repositories and commits).

Each photo is written as the repository holds it, at the set's commit (the pipeline applies its
EXIF orientation and reads a PNG by its content, whatever its name). Idempotent: a photo already
there is kept.
"""

from __future__ import annotations

import csv
import pathlib
import subprocess
import sys
from collections.abc import Mapping

__all__ = ["extract", "main"]

# Where the search tool's `fetch github:OWNER/NAME` puts each repository, as OWNER+NAME/repo.
DEFAULT_MIRRORS = pathlib.Path("/work/.mirror")


def extract(
    set_dir: pathlib.Path, commits: Mapping[str, str], mirrors: pathlib.Path = DEFAULT_MIRRORS
) -> None:
    """Writes every photo of ``set_dir``/manifest.csv (``file``, ``source_repo``, ``source_path``)
    from ``mirrors``, at ``commits[source_repo]``.

    Raises:
        subprocess.CalledProcessError: a repository is not fetched, or lacks the file.
    """
    (set_dir / "images").mkdir(exist_ok=True)
    with open(set_dir / "manifest.csv", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            out = set_dir / row["file"]
            if out.exists():
                continue
            repo = row["source_repo"]
            git = mirrors / repo.replace("/", "+") / "repo"
            photo = subprocess.run(
                ["git", f"--git-dir={git}", "cat-file", "-p", f"{commits[repo]}:{row['source_path']}"],
                check=True,
                capture_output=True,
            ).stdout
            out.write_bytes(photo)
    print("photos in", set_dir / "images")


def main(set_dir: pathlib.Path, commits: Mapping[str, str]) -> None:
    """``python bench/realworldN/extract.py [MIRRORS]``."""
    extract(set_dir, commits, pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MIRRORS)
