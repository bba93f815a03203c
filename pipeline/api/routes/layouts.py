"""/v1/layouts: the layout memories reviewers' decisions taught (``pipeline.layouts``): list, forget one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from pipeline.api.deps import ContainerDep
from pipeline.api.schemas import Problem
from pipeline.layouts import LayoutList

router = APIRouter(prefix="/v1/layouts", tags=["layouts"])

_404: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such layout memory"}}


@router.get("", response_model=LayoutList)
def list_layouts(container: ContainerDep) -> LayoutList:
    """Every layout memory: its sender, the fields it reads, the documents it was learned from, its hit rate."""
    return container.layouts.summaries()


@router.delete("/{layout_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_404)
def delete_layout(container: ContainerDep, layout_id: str) -> Response:
    """Forget one layout memory: the next document of that layout is read as if it had never been reviewed."""
    if not container.layouts.delete(layout_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No layout memory {layout_id}.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
