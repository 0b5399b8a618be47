"""Datasets: list, stats, and document uploads (files or archives)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from api.deps import ApiKeyDep, SettingsDep
from nlpipe.errors import InputError
from nlpipe.intake import ingest_uploads
from nlpipe.store.datasets import check_name, dataset_stats, list_datasets

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


def _store(request: Request) -> Any:
    return request.app.state.store


@router.get("")
def list_all(request: Request) -> list[dict[str, Any]]:
    with _store(request).session() as s:
        return list_datasets(s)


@router.get("/{name}")
def stats(name: str, request: Request) -> dict[str, Any]:
    with _store(request).session() as s:
        return dataset_stats(s, name)


@router.post("/{name}/documents")
async def upload(
    name: str,
    request: Request,
    settings: SettingsDep,
    _key: ApiKeyDep,
    files: Annotated[list[UploadFile], File(description="Documents or archives (.zip, .tar, .tar.gz).")],
    ocr: Annotated[str | None, Form(description="auto, always or never.")] = None,
    password: Annotated[str | None, Form(description="Password of encrypted PDFs or zip members.")] = None,
) -> dict[str, Any]:
    """Store the documents in the uploaded files; the result lists each file's documents and failures."""
    check_name(name)
    uploads = []
    for i, f in enumerate(files):
        if not f.filename:
            raise InputError("E608", f"Uploaded file {i} has no file name.", field=f"files[{i}]")
        uploads.append((f.filename, await f.read()))
    return ingest_uploads(_store(request), settings, name, uploads, password=password, ocr=ocr).to_dict()
