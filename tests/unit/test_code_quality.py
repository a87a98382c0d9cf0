"""The project's own checks, so that the test command is the only gate."""

import subprocess
import sys
from pathlib import Path

import pytest

from wrapped_gateway.constants import Reason

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_passes(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_refusal_reason_is_in_the_troubleshooting_table() -> None:
    """A user who reads a reason on an Event looks it up there."""
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    table = page[page.index("## Refusals and their Event reasons") :].split("\n## ", 1)[0]
    reasons = [value for name, value in vars(Reason).items() if name.isupper()]
    assert len(reasons) > 20
    assert [r for r in reasons if f"| `{r}` |" not in table] == []
