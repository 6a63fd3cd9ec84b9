"""Which drills run, and the drill figures in pytest's summary.

Every drill exists at two scales: `small` (marker `drill`, seconds long, part of the
regular test command and CI) and `full` (marker `drill_full`, the issue's numbers). The
scale is chosen with `--drills=small|full|none` (default: `$TICKWORK_DRILLS`, else
`small`); the drills of the other scale are *deselected* — reported as such by pytest,
never skipped silently. `scripts/drills` runs `--drills=full`.

Figures (`drill.<name>.<figure> <value> <unit>`) are printed live, past pytest's output
capture, and again together at the end of the run.
"""

from __future__ import annotations

import os

import pytest

SCALES = ("small", "full", "none")
FIGURES_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--drills",
        choices=SCALES,
        default=os.environ.get("TICKWORK_DRILLS") or "small",
        help="reliability drills to run: small (default, the CI subset), full (the whole "
        "set at full scale, see scripts/drills) or none",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "drill: a reliability drill at small scale (tests/drills)")
    config.addinivalue_line("markers", "drill_full: a reliability drill at full scale")
    config.stash[FIGURES_KEY] = []


def drill_scale(config: pytest.Config) -> str:
    scale: str = config.getoption("--drills")
    return scale


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = {"small": {"drill"}, "full": {"drill_full"}, "none": set()}[drill_scale(config)]
    selected, deselected = [], []
    for item in items:
        marks = {name for name in ("drill", "drill_full") if item.get_closest_marker(name)}
        if marks and not marks & wanted:
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def record_figure(config: pytest.Config, line: str) -> None:
    config.stash[FIGURES_KEY].append(line)


def print_live(config: pytest.Config, line: str) -> None:
    """Write `line` to the terminal now, past pytest's output capture (as `capsys.disabled`)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(FIGURES_KEY, [])
    if lines:
        terminalreporter.section("drill figures")
        for line in lines:
            terminalreporter.write_line(line)


def at_scales(small: object | None, full: object, *, timeout: float = 900) -> pytest.MarkDecorator:
    """Parametrise a drill with its `scale` argument: the small and the full variant.

    `small=None`: the drill has no small variant (it runs with `--drills=full` only).
    """
    params = []
    if small is not None:
        params.append(pytest.param(small, id="small", marks=pytest.mark.drill))
    params.append(
        pytest.param(full, id="full", marks=[pytest.mark.drill_full, pytest.mark.timeout(timeout)])
    )
    return pytest.mark.parametrize("scale", params)
