"""``python -m server.edge.keys``: create, list and revoke API keys in the keys file.

The file holds only hashes; ``create`` prints the new key once, and it cannot be shown again.
The file is ``--file`` or ``DATALID_API_KEYS_FILE``; the server reads it at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from server.edge.auth import SCOPES, ApiKey, hash_key, load_keys, new_key, save_keys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m server.edge.keys", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="keys file (default: $DATALID_API_KEYS_FILE)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who the key is for; shown in logs and as job owner")
    create.add_argument("--scopes", required=True, help=f"comma-separated, from {','.join(SCOPES)}")
    commands.add_parser("list", help="names and scopes (never keys)")
    revoke = commands.add_parser("revoke", help="delete a key by name")
    revoke.add_argument("--name", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    from_env = os.environ.get("DATALID_API_KEYS_FILE")
    path = args.file or (Path(from_env) if from_env else None)
    if path is None:
        print("datalid keys: give --file or set DATALID_API_KEYS_FILE", file=sys.stderr)
        return 2
    try:
        keys = load_keys(path)
        if args.command == "list":
            for key in keys:
                print(f"{key.name}\t{','.join(key.scopes)}")
            return 0
        if args.command == "revoke":
            kept = [k for k in keys if k.name != args.name]
            if len(kept) == len(keys):
                print(f"datalid keys: no key named {args.name!r}", file=sys.stderr)
                return 1
            save_keys(path, kept)
            return 0
        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        if not scopes or set(scopes) - set(SCOPES):
            known = ",".join(SCOPES)
            print(f"datalid keys: scopes must be some of {known}, got {args.scopes!r}", file=sys.stderr)
            return 2
        if any(k.name == args.name for k in keys):
            print(f"datalid keys: a key named {args.name!r} exists; revoke it first", file=sys.stderr)
            return 1
        key = new_key()
        save_keys(path, [*keys, ApiKey(args.name, hash_key(key), scopes)])
    except (OSError, ValueError) as exc:
        print(f"datalid keys: {exc}", file=sys.stderr)
        return 1
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
