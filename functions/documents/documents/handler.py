"""Documents HTTP handler: parse, call one domain function, answer. Errors map in ONE place."""

from __future__ import annotations

from typing import Any

from documents import bootstrap, domain, forms
from hmskit.correlation import correlation_id_of
from hmskit.http import WindowApp, json_response
from hmskit.observability import entrypoint, metrics
from hmskit.problems import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)

BASE = "/api/v1/docs"
NO_STORE = {"Cache-Control": "no-store"}

app = WindowApp(
    "documents",
    errors={
        domain.DocumentNotFoundError: NotFoundError,
        domain.UnsupportedDocumentTypeError: UnsupportedMediaTypeError,
        domain.DocumentTooLargeError: PayloadTooLargeError,
        domain.EmptyDocumentError: UnprocessableError,
        domain.DocumentNotAvailableError: ConflictError,
        domain.UploadNotPendingError: ConflictError,
        domain.UploadMissingError: ConflictError,
        domain.UploadChangedError: ConflictError,
        domain.UploadRejectedError: UnprocessableError,
        domain.ObjectStoreError: ServiceUnavailableError,
        forms.NotMultipartError: UnsupportedMediaTypeError,
        forms.MalformedFormError: BadRequestError,
        forms.MissingFileError: UnprocessableError,
        forms.TooManyFilesError: UnprocessableError,
    },
)


def _answer(deps: bootstrap.Deps, doc: domain.Document) -> dict[str, object]:
    return {**doc.public(), "url": deps.objects.location(doc.id)}


@app.post(BASE, idempotent=True)
def upload_document() -> Any:
    from documents.models import UploadFields

    owner = app.principal().sub
    form = forms.parse_upload(app.header("content-type"), app.body_bytes())
    fields = UploadFields.model_validate(form.fields)
    upload = domain.Upload(filename=form.filename, data=form.data)
    deps: bootstrap.Deps = app.deps
    correlation_id = correlation_id_of(app.event.raw_event)

    def store() -> Any:
        doc = domain.upload_document(
            deps.documents,
            deps.objects,
            owner=owner,
            upload=upload,
            kind=fields.kind,
            renewal_id=fields.renewal_id,
            limits=deps.limits,
            new_id=deps.new_id,
            now_iso=deps.now_iso,
            events=deps.events,
            correlation_id=correlation_id,
        )
        metrics().add_metric(name="DocumentStored", unit="Count", value=1)
        return json_response(201, _answer(deps, doc), {"Location": f"{BASE}/{doc.id}"})

    payload = {"sha256": upload.sha256, "filename": form.filename, **fields.model_dump(mode="json")}
    return app.idempotent(payload, store)


@app.post(f"{BASE}/uploads", idempotent=True)
def start_upload() -> Any:
    from documents.models import StartUpload

    owner = app.principal().sub
    request = app.json_body(StartUpload)
    deps: bootstrap.Deps = app.deps

    def start() -> Any:
        doc, post = domain.start_upload(
            deps.documents,
            deps.objects,
            owner=owner,
            content_type=request.content_type,
            size=request.size,
            filename=request.filename,
            kind=request.kind,
            renewal_id=request.renewal_id,
            limits=deps.limits,
            new_id=deps.new_id,
            now_iso=deps.now_iso,
        )
        body = {
            **_answer(deps, doc),
            "upload": {"url": post.url, "fields": post.fields},
            "expires_in": deps.limits.url_ttl_seconds,
        }
        return json_response(201, body, {"Location": f"{BASE}/{doc.id}", **NO_STORE})

    return app.idempotent(request.model_dump(mode="json"), start)


@app.post(f"{BASE}/uploads/{{id}}/complete")
def complete_upload(id: str) -> Any:
    deps: bootstrap.Deps = app.deps
    doc = domain.complete_upload(
        deps.documents,
        deps.objects,
        owner=app.principal().sub,
        doc_id=id,
        events=deps.events,
        correlation_id=correlation_id_of(app.event.raw_event),
    )
    return json_response(200, _answer(deps, doc))


@app.get(f"{BASE}/{{id}}")
def get_document(id: str) -> Any:
    deps: bootstrap.Deps = app.deps
    doc = domain.get_document(deps.documents, owner=app.principal().sub, doc_id=id)
    return json_response(200, _answer(deps, doc))


@app.get(f"{BASE}/{{id}}/content")
def document_content(id: str) -> Any:
    deps: bootstrap.Deps = app.deps
    link = domain.content_link(
        deps.documents, deps.objects, owner=app.principal().sub, doc_id=id, limits=deps.limits
    )
    body = {"url": link.url, "expires_in": link.expires_in}
    return json_response(302, body, {"Location": link.url, **NO_STORE})


@app.get(f"{BASE}/health", rate_limited=False)
def health() -> Any:
    return json_response(200, {"window": "documents", "status": "ok"})


def handle(event: dict[str, Any], context: Any, deps: bootstrap.Deps) -> dict[str, Any]:
    return app.handle(event, context, deps)


@entrypoint
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP requests, and (in AWS) the table stream and the sweep that relay the outbox."""
    from hmskit.entry import dispatch

    deps = bootstrap.deps()
    return dispatch(event, context, http=lambda e, c: handle(e, c, deps), relay=deps.relay)
