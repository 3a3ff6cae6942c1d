"""The dashboard's pages: log in with a token, see a tenant's jobs, open one, retrigger it.

Every page shows only what the token may see through the API: its tenants, and jobs only
with `jobs.read` (lists with `jobs.list`), documents with `documents.read`, a retrigger
button with `documents.trigger`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from policyjobs.api.auth import principal_of
from policyjobs.api.state import runtime_of
from policyjobs.dashboard import queries
from policyjobs.dashboard.chart import COLORS, stacked_bars, timeline
from policyjobs.dashboard.session import (
    LOGIN_CSRF,
    SESSION,
    csrf_for,
    csrf_matches,
    new_login_csrf,
)
from policyjobs.documents import service as documents
from policyjobs.documents.storage import Storage
from policyjobs.engine import public_status
from policyjobs.exceptions import Conflict, InvalidInput, NotFound, PolicyjobsError
from policyjobs.invoicing import credit
from policyjobs.security.tokens import Principal
from policyjobs.store.database import reader
from policyjobs.store.reads import processing_errors
from policyjobs.tenants.service import active_tenants, tenant_locator

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
TROUBLED = 10

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["status"] = public_status
templates.env.filters["errors"] = processing_errors
templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True)


def _render(request: Request, name: str, code: int = 200, /, **context: Any) -> Response:
    """Template `name` as the response, with HTTP status `code`."""
    return templates.TemplateResponse(request, name, context, status_code=code,
                                      headers=HEADERS)


def _problem(request: Request, code: int, message: str) -> Response:
    return _render(request, "error.html", code, message=message, session=None)


class Session:
    """A logged-in request: its token, principal, tenant and a connection to read with."""

    def __init__(self, request: Request, token: str, principal: Principal, tenant: str,
                 tenants: list[str]) -> None:
        self.request, self.token, self.principal = request, token, principal
        self.tenant, self.tenants = tenant, tenants
        self.csrf = csrf_for(token)

    def may(self, group: str, *actions: str) -> bool:
        return all(self.principal.may(group, action) for action in actions)

    def url(self, path: str, **params: Any) -> str:
        query = urlencode({"tenant": self.tenant, **{k: v for k, v in params.items() if v}})
        return f"/dashboard{path}?{query}"


async def _session(request: Request) -> Session | Response:
    """The request's session, or the page to answer instead: the login page without one,
    400 or 403 for a tenant that is not a UUID or not the token's."""
    token = request.cookies.get(SESSION)
    if not token:
        return RedirectResponse("/dashboard/login", status_code=303, headers=HEADERS)
    try:
        principal = await principal_of(request, token)
    except PolicyjobsError:
        page = RedirectResponse("/dashboard/login", status_code=303, headers=HEADERS)
        page.delete_cookie(SESSION, path="/dashboard")
        return page
    if principal.tenants is None:
        tenants = sorted(await run_in_threadpool(_read, request, active_tenants))
    else:
        tenants = sorted(principal.tenants)
    asked = request.query_params.get("tenant")
    try:
        tenant = tenant_locator(asked, "tenant") if asked else (tenants[0] if tenants else "")
    except InvalidInput as exc:
        return _problem(request, 400, exc.detail)
    if not tenant or not principal.holds_tenant(tenant):
        return _problem(request, 403, f"this token does not hold tenant {asked or ''}".strip())
    if not principal.may("jobs", "read"):
        return _problem(request, 403, "this token lacks the permission jobs.read")
    return Session(request, token, principal, tenant, tenants)


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body).items()}


def _read(request: Request, work: Any) -> Any:
    with reader(runtime_of(request).db).connect() as conn:
        return work(conn)


