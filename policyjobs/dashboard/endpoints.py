"""The dashboard's pages: log in with a token, see a tenant's jobs, open one, retrigger it.

Every page shows only what the token may see through the API: its tenants, and jobs only
with `jobs.read` (lists with `jobs.list`), documents with `documents.read`, a retrigger
button with `documents.trigger`. A page asks for its session with the permissions it needs
(`Viewer`, `Lister`, …); a request without one is answered by `_Pages`: the login page, or
an error page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from policyjobs.api.auth import principal_of
from policyjobs.api.state import reads_of, runtime_of
from policyjobs.dashboard.chart import COLORS, stacked_bars, timeline
from policyjobs.dashboard.ports import Ports
from policyjobs.dashboard.session import (
    LOGIN_CSRF,
    SESSION,
    csrf_for,
    csrf_matches,
    new_login_csrf,
)
from policyjobs.domain import Link
from policyjobs.engine import Lane, listing, public_status
from policyjobs.engine.actions import UNSTARTED
from policyjobs.engine.jobs import PAUSED
from policyjobs.engine.selection import JobFilter
from policyjobs.engine.view import processing_errors
from policyjobs.exceptions import Conflict, InvalidInput, NotFound, PolicyjobsError
from policyjobs.intake.events import LOCATOR, LOCATOR_LENGTH
from policyjobs.security import audit
from policyjobs.security.audit import Actor
from policyjobs.security.permissions import ADMIN
from policyjobs.security.tokens import Principal
from policyjobs.store.database import reader
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
ROOT = "/dashboard"

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["status"] = public_status
templates.env.filters["errors"] = processing_errors
templates.env.filters["lane"] = lambda value: "" if value is None else (
    Lane(value % PAUSED).label + (" (paused)" if value >= PAUSED else ""))
templates.env.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True)
templates.env.filters["rfc3339"] = lambda value: "" if value is None else value.isoformat(
    timespec="seconds").replace("+00:00", "Z")  # the product's form of a time, as the API's


def _offset(session: Session, query: Mapping[str, str]) -> int:
    """Where a page of a list starts, as its `offset` says (0 if absent or below)."""
    try:
        return max(int(query.get("offset", "0")), 0)
    except ValueError:
        raise session.refuse(400, "offset must be a whole number") from None


def _moment(session: Session, query: Mapping[str, str], name: str) -> datetime | None:
    """The time a filter of the page names (RFC 3339, with an offset), or None."""
    text = query.get(name) or None
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise session.refuse(400, f"{name} must be a time with an offset, such as "
                                  "2027-01-01T00:00:00Z")
    return moment


def _render(request: Request, name: str, code: int = 200, /, **context: Any) -> Response:
    """Template `name` as the response, with HTTP status `code`."""
    return templates.TemplateResponse(request, name, context, status_code=code,
                                      headers=HEADERS)


class Answer(Exception):
    """Raised to answer a request with `response` instead of its page."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response


class Session:
    """A logged-in request: its token, principal and tenant."""

    def __init__(self, request: Request, token: str, principal: Principal, tenant: str,
                 tenants: list[str]) -> None:
        self.request, self.token, self.principal = request, token, principal
        self.tenant, self.tenants = tenant, tenants
        self.csrf = csrf_for(token)

    def may(self, group: str, *actions: str) -> bool:
        return all(self.principal.may(group, action) for action in actions)

    def url(self, path: str, **params: Any) -> str:
        query = urlencode({"tenant": self.tenant, **{k: v for k, v in params.items() if v}})
        return f"{ROOT}{path}?{query}"

    def refuse(self, code: int, message: str) -> Answer:
        """The error page to answer with, inside the session's pages."""
        return Answer(_render(self.request, "error.html", code, session=self, message=message))


def _to_login(forget: bool = False) -> Answer:
    page = RedirectResponse(f"{ROOT}/login", status_code=303, headers=HEADERS)
    if forget:
        page.delete_cookie(SESSION, path=ROOT)
    return Answer(page)


