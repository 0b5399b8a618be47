"""Labeling: the active-learning queue, documents with their annotations, per-annotator labels and spans,
accept/reject of pre-annotations, progress; and the labeling page at /ui (``api/routes/ui.py``).

Reads of annotators' work (queue, labels, progress, documents) take the annotator as ``?annotator=`` and need a key
with the ``read`` scope once any key exists. Writes need a key with the ``label`` scope; the annotator is the name
the key carries (a stored key's name, or ``NLPIPE_API_KEYS="alice:key1"``: that key acts as alice only) or, for a
plain key, the ``X-Annotator`` header, which may name anyone *except* an annotator some key carries (E650, HTTP
403): alice's annotations are written and deleted with alice's key only. Deleting an annotation or review always
needs being its annotator.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from api.deps import KeysDep, LabelAuth, ModelsDep, ReadAuth, SettingsDep, StoreDep
from api.params import DatasetName, row_id, seed_query
from api.routes import ui
from api.schemas import AnnotationsIn, ReviewIn
from nlpipe.errors import AuthError, ForbiddenError, InputError
from nlpipe.label.queue import build_queue
from nlpipe.label.suggest import document_for_review
from nlpipe.store import annotations as store_annotations
from nlpipe.store.annotation_checks import check_annotator

router = APIRouter(tags=["labeling"])
router.include_router(ui.router)

AnnotatorQuery = Annotated[
    str | None, Query(description="Annotator name: their own annotations and progress, their queue.")
]
DocumentId = Annotated[int, row_id("document")]


def current_annotator(
    keys: KeysDep,
    auth: LabelAuth,
    x_annotator: Annotated[
        str | None, Header(alias="X-Annotator", description="Annotator name, for API keys that carry none.")
    ] = None,
) -> str:
    """The annotator of a write: the name the API key carries (a stored key's name, NAME of NAME:KEY), else the
    X-Annotator header."""
    named = auth.name if auth is not None else None
    if named is not None:
        if x_annotator is not None and x_annotator.strip() != named:
            raise AuthError(
                "E631",
                f"This API key belongs to annotator {named!r}, but X-Annotator says {x_annotator!r}.",
                field="annotator",
            )
        return check_annotator(named)
    if x_annotator is None or not x_annotator.strip():
        raise InputError(
            "E630",
            "Name the annotator: send the X-Annotator header, or use a key with a name (`nlpipe keys create NAME`, "
            "or NAME:KEY in NLPIPE_API_KEYS).",
            field="annotator",
        )
    annotator = check_annotator(x_annotator)
    if annotator.casefold() in keys.names():
        raise ForbiddenError(
            "E650",
            f"Annotator {annotator!r} has an API key of their own; a plain key cannot act as them. Use their key, "
            "or another annotator name.",
            field="annotator",
        )
    return annotator


AnnotatorDep = Annotated[str, Depends(current_annotator)]


@router.get("/v1/labeling/annotator")
def whoami(annotator: AnnotatorDep, auth: LabelAuth) -> dict[str, Any]:
    """Who the API key (and X-Annotator header) identify; the labeling page checks its sign-in with this."""
    return {"annotator": annotator, "from": "key" if auth is not None and auth.name else "header"}


@router.get("/v1/datasets/{name}/queue")
def queue(
    name: DatasetName,
    store: StoreDep,
    settings: SettingsDep,
    models: ModelsDep,
    _auth: ReadAuth,
    strategy: Annotated[
        str | None, Query(description="uncertainty, random or diversity (default: uncertainty with a model).")
    ] = None,
    model: Annotated[str | None, Query(description="Classification model for the uncertainty strategy.")] = None,
    version: Annotated[str | None, Query(description="Model version or alias.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many documents to return.")] = 20,
    annotator: AnnotatorQuery = None,
    seed: Annotated[int | None, seed_query()] = None,
) -> dict[str, Any]:
    """The dataset's documents that still need a person (for ``annotator``: not yet labeled by them), in order."""
    predictor = models.get(model, version) if model else None
    return build_queue(
        store,
        name,
        strategy=strategy,
        predictor=predictor,
        limit=limit,
        annotator=annotator,
        seed=settings.seed if seed is None else seed,
    )


@router.get("/v1/datasets/{name}/labels")
def labels(name: DatasetName, store: StoreDep, _auth: ReadAuth) -> dict[str, list[str]]:
    """The document labels and entity types the dataset's annotations use."""
    with store.session() as s:
        return store_annotations.label_set(s, name)


@router.get("/v1/datasets/{name}/progress")
def progress(name: DatasetName, store: StoreDep, _auth: ReadAuth, annotator: AnnotatorQuery = None) -> dict[str, Any]:
    """Documents to label, done by the annotator (by anyone without one), remaining."""
    with store.session() as s:
        return store_annotations.progress(s, name, annotator)


@router.get("/v1/datasets/{name}/documents/{document_id}")
def document(
    name: DatasetName,
    document_id: DocumentId,
    store: StoreDep,
    models: ModelsDep,
    _auth: ReadAuth,
    annotator: AnnotatorQuery = None,
    model: Annotated[str | None, Query(description="Also suggest this model's predictions as pre-annotations.")] = None,
    version: Annotated[str | None, Query(description="Model version or alias.")] = None,
) -> dict[str, Any]:
    """A document's text, the annotator's own annotations, and the rule/model/import pre-annotations to review."""
    load = partial(models.get, model, version) if model else None
    return document_for_review(store, name, document_id, annotator=annotator, model=load)


@router.post("/v1/datasets/{name}/documents/{document_id}/annotations", status_code=201)
def annotate(
    name: DatasetName, document_id: DocumentId, body: AnnotationsIn, store: StoreDep, annotator: AnnotatorDep
) -> dict[str, Any]:
    """Add labels and spans as the calling annotator; ones they already have are returned with created=false."""
    with store.session() as s:
        rows = store_annotations.add_annotations(
            s, name, document_id, annotator, labels=body.labels, spans=[sp.model_dump() for sp in body.spans]
        )
    return {"annotator": annotator, "annotations": rows}


@router.delete("/v1/datasets/{name}/annotations/{annotation_id}")
def unannotate(
    name: DatasetName, annotation_id: Annotated[int, row_id("annotation")], store: StoreDep, annotator: AnnotatorDep
) -> dict[str, Any]:
    """Delete one of the caller's own annotations (undo)."""
    with store.session() as s:
        return {"deleted": store_annotations.delete_annotation(s, name, annotation_id, annotator)}


@router.post("/v1/datasets/{name}/documents/{document_id}/reviews", status_code=201)
def review(
    name: DatasetName, document_id: DocumentId, body: ReviewIn, store: StoreDep, annotator: AnnotatorDep
) -> dict[str, Any]:
    """Accept (store a human copy) or reject a rule/model/import pre-annotation as the calling annotator."""
    with store.session() as s:
        return store_annotations.review(s, name, document_id, annotator, **body.model_dump())


@router.delete("/v1/datasets/{name}/reviews/{review_id}")
def unreview(
    name: DatasetName, review_id: Annotated[int, row_id("review")], store: StoreDep, annotator: AnnotatorDep
) -> dict[str, Any]:
    """Undo one of the caller's reviews (an accept's human copy is deleted with it)."""
    with store.session() as s:
        return {"deleted": store_annotations.delete_review(s, name, review_id, annotator)}
