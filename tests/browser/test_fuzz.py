"""The browser fuzzer on a fixed list of seeds (tests/support/fuzz.py says what each seed does
and checks). More seeds: ``scripts/fuzz-browser --seeds N``; a failing seed prints the command
that replays it. Every seed that ever failed stays here as a regression seed: add one line.
"""

from __future__ import annotations

import pytest

from tests.support.fuzz import FuzzCase, run_case

pytestmark = [pytest.mark.browser, pytest.mark.fuzz, pytest.mark.asyncio(loop_scope="module")]

# One line per seed. Keep the total modest (each seed takes 10-25 s on two cores).
SEEDS = [
    FuzzCase(seed=1, users=3),
    FuzzCase(seed=2, users=4),
    FuzzCase(seed=3, users=2),
    FuzzCase(seed=4, users=3),
    FuzzCase(seed=5, users=4),
    FuzzCase(seed=6, users=2),
    FuzzCase(seed=7, users=3),
    FuzzCase(seed=8, users=2),
]


# Issue 9: the editor binding on main corrupts concurrent typing (interleaved and duplicated
# text, runaway growth), so these seeds fail today. Remove this marker when the new binding
# is merged; from then on a failing seed fails the suite. (raises=AssertionError: only a
# failed check is expected; a missing Chromium under CI=true still fails.)
@pytest.mark.xfail(raises=AssertionError, strict=False,
                   reason="issue 9: the current binding corrupts concurrent typing; "
                          "remove this marker when the new binding lands")
@pytest.mark.parametrize("case", SEEDS, ids=str)
async def test_fuzz_seed(browser, demo, tmp_path, case: FuzzCase) -> None:
    result = await run_case(browser, demo, case, tmp_path)
    assert result.ok, result.report()
