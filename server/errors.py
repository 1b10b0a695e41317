"""Typed JSON errors: every failure is {code, message}, never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import metrics, signin_page
from .services import errors as domain

log = logging.getLogger("zkvault.server")


class ErrorBody(BaseModel):
    code: str
    message: str
    current_revision: int | None = None


class ApiError(Exception):
    """Raised by the HTTP layer (routers, dependencies); turned into ErrorBody."""

    def __init__(
        self, status: int, code: str, message: str, *, current_revision: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.current_revision = current_revision


# The one place a service's refusal becomes an HTTP status (most specific class first).
_DOMAIN_STATUS: tuple[tuple[type[domain.DomainError], int], ...] = (
    (domain.NotAuthenticated, 401),
    (domain.Forbidden, 403),
    (domain.NotFound, 404),
    (domain.Gone, 410),
    (domain.Conflict, 409),
    (domain.Invalid, 422),
    (domain.TooLarge, 413),
    (domain.RateLimited, 429),
    (domain.HistoryFull, 507),
    (domain.Unavailable, 503),
    (domain.SignInRefused, 400),
)


def domain_status(exc: domain.DomainError) -> int:
    return next(status for cls, status in _DOMAIN_STATUS if isinstance(exc, cls))


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every route: these can come from the middleware or validation.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _doc("Malformed request (code: bad_request)"),
    413: _doc("Body too large (code: too_large)"),
    422: _doc("Invalid input (code: invalid_request)"),
    429: _doc("Rate limited (code: rate_limited)"),
    500: _doc("Unexpected server error (code: internal)"),
    503: _doc("The database is unavailable; retry (code: database_unavailable)"),
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _doc(
        "Token refused (codes: revoked, unknown_signing_key, token_expired, unauthorized;"
        " docs/server.md says which are final)"
    ),
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Not authenticated",
        403: "Not allowed: the caller's team role is too low (code: team_role)",
        404: "Not found",
        409: "Conflict (for a stale vault write: code revision_conflict, with current_revision)",
        410: "Gone: expired or already used",
        507: "The account's kept vault history is full (code: history_full)",
    }
    return {s: _doc(descriptions.get(s, "Error")) for s in statuses}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    metrics.error(code)
    body = ErrorBody(code=code, message=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if signin_page.wanted(request):  # a person in a browser: a page, not JSON
            return signin_page.render(exc.status, exc.code, exc.message)
        return error_response(
            exc.status, exc.code, exc.message, current_revision=exc.current_revision
        )

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, domain.DomainError)
        if signin_page.wanted(request):
            return signin_page.render(domain_status(exc), exc.code, exc.message)
        revision = exc.current_revision if isinstance(exc, domain.Conflict) else None
        response = error_response(
            domain_status(exc), exc.code, exc.message, current_revision=revision
        )
        if isinstance(exc, domain.RateLimited) and exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        response = error_response(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Name the field and the rule, never echo the input (it may be a secret).
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Type and place only: an exception's message or locals may hold input.
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
        log.error(
            "unhandled %s at %s on %s %s",
            type(exc).__name__,
            where,
            request.method,
            request.url.path,
        )
        return error_response(500, "internal", "internal server error")

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        # The database went away (restart, failover). SQLAlchemy has already invalidated
        # the pooled connections, so the client's retry gets a fresh one: a 503, not a 500.
        log.warning("database unavailable: %s", type(exc).__name__)
        message = "the database is unavailable; retry shortly"
        if signin_page.wanted(request):
            return signin_page.render(503, "database_unavailable", message)
        return error_response(503, "database_unavailable", message)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(domain.DomainError, domain_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
