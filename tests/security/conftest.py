"""The isolation test's figures, printed in the run's summary."""

FIGURES: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("Tenant isolation (tests/security)")
        terminalreporter.write_line(", ".join(f"{name}: {count}" for name, count in FIGURES.items()))
