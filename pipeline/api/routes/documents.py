"""/v1/documents: submit, read, list, page images, review, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile, status

from extractors.errors import FileTooLarge, UnknownDocumentType
from pipeline.api.deps import CallerDep, ServiceDep
from pipeline.api.schemas import DocumentList, DocumentResult, Problem, ReviewDecision
from pipeline.models import Status
from pipeline.service import BadCorrection, Conflict, NotFound

router = APIRouter(prefix="/v1/documents", tags=["documents"])

_404: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such document"}}


def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, detail=f"The file is over the limit of {limit} bytes.")
    return data


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentResult,
    responses={
        200: {"model": DocumentResult, "description": "Same content already submitted"},
        413: {"model": Problem},
    },
)
def submit_document(
    service: ServiceDep,
    response: Response,
    file: Annotated[UploadFile, File(description="the document: PDF, TIFF, PNG, JPEG, WebP or BMP")],
    type: Annotated[str | None, Form(description="document type, if known (skips classification)")] = None,
    force: Annotated[bool, Query(description="process again even if the same content was submitted")] = False,
) -> DocumentResult:
    data = _read_limited(file, service.settings.max_upload_bytes)
    try:
        doc, created = service.submit(data, file.filename or "document", requested_type=type or None, force=force)
    except FileTooLarge as exc:
        raise HTTPException(413, detail=exc.message) from exc
    except UnknownDocumentType as exc:
        raise HTTPException(422, detail=exc.message) from exc
    if not created:
        response.status_code = status.HTTP_200_OK
        doc = service.get(doc.id)
    response.headers["Location"] = f"/v1/documents/{doc.id}"
    return doc.result()


@router.get("", response_model=DocumentList)
def list_documents(
    service: ServiceDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    type_: Annotated[str | None, Query(alias="type")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> DocumentList:
    items, next_cursor = service.list(status=status_, type_=type_, limit=limit, cursor=cursor)
    return DocumentList(items=items, next=next_cursor)


@router.get("/{doc_id}", response_model=DocumentResult, responses=_404)
def get_document(service: ServiceDep, doc_id: str) -> DocumentResult:
    try:
        return service.get(doc_id).result()
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No document {doc_id}.") from exc


@router.get(
    "/{doc_id}/pages/{number}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **_404},
)
def get_page_image(service: ServiceDep, doc_id: str, number: int) -> Response:
    try:
        png = service.page_png(doc_id, number)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No page {number} of document {doc_id}.") from exc
    # Content-addressed underneath: a page image never changes.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.post(
    "/{doc_id}/review",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentResult,
    responses={
        **_404,
        409: {"model": Problem, "description": "Not waiting for a review"},
        422: {"model": Problem, "description": "A correction does not fit the data"},
    },
)
def review_document(service: ServiceDep, caller: CallerDep, doc_id: str, body: ReviewDecision) -> DocumentResult:
    try:
        return service.review(doc_id, body.decision, body.corrections, body.boundaries, reviewer=caller).result()
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No document {doc_id}.") from exc
    except Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except BadCorrection as exc:
        raise HTTPException(422, detail=f"Bad correction: {exc}") from exc


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_404)
def delete_document(service: ServiceDep, doc_id: str) -> Response:
    try:
        service.delete(doc_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"No document {doc_id}.") from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