def dashboard_router(storage: Storage) -> APIRouter:
    """The dashboard's routes, serving rendered files from `storage`."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        csrf = new_login_csrf()
        page = _render(request, "login.html", csrf=csrf, session=None, error=None)
        page.set_cookie(LOGIN_CSRF, csrf, httponly=True, samesite="strict",
                        secure=_secure(request), path="/dashboard")
        return page

    @router.post("/login")
    async def log_in(request: Request) -> Response:
        form = await _form(request)
        csrf = request.cookies.get(LOGIN_CSRF, "")
        if not csrf or not csrf_matches(form.get("csrf"), csrf):
            return _render(request, "error.html", 400, session=None,
                           message="the login form expired; load it again")
        token = form.get("token", "").strip()
        try:
            await principal_of(request, token)
        except PolicyjobsError:
            fresh = new_login_csrf()
            page = _render(request, "login.html", 401, csrf=fresh, session=None,
                           error="that token is unknown, expired or revoked")
            page.set_cookie(LOGIN_CSRF, fresh, httponly=True, samesite="strict",
                            secure=_secure(request), path="/dashboard")
            return page
        page = RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
        page.set_cookie(SESSION, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/dashboard")
        page.delete_cookie(LOGIN_CSRF, path="/dashboard")
        return page

    @router.post("/logout")
    async def log_out(request: Request) -> Response:
        token = request.cookies.get(SESSION, "")
        form = await _form(request)
        if token and not csrf_matches(form.get("csrf"), csrf_for(token)):
            return _render(request, "error.html", 400, session=None,
                           message="that form did not come from this dashboard")
        page = RedirectResponse("/dashboard/login", status_code=303, headers=HEADERS)
        page.delete_cookie(SESSION, path="/dashboard")
        return page

    @router.get("")
    async def overview(request: Request) -> Response:
        session = await _session(request)
        if not isinstance(session, Session):
            return session
        runtime = runtime_of(request)

        def load(conn: sa.Connection) -> dict[str, Any]:
            tally = queries.tally(conn, tenant=session.tenant)
            unit, bars = timeline(tally.per_day, runtime.clock.now().date())
            stuck = documents.timed_out_jobs(conn, tenant=session.tenant, limit=TROUBLED)
            credits = (credit.accounts_with_credit(conn, tenant=session.tenant,
                                                   limit=TROUBLED)
                       if session.may("invoices", "read") else None)
            return {"counts": tally.per_kind, "credit": credits,
                    "chart": stacked_bars(bars, unit), "unit": unit,
                    "failed": queries.failed(conn, tenant=session.tenant, limit=TROUBLED),
                    "timed_out": queries.by_locators(conn, tenant=session.tenant,
                                                     locators=stuck)}

        found = await run_in_threadpool(_read, request, load)
        return _render(request, "overview.html", session=session, colors=COLORS, **found)

    @router.get("/jobs")
    async def job_list(request: Request) -> Response:
        session = await _session(request)
        if not isinstance(session, Session):
            return session
        if not session.may("jobs", "read", "list"):
            return _render(request, "error.html", 403, session=session,
                           message="this token lacks the permission jobs.list")
        params = request.query_params
        try:
            offset = max(int(params.get("offset", "0")), 0)
        except ValueError:
            return _render(request, "error.html", 400, session=session,
                           message="offset must be a whole number")
        kind, status = params.get("kind") or None, params.get("status") or None
        reference = params.get("reference") or None

        def load(conn: sa.Connection) -> dict[str, Any]:
            rows = queries.search(conn, tenant=session.tenant, kind=kind, status=status,
                                  reference=reference, offset=offset)
            return {"rows": rows[:queries.PAGE], "more": len(rows) > queries.PAGE}

        found = await run_in_threadpool(_read, request, load)
        return _render(request, "jobs.html", session=session, kind=kind, status=status,
                       reference=reference, offset=offset, page=queries.PAGE,
                       kinds=sorted(runtime_of(request).queue.registry.kinds),
                       statuses=queries.STATUSES, **found)

    @router.get("/jobs/{locator}")
    async def job_page(request: Request, locator: str) -> Response:
        session = await _session(request)
        if not isinstance(session, Session):
            return session

        def load(conn: sa.Connection) -> dict[str, Any]:
            row = queries.job(conn, tenant=session.tenant, locator=locator)
            is_documents = row.kind == "documents"
            shown = is_documents and session.may("documents", "read")
            return {"job": row,
                    "parent": row.parent_locator,
                    "children": queries.children(conn, tenant=session.tenant, parent=locator),
                    "documents": documents.documents_of_job(
                        conn, tenant=session.tenant, job_locator=locator) if shown else [],
                    "retriggerable": is_documents and session.may("documents", "trigger")
                    and documents.retriggerable(conn, status=row.status, job_locator=locator)}

        try:
            found = await run_in_threadpool(_read, request, load)
        except NotFound as exc:
            return _render(request, "error.html", 404, session=session, message=exc.detail)
        return _render(request, "job.html", session=session,
                       notice=request.query_params.get("notice"), **found)

    @router.post("/jobs/{locator}/retrigger")
    async def retrigger(request: Request, locator: str) -> Response:
        session = await _session(request)
        if not isinstance(session, Session):
            return session
        form = await _form(request)
        if not csrf_matches(form.get("csrf"), session.csrf):
            return _render(request, "error.html", 400, session=session,
                           message="that form did not come from this dashboard")
        if not session.may("documents", "trigger"):
            return _render(request, "error.html", 403, session=session,
                           message="this token lacks the permission documents.trigger")
        runtime = runtime_of(request)

        def rerun() -> str:
            with runtime.db.begin() as conn:
                row = queries.job(conn, tenant=session.tenant, locator=locator)
                if row.kind != "documents":
                    raise Conflict(f"job {locator} is not a documents job")
                documents.retrigger_job(conn, runtime.queue, tenant=session.tenant,
                                        reference_type=row.reference_type,
                                        reference_locator=row.reference_locator,
                                        job_locator=locator)
            return "retriggered: it runs again"

        try:
            notice = await run_in_threadpool(rerun)
        except NotFound as exc:
            return _render(request, "error.html", 404, session=session, message=exc.detail)
        except Conflict as exc:
            notice = exc.detail
        return RedirectResponse(session.url(f"/jobs/{locator}", notice=notice),
                                status_code=303, headers=HEADERS)

    @router.get("/documents/{locator}/file")
    async def document_file(request: Request, locator: str) -> Response:
        session = await _session(request)
        if not isinstance(session, Session):
            return session
        if not session.may("documents", "read"):
            return _render(request, "error.html", 403, session=session,
                           message="this token lacks the permission documents.read")
        try:
            row = await run_in_threadpool(_read, request, lambda conn: documents.document(
                conn, tenant=session.tenant, locator=locator))
            file = documents.document_file(storage, row)
        except (NotFound, Conflict) as exc:
            code = 404 if isinstance(exc, NotFound) else 409
            return _render(request, "error.html", code, session=session, message=exc.detail)
        # A rendered HTML document is the tenant's markup: shown sandboxed, it runs nothing.
        return Response(file.content, media_type=file.content_type, headers={
            **HEADERS, "Content-Security-Policy": HEADERS["Content-Security-Policy"] + "; sandbox",
            "Content-Disposition": f'inline; filename="{file.name}"'})

    return router


def _secure(request: Request) -> bool:
    """Whether the dashboard is served over https (directly, or behind a proxy that says so)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"