async def _session(request: Request) -> Session:
    """The request's session, or `Answer`: the login page without one, 400 or 403 for a
    tenant that is not a UUID or not the token's, 403 without `jobs.read`."""
    token = request.cookies.get(SESSION)
    if not token:
        raise _to_login()
    try:
        principal = await principal_of(request, token)
    except PolicyjobsError:
        raise _to_login(forget=True) from None
    if principal.tenants is None:
        tenants = sorted(await run_in_threadpool(_active_tenants, request))
    else:
        tenants = sorted(principal.tenants)
    asked = request.query_params.get("tenant")
    try:
        tenant = tenant_locator(asked, "tenant") if asked else (tenants[0] if tenants else "")
    except InvalidInput as exc:
        raise _error(request, 400, exc.detail) from None
    if not tenant or not principal.holds_tenant(tenant):
        raise _error(request, 403, f"this token does not hold tenant {asked or ''}".strip())
    found = Session(request, token, principal, tenant, tenants)
    request.state.session = found  # for `_Pages`, which answers what a page raises
    return found


def _error(request: Request, code: int, message: str) -> Answer:
    return Answer(_render(request, "error.html", code, message=message, session=None))


def needs(group: str, *actions: str) -> Callable[[Request], Awaitable[Session]]:
    """The session of a page that needs `group.action` for each of `actions`, besides the
    `jobs.read` every page needs."""

    async def session(request: Request) -> Session:
        found = await _session(request)
        for wanted, permissions in (("jobs", ("read",)), (group, actions)):
            if not found.may(wanted, *permissions):
                missing = next(a for a in permissions if not found.may(wanted, a))
                raise found.refuse(403, f"this token lacks the permission {wanted}.{missing}")
        return found

    return session


Viewer = Annotated[Session, Depends(needs("jobs", "read"))]
Lister = Annotated[Session, Depends(needs("jobs", "list"))]
DocumentReader = Annotated[Session, Depends(needs("documents", "read"))]
Retriggerer = Annotated[Session, Depends(needs("documents", "trigger"))]
HookReader = Annotated[Session, Depends(needs("webhooks", "read"))]
Operator = Annotated[Session, Depends(needs("jobs", "operate"))]
ATTEMPTS = 100  # of an endpoint's attempts on its page
FILTERS = ("kind", "status", "reference", "after", "before")  # of the job list
_REFERENCE = re.compile(LOCATOR)  # a reference locator, as intake takes one
DONE = {"retry": "retried: it runs again", "cancel": "cancelled"}  # an action's notice
AUDIT_PAGE = 100  # audit records on a page


class _Pages(APIRoute):
    """A dashboard route: what it raises becomes a page. `Answer` is the page it chose;
    `NotFound` is 404 and `Conflict` 409, shown inside the session's pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handle(request)
            except Answer as answer:
                return answer.response
            except (NotFound, Conflict) as exc:
                session = getattr(request.state, "session", None)
                return _render(request, "error.html", exc.status, session=session,
                               message=exc.detail)

        return answered


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(body).items()}


async def _checked_form(session: Session) -> dict[str, str]:
    """The posted form, which must carry the session's CSRF token."""
    form = await _form(session.request)
    if not csrf_matches(form.get("csrf"), session.csrf):
        raise session.refuse(400, "that form did not come from this dashboard")
    return form


def _active_tenants(request: Request) -> list[str]:
    with runtime_of(request).db.connect() as conn:
        return active_tenants(conn)


def _cookie(page: Response, request: Request, name: str, value: str) -> Response:
    page.set_cookie(name, value, httponly=True, samesite="strict", secure=_secure(request),
                    path=ROOT)
    return page


def _action(session: Session, action: str | None) -> str:
    """The action a page or a form names: `retry` or `cancel`."""
    if action not in DONE:
        raise session.refuse(400, f"no action {action!r}: retry or cancel")
    return action


