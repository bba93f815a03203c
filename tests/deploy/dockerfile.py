"""A reading of deploy/Dockerfile for the deploy tests: instructions, stages, and the Makefile's Tesseract packs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.deploy.render import DEPLOY

ROOT = DEPLOY.parent
DOCKERFILE = DEPLOY / "Dockerfile"


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions (comments dropped, continuations joined) and the stages they form."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = [Instruction(*[*line.split(None, 1), ""][:2]) for line in logical]
    for instruction in instructions:
        instruction.keyword = instruction.keyword.upper()
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append(instruction)
    return instructions, stages


INSTRUCTIONS, STAGES = parse(DOCKERFILE.read_text(encoding="utf-8"))
FINAL = STAGES[-1]


def makefile_tesseract_packages() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    packages = re.search(r"^DEB_PACKAGES\s*:=(.*)$", makefile, re.M)
    assert packages
    return {p for p in packages.group(1).split() if p.startswith("tesseract-ocr")}
