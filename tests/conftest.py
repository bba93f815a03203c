"""Shared fixtures. Each fixture module in tests/support starts real things and cleans up after itself."""

pytest_plugins: list[str] = [
    "tests.support.sidecar",
    "tests.support.llm_server",
    "tests.support.services",
    "tests.support.components",
    "tests.support.docline",
    "tests.support.subscriber",
]
