"""Print the README's "Errors" table from the corpus: ``.venv/bin/python tests/bad_input/table.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bad_input import all_cases  # noqa: E402


def main() -> None:
    print("| id | the mistake | error |")
    print("|---|---|---|")
    for case in all_cases():
        what = case.what.replace("|", "\\|")
        print(f"| `{case.id}` | {what} | `{case.error.__name__}` |")


if __name__ == "__main__":
    main()