def _job_filter(session: Session, query: Mapping[str, str]) -> tuple[JobFilter, dict[str, str]]:
    """The session tenant's jobs that a page's filters (kind, status, reference, created
    after and before) choose, and the filters as written, to show and pass on."""
    shown = {name: query.get(name) or "" for name in FILTERS}
    kinds = runtime_of(session.request).queue.registry.kinds
    if shown["kind"] and shown["kind"] not in kinds:
        raise session.refuse(400, f"no job kind {shown['kind']!r}")
    if shown["reference"] and not (len(shown["reference"]) <= LOCATOR_LENGTH
                                   and _REFERENCE.fullmatch(shown["reference"])):
        raise session.refuse(400, "a reference locator is letters, digits, - and _")
    if shown["status"] and shown["status"] not in listing.STATUSES:
        raise session.refuse(400, f"no status {shown['status']!r}; known: "
                                  f"{', '.join(listing.STATUSES)}")
    after, before = (_moment(session, query, name) for name in ("after", "before"))
    if after is not None and before is not None and after >= before:
        raise session.refuse(400, "the time range is empty: after is not before before")
    return JobFilter(tenant=session.tenant, kind=shown["kind"] or None,
                     status=shown["status"] or None, reference=shown["reference"] or None,
                     created_after=after, created_before=before), shown


def _all_links(request: Request) -> list[Link]:
    """Where the API shows what jobs are about, by reference type, from every domain."""
    return [link for domain in runtime_of(request).domains for link in domain.links]


def _links(request: Request, session: Session, job: Any) -> list[tuple[str, str]]:
    """What the job is about, as the API shows it: (label, the dashboard's view of it)."""
    if not job.reference_type or not job.reference_locator:
        return []
    return [(link.label, session.url("/view", api=link.path.format(
                tenant=session.tenant, locator=quote(job.reference_locator, safe=""))))
            for link in _all_links(request) if link.reference_type == job.reference_type]


def _linked(link: Link, tenant: str, path: str) -> bool:
    """Whether `path` is where `link` leads for some reference of `tenant`."""
    pattern = re.escape(link.path).replace(re.escape("{tenant}"), re.escape(tenant)).replace(
        re.escape("{locator}"), "[^/?#]+")
    return re.fullmatch(pattern, path) is not None


async def _pauses(request: Request, session: Session) -> list[Any]:
    """The pauses that hold the session tenant's jobs: its own, and every tenant's."""
    runtime = runtime_of(request)

    def read() -> list[Any]:
        return [p for p in runtime.queue.pauses()
                if p.every_tenant or p.tenant == session.tenant]

    return await run_in_threadpool(read)


