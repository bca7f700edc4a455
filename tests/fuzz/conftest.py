"""The fuzz test's figures, printed in the run's summary (pytest captures a passing test's output)."""

FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("OpenAPI fuzzing (tests/fuzz)")
        for line in FIGURES:
            terminalreporter.write_line(line)
