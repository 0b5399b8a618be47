"""The labeling page: static HTML, JavaScript and CSS from ``api/static``, served at ``/ui``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parents[1] / "static"

#: Headers of every /ui response: the page loads only its own script and style, talks only to this server, may
#: not be framed (clickjacking), sends no Referer, and no response is sniffed as another type.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_CACHE = {"Cache-Control": "no-cache", **SECURITY_HEADERS}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=NO_CACHE)


@router.get("/ui/app.js")
def script() -> FileResponse:
    return FileResponse(STATIC / "app.js", media_type="text/javascript", headers=NO_CACHE)


@router.get("/ui/style.css")
def style() -> FileResponse:
    return FileResponse(STATIC / "style.css", media_type="text/css", headers=NO_CACHE)
