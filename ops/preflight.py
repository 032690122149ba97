"""Refuse to deploy while a shipped placeholder is left in the settings.

    python -m ops.preflight --profile reference -c data.ami_ids.eu-west-1=ami-0abc...

Exit 0 when the profile is ready to deploy; otherwise exit 1 and name each
placeholder and the setting that replaces it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from config import SettingsError, load_settings
from config.placeholders import find_placeholders

ROOT = Path(__file__).resolve().parent.parent


def parse_context(pairs: Sequence[str]) -> dict[str, str]:
    context = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(pair, pair, "-c takes key=value")
        context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    try:
        context.update(parse_context(args.context))
        if args.profile:
            context["profile"] = args.profile
        settings = load_settings(context, os.environ)
    except SettingsError as err:
        print("\n".join(f"error: {line}" for line in err.lines), file=sys.stderr)
        return 2
    left = find_placeholders(settings)
    if not left:
        print(
            f"preflight: profile {settings.profile} has no placeholders left; deploying to {settings.account}/{settings.region}"
        )
        return 0
    print(f"error: profile {settings.profile} still holds {len(left)} placeholder(s); nothing was deployed:", file=sys.stderr)
    for p in left:
        print(
            f"  {p.key}={p.value}: set {p.replace_with} (cdk.json profiles.{settings.profile}, or -c {p.key}=...)",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
