"""Writes the photos of a real-photo set's manifest.csv into its images/ folder, from fetched copies
of the public repositories its ``source_repo`` column names, at its ``source_commit`` (the photos
are not ours and are not committed; each set's README names its repositories).

Usage: python -m bench.realworld_extract bench/realworld2 [--mirrors /work/.mirror]

Each photo is written as the repository holds it (the pipeline applies its EXIF orientation and
reads a PNG by its content, whatever its name). Idempotent: a photo already there is kept.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import subprocess

__all__ = ["extract", "main"]

# Where the search tool's `fetch github:OWNER/NAME` puts each repository, as OWNER+NAME/repo (bare, or
# a work tree whose repo/.git is the git directory).
DEFAULT_MIRRORS = pathlib.Path("/work/.mirror")


def extract(set_dir: pathlib.Path, mirrors: pathlib.Path = DEFAULT_MIRRORS) -> None:
    """Writes every photo of ``set_dir``/manifest.csv (``file``, ``source_repo``, ``source_path``,
    ``source_commit``) from the bare repositories under ``mirrors``.

    Raises:
        subprocess.CalledProcessError: a repository is not fetched, or lacks the file.
    """
    (set_dir / "images").mkdir(exist_ok=True)
    with open(set_dir / "manifest.csv", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            out = set_dir / row["file"]
            if out.exists():
                continue
            git = mirrors / row["source_repo"].replace("/", "+") / "repo"
            # Newer fetches keep the git directory in a work tree (repo/.git), older ones bare.
            if (git / ".git").is_dir():
                git = git / ".git"
            photo = subprocess.run(
                ["git", f"--git-dir={git}", "cat-file", "-p", f"{row['source_commit']}:{row['source_path']}"],
                check=True,
                capture_output=True,
            ).stdout
            out.write_bytes(photo)
    print("photos in", set_dir / "images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", type=pathlib.Path, help="a folder holding manifest.csv")
    parser.add_argument("--mirrors", type=pathlib.Path, default=DEFAULT_MIRRORS)
    args = parser.parse_args()
    extract(args.set_dir, args.mirrors)


if __name__ == "__main__":
    main()