def dashboard_router(ports: Ports) -> APIRouter:
    """The dashboard's routes, showing the documents and credit that `ports` read, acting
    through the operations `ports` name."""
    router = APIRouter(prefix=ROOT, include_in_schema=False, route_class=_Pages)
    documents, operations = ports.documents, ports.operations

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        csrf = new_login_csrf()
        page = _render(request, "login.html", csrf=csrf, session=None, error=None)
        return _cookie(page, request, LOGIN_CSRF, csrf)

    @router.post("/login")
    async def log_in(request: Request) -> Response:
        form = await _form(request)
        csrf = request.cookies.get(LOGIN_CSRF, "")
        if not csrf or not csrf_matches(form.get("csrf"), csrf):
            raise _error(request, 400, "the login form expired; load it again")
        token = form.get("token", "").strip()
        try:
            await principal_of(request, token)
        except PolicyjobsError:
            fresh = new_login_csrf()
            page = _render(request, "login.html", 401, csrf=fresh, session=None,
                           error="that token is unknown, expired or revoked")
            return _cookie(page, request, LOGIN_CSRF, fresh)
        page = _cookie(RedirectResponse(ROOT, status_code=303, headers=HEADERS), request,
                       SESSION, token)
        page.delete_cookie(LOGIN_CSRF, path=ROOT)
        return page

    @router.post("/logout")
    async def log_out(request: Request) -> Response:
        token = request.cookies.get(SESSION, "")
        form = await _form(request)
        if token and not csrf_matches(form.get("csrf"), csrf_for(token)):
            raise _error(request, 400, "that form did not come from this dashboard")
        raise _to_login(forget=True)

    @router.get("")
    async def overview(request: Request, session: Viewer) -> Response:
        reads, tenant = reads_of(request), session.tenant
        tally = await listing.tally(reads, tenant=tenant)
        unit, bars = timeline(tally.per_day, runtime_of(request).clock.now().date())
        stuck = await documents.timed_out_jobs(reads, tenant=tenant, limit=TROUBLED)
        credit = (await ports.accounts_with_credit(reads, tenant=tenant, limit=TROUBLED)
                  if session.may("invoices", "read") else None)
        return _render(request, "overview.html", session=session, colors=COLORS,
                       counts=tally.per_kind, credit=credit, chart=stacked_bars(bars, unit),
                       unit=unit,
                       failed=await listing.failed(reads, tenant=tenant, limit=TROUBLED),
                       timed_out=await listing.by_locators(reads, tenant=tenant,
                                                           locators=stuck))

    @router.get("/jobs")
    async def job_list(request: Request, session: Lister) -> Response:
        params = request.query_params
        offset = _offset(session, params)
        chosen, shown = _job_filter(session, params)
        rows = await listing.search(reads_of(request), tenant=session.tenant, kind=chosen.kind,
                                    status=chosen.status, reference=chosen.reference,
                                    after=chosen.created_after, before=chosen.created_before,
                                    offset=offset)
        return _render(request, "jobs.html", session=session, shown=shown, offset=offset,
                       page=listing.PAGE, kinds=sorted(runtime_of(request).queue.registry.kinds),
                       statuses=listing.STATUSES, rows=rows[:listing.PAGE],
                       more=len(rows) > listing.PAGE)

    @router.get("/jobs/bulk")
    async def bulk_page(request: Request, session: Operator) -> Response:
        params = request.query_params
        action = _action(session, params.get("action"))
        chosen, shown = _job_filter(session, params)
        runtime = runtime_of(request)

        def count() -> int:  # only reads: on SQLite, without waiting for the write lock
            with reader(runtime.db).connect() as conn:
                return operations.matched(conn, chosen)

        return _render(request, "bulk.html", session=session, action=action, shown=shown,
                       matched=await run_in_threadpool(count))

    @router.post("/jobs/bulk")
    async def bulk(request: Request, session: Operator) -> Response:
        form = await _checked_form(session)
        action = _action(session, form.get("action"))
        chosen, _ = _job_filter(session, form)
        runtime = runtime_of(request)

        def start() -> tuple[int, str]:
            with runtime.db.begin() as conn:
                return operations.act_on_jobs(conn, runtime.queue, action=action,
                                              chosen=chosen,
                                              actor=Actor.of(session.principal))

        matched, job = await run_in_threadpool(start)
        return RedirectResponse(session.url(f"/jobs/{job}", notice=(
            f"this job does the {action} of the {matched} jobs that matched")),
            status_code=303, headers=HEADERS)

    @router.get("/pauses")
    async def pauses_page(request: Request, session: Operator) -> Response:
        return _render(request, "pauses.html", session=session,
                       notice=request.query_params.get("notice"),
                       pauses=await _pauses(request, session),
                       kinds=sorted(runtime_of(request).queue.registry.kinds),
                       admin=ADMIN in session.principal.permissions)

    @router.post("/pauses")
    async def pause(request: Request, session: Operator) -> Response:
        form = await _checked_form(session)
        runtime, kind = runtime_of(request), form.get("kind", "")
        if kind not in runtime.queue.registry.kinds:
            raise session.refuse(400, f"no job kind {kind!r}")

        def paused() -> str:
            with runtime.db.begin() as conn:
                _, new = operations.pause(conn, runtime.queue, kind=kind, tenant=session.tenant,
                                          actor=Actor.of(session.principal))
            return f"{kind} paused" if new else f"{kind} was already paused"

        return RedirectResponse(session.url("/pauses", notice=await run_in_threadpool(paused)),
                                status_code=303, headers=HEADERS)

    @router.post("/pauses/{locator}/resume")
    async def resume(request: Request, locator: str, session: Operator) -> Response:
        await _checked_form(session)
        runtime = runtime_of(request)
        found = next((p for p in await _pauses(request, session) if p.locator == locator), None)
        if found is None:
            raise NotFound(f"no pause {locator} of this tenant")
        if found.every_tenant and ADMIN not in session.principal.permissions:
            raise session.refuse(403, "only an admin token resumes a kind paused for every "
                                      "tenant")

        def lift() -> None:
            with runtime.db.begin() as conn:
                operations.resume(conn, runtime.queue, locator=locator,
                                  actor=Actor.of(session.principal))

        await run_in_threadpool(lift)
        return RedirectResponse(session.url("/pauses", notice=f"{found.kind} resumed"),
                                status_code=303, headers=HEADERS)

    @router.get("/webhooks")
    async def webhooks_page(request: Request, session: HookReader) -> Response:
        endpoints = await ports.webhooks.endpoints(reads_of(request), tenant=session.tenant,
                                                   offset=0, limit=1000)
        return _render(request, "webhooks.html", session=session, endpoints=endpoints)

    @router.get("/audit")
    async def audit_page(request: Request, session: Operator) -> Response:
        query = request.query_params
        action = query.get("action") or None
        if action is not None and action not in audit.ACTIONS:
            raise session.refuse(400, f"unknown action {action!r}; known: "
                                      f"{', '.join(audit.ACTIONS)}")
        after, before = (_moment(session, query, name) for name in ("after", "before"))
        if after is not None and before is not None and after >= before:
            raise session.refuse(400, "the time range is empty: after is not before before")
        offset = _offset(session, query)
        rows = await ports.audit(reads_of(request), tenant=session.tenant, action=action,
                                 after=after, before=before, offset=offset,
                                 limit=AUDIT_PAGE + 1)
        return _render(request, "audit.html", session=session, actions=audit.ACTIONS,
                       action=action, after=query.get("after", ""),
                       before=query.get("before", ""), offset=offset, page=AUDIT_PAGE,
                       rows=rows[:AUDIT_PAGE], more=len(rows) > AUDIT_PAGE)

    @router.get("/webhooks/{locator}")
    async def webhook_page(request: Request, locator: str, session: HookReader) -> Response:
        event = request.query_params.get("event") or None
        attempts = await ports.webhooks.attempts(reads_of(request), tenant=session.tenant,
                                                 endpoint_=locator, event=event, offset=0,
                                                 limit=ATTEMPTS)
        return _render(request, "webhook.html", session=session, locator=locator, event=event,
                       attempts=attempts, most=ATTEMPTS)

    @router.get("/jobs/{locator}")
    async def job_page(request: Request, locator: str, session: Viewer) -> Response:
        reads, tenant = reads_of(request), session.tenant
        row = await listing.job(reads, tenant=tenant, locator=locator)
        rendered = row.kind == documents.kind
        shown = (await documents.of_job(reads, tenant=tenant, job_locator=locator)
                 if rendered and session.may("documents", "read") else [])
        retriggerable = (rendered and session.may("documents", "trigger")
                         and await documents.retriggerable(reads, status=row.status,
                                                           job_locator=locator))
        operator = session.may("jobs", "operate")
        paused = ([p for p in await _pauses(request, session) if p.kind == row.kind]
                  if operator else [])
        return _render(request, "job.html", session=session,
                       notice=request.query_params.get("notice"), job=row,
                       links=_links(request, session, row),
                       attempts=listing.attempts(row), parent=row.parent_locator,
                       children=await listing.children(reads, tenant=tenant, parent=locator),
                       documents=shown, retriggerable=retriggerable, operator=operator,
                       paused=paused, unstarted=UNSTARTED,
                       bulk=await operations.bulk_action(reads, locator))

    @router.get("/view")
    async def api_view(request: Request, session: Viewer) -> Response:
        path = request.query_params.get("api", "")
        if not any(_linked(link, session.tenant, path) for link in _all_links(request)):
            raise session.refuse(400, "the dashboard shows only what a job's reference "
                                      "links to")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app),
                                     base_url="http://dashboard") as api:
            answer = await api.get(path, headers={"Authorization": f"Bearer {session.token}"})
        try:
            shown = json.dumps(answer.json(), indent=2)
        except ValueError:
            shown = answer.text
        return _render(request, "view.html", session=session, path=path,
                       status=answer.status_code, shown=shown)

    @router.post("/jobs/{locator}/act")
    async def act_on_job(request: Request, locator: str, session: Operator) -> Response:
        form = await _checked_form(session)
        action = _action(session, form.get("action"))
        runtime = runtime_of(request)

        def act() -> str:
            with runtime.db.begin() as conn:
                verdicts = operations.act_now(conn, runtime.queue, action=action,
                                              tenant=session.tenant, locators=[locator],
                                              actor=Actor.of(session.principal))
            if locator not in verdicts:
                raise NotFound(f"no job {locator}")
            return verdicts[locator] or DONE[action]

        notice = await run_in_threadpool(act)
        return RedirectResponse(session.url(f"/jobs/{locator}", notice=notice),
                                status_code=303, headers=HEADERS)

    @router.post("/jobs/{locator}/retrigger")
    async def retrigger(request: Request, locator: str, session: Retriggerer) -> Response:
        await _checked_form(session)
        runtime = runtime_of(request)
        row = await listing.job(reads_of(request), tenant=session.tenant, locator=locator)

        def rerun() -> str:
            if row.kind != documents.kind:
                raise Conflict(f"job {locator} is not a documents job")
            with runtime.db.begin() as conn:
                documents.retrigger(conn, runtime.queue, tenant=session.tenant,
                                    reference_type=row.reference_type,
                                    reference_locator=row.reference_locator,
                                    job_locator=locator)
                audit.record(conn, Actor.of(session.principal), "documents.retrigger",
                             at=runtime.clock.now(), tenant=session.tenant,
                             jobLocators=[locator], referenceType=row.reference_type,
                             referenceLocator=row.reference_locator, via="dashboard")
            return "retriggered: it runs again"

        try:
            notice = await run_in_threadpool(rerun)
        except Conflict as exc:
            notice = exc.detail
        return RedirectResponse(session.url(f"/jobs/{locator}", notice=notice),
                                status_code=303, headers=HEADERS)

    @router.get("/documents/{locator}/file")
    async def document_file(request: Request, locator: str, session: DocumentReader) -> Response:
        row = await documents.document(reads_of(request), tenant=session.tenant,
                                       locator=locator)
        file = await run_in_threadpool(documents.file, row)
        # A rendered HTML document is the tenant's markup: shown sandboxed, it runs nothing.
        return Response(file.content, media_type=file.content_type, headers={
            **HEADERS, "Content-Security-Policy": HEADERS["Content-Security-Policy"] + "; sandbox",
            "Content-Disposition": f'inline; filename="{file.name}"'})

    return router


def _secure(request: Request) -> bool:
    """Whether the dashboard is served over https (directly, or behind a proxy that says so)."""
    return request.url.scheme == "https" or \
        request.headers.get("x-forwarded-proto", "").lower() == "https"
