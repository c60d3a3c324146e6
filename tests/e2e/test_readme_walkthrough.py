"""The README's walk-through runs top to bottom, as written, against a fresh ``make run``
stack, and every call answers the status its trailing comment promises.

The block is taken from README.md (the first ``sh`` block under "A walk through the
API") and run with bash at the root of the stack's checkout, stopping at the first failing
command. Each curl there prints `` -> <status>`` on stderr; each curl's command ends with
a ``# <status>`` comment, read here in order.
"""
from __future__ import annotations

import re
import subprocess

from tests.e2e.stack import ROOT, Stacks

_SECTION = "## A walk through the API"
_EXPECTED = re.compile(r"#\s+(\d{3})\b")
_CURL = re.compile(r"(?:^|\$\()curl\s", re.MULTILINE)
_ANSWERED = re.compile(r"^ -> (\d{3})$", re.MULTILINE)


def walkthrough(readme: str) -> str:
    section = readme[readme.index(_SECTION):]
    block = section[section.index("```sh\n") + len("```sh\n"):]
    return block[:block.index("\n```")]


def expected_statuses(script: str) -> list[int]:
    return [int(m.group(1)) for line in script.splitlines() for m in [_EXPECTED.search(line)] if m]


def test_every_curl_of_the_walkthrough_says_what_status_to_expect() -> None:
    script = walkthrough((ROOT / "README.md").read_text())

    assert len(_CURL.findall(script)) == len(expected_statuses(script)) > 20


def test_the_readme_walkthrough_runs_as_written_on_a_fresh_stack(stacks: Stacks) -> None:
    stack = stacks.start()
    script = walkthrough((stack.checkout / "README.md").read_text())
    expected = expected_statuses(script)

    ran = subprocess.run(["bash", "-e", "-u", "-o", "pipefail", "-c", script], cwd=stack.checkout,
                         env=stack.environment(), capture_output=True, text=True, timeout=300, check=False)

    answered = [int(s) for s in _ANSWERED.findall(ran.stderr)]
    steps = list(zip(answered, expected, strict=False))  # a run cut short answers fewer
    first_wrong = next((i for i, (got, want) in enumerate(steps) if got != want), None)
    detail = (f"statuses {answered}\nexpected {expected}\n"
              f"--- stdout\n{ran.stdout[-4000:]}\n--- stderr\n{ran.stderr[-3000:]}")
    assert first_wrong is None, f"call #{first_wrong + 1} answered {answered[first_wrong]}\n{detail}"
    assert ran.returncode == 0, detail
    assert answered == expected, detail
    assert "past_due" in ran.stdout or "invoice.payment_failed" in ran.stdout
