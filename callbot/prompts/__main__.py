"""``python -m callbot.prompts --seed [PROMPTS_DIR]``: regenerate the shipped seed cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from callbot.errors import PromptError
from callbot.prompts.seed import write_seed


def main(argv: list[str] | None = None) -> int:
    """``python -m callbot.prompts --seed [PROMPTS_DIR]``: regenerate the shipped seed cache."""

    parser = argparse.ArgumentParser(prog="python -m callbot.prompts", description=main.__doc__)
    parser.add_argument("--seed", action="store_true", required=True,
                        help="write prompts/<lang>/tts/<id>-<hash>.wav for every text in prompts.toml")
    parser.add_argument("prompts_dir", nargs="?", default="prompts", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for lang_dir in sorted(p for p in args.prompts_dir.iterdir() if (p / "prompts.toml").is_file()):
        try:
            report = write_seed(args.prompts_dir, lang_dir.name)
        except PromptError as exc:
            for problem in exc.problems:
                print(f"error: {problem}")
            status = 1
            continue
        changed = [line for line in report if not line.startswith("kept")]
        for line in changed:
            print(line)
        print(f"{lang_dir.name}: {len(report) - len(changed)} unchanged, {len(changed)} written/removed")
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
