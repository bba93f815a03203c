"""deploy/README.md and deploy/SCALING.md name only files that exist, and show how to apply every overlay."""

from __future__ import annotations

import re

import pytest

from tests.deploy.render import DEPLOY, OVERLAYS

DOCS = ["README.md", "SCALING.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_the_docs_name_exists(doc: str) -> None:
    text = (DEPLOY / doc).read_text(encoding="utf-8")
    paths = set(re.findall(r"(?<![\w/.-])((?:deploy|bench|tests|components)/[\w./-]*\w)", text))
    assert paths
    paths.discard("deploy/docline")  # kubectl's name for the Deployment (`rollout status deploy/docline`)
    missing = sorted(p for p in paths if not (DEPLOY.parent / p).exists())
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_readme_applies_every_overlay() -> None:
    text = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in OVERLAYS:
        assert f"kubectl apply -k deploy/k8s/overlays/{name}" in text
