"""What the read API answers about everything in a store, to compare a store before and after
an upgrade: the URLs of every read route over the store's rows, each answer, and what
changed between two sets of answers.

The URLs are planned from the tables every release has kept (`jobs` and the artifacts),
read with plain SQL so that a store of any revision can be planned, and the answers are
taken through any client with a `get(url)`: an old release's server over HTTP, or the
current app in-process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

Answer = dict[str, Any]
LIST = "?count=1000"


def plan_urls(db: sa.Engine) -> list[str]:
    """Every read route's URL over the rows of `db`, in a stable order."""
    with db.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        urls = [url for planner in _PLANNERS if planner.table in tables
                for url in planner.urls(conn)]
    return sorted(dict.fromkeys(urls))


class _Planner:
    """The URLs one table's rows lead to: `table`'s rows, selected by `sql`, each made into
    URLs by `make`."""

    def __init__(self, table: str, sql: str, make: Callable[..., Iterable[str]]) -> None:
        self.table, self.sql, self.make = table, sql, make

    def urls(self, conn: sa.Connection) -> Iterator[str]:
        for row in conn.exec_driver_sql(self.sql):
            yield from self.make(*row)


def _documents_job(tenant: str, reference_type: str, reference: str, job: str) -> list[str]:
    base = f"/document/{tenant}/documents"
    if reference_type == "invoice":
        return [f"{base}/invoices/{reference}/jobs", f"{base}/invoices/{reference}/jobs/{job}"]
    return [f"{base}/{reference_type}/{reference}/jobs/list{LIST}",
            f"{base}/{reference_type}/{reference}/jobs/{job}"]


def _installments_job(tenant: str, reference_type: str, reference: str) -> list[str]:
    path = {"quote": "quotes", "transaction": "transactions"}.get(reference_type)
    return [f"/billing/{tenant}/jobs/installments/{path}/{reference}/list{LIST}"] if path else []


def _account_job(tenant: str, account: str | None, job: str) -> list[str]:
    jobs = f"/billing/{tenant}/jobs"
    urls = [f"{jobs}/invoicing/{job}", f"{jobs}/earlyInvoicing/{job}"]
    if account:
        urls += [f"{jobs}/invoicing/accounts/{account}/list{LIST}",
                 f"{jobs}/earlyInvoicing/accounts/{account}/list{LIST}"]
    return urls


def _installment(tenant: str, locator: str, quote: str | None, transaction: str | None,
                 policy: str | None) -> list[str]:
    billing = f"/billing/{tenant}"
    urls = [f"{billing}/installments/{locator}"]
    if quote:
        urls += [f"{billing}/installments/quotes/{quote}/list{LIST}",
                 f"{billing}/jobs/invoices/quotes/{quote}/list{LIST}"]
    if transaction:
        urls.append(f"{billing}/installments/transactions/{transaction}/list{LIST}")
    if policy:
        urls.append(f"{billing}/jobs/invoices/policies/{policy}/list{LIST}")
    return urls


def _lattice(tenant: str, locator: str, quote: str | None) -> list[str]:
    billing = f"/billing/{tenant}/installmentLattices"
    return [f"{billing}/{locator}", *([f"{billing}/quotes/{quote}"] if quote else [])]


def _invoice(tenant: str, locator: str, account: str) -> list[str]:
    billing = f"/billing/{tenant}"
    return [f"{billing}/invoices/{locator}",
            f"{billing}/invoices/accounts/{account}/list{LIST}&includeZeroAmountInvoices=true",
            f"{billing}/jobs/delinquencies/invoices/{locator}/list{LIST}",
            f"{billing}/delinquencies/invoices/{locator}/list{LIST}"]


def _delinquency(tenant: str, locator: str) -> list[str]:
    billing = f"/billing/{tenant}"
    return [f"{billing}/delinquencies/{locator}",
            f"{billing}/delinquencies/{locator}/events/list{LIST}",
            f"{billing}/jobs/delinquencies/{locator}/list{LIST}",
            f"{billing}/jobs/delinquencies/{locator}/events/list{LIST}"]


_PLANNERS = (
    _Planner("jobs", "SELECT tenant, reference_type, reference_locator, locator FROM jobs "
             "WHERE kind = 'documents'", _documents_job),
    _Planner("jobs", "SELECT tenant, reference_type, reference_locator FROM jobs "
             "WHERE kind = 'installments'", _installments_job),
    _Planner("jobs", "SELECT tenant, reference_locator, locator FROM jobs "
             "WHERE kind = 'invoicing.account'", _account_job),
    _Planner("documents", "SELECT tenant, locator FROM documents",
             lambda tenant, locator: [f"/document/{tenant}/documents/{locator}",
                                      f"/document/{tenant}/documents/{locator}/document"]),
    _Planner("installments", "SELECT tenant, locator, quote_locator, transaction_locator, "
             "policy_locator FROM installments", _installment),
    _Planner("installment_lattices", "SELECT tenant, locator, quote_locator "
             "FROM installment_lattices", _lattice),
    _Planner("invoices", "SELECT tenant, locator, account_locator FROM invoices", _invoice),
    _Planner("delinquencies", "SELECT tenant, locator FROM delinquencies", _delinquency),
    _Planner("account_credits", "SELECT tenant, account_locator, currency FROM account_credits",
             lambda tenant, account, currency: [
                 f"/billing/{tenant}/accounts/{account}/credit?currency={currency}"]),
    _Planner("delinquency_events", "SELECT tenant, locator FROM delinquency_events",
             lambda tenant, locator: [f"/billing/{tenant}/delinquencies/events/{locator}"]),
)


def answer(status: int, content_type: str, body: bytes, as_json: Callable[[], Any]) -> Answer:
    """One response, as it is kept and compared: its status and its JSON, or for a file its
    content type and digest."""
    if content_type.split(";")[0].strip() in ("application/json", "application/problem+json"):
        return {"status": status, "json": as_json()}
    return {"status": status, "contentType": content_type,
            "sha256": hashlib.sha256(body).hexdigest()}


def take(get: Callable[[str], Any], urls: Iterable[str]) -> dict[str, Answer]:
    """The answer to each of `urls`, from `get` (an httpx or TestClient `get` with the token
    in its headers)."""
    answers = {}
    for url in urls:
        response = get(url)
        answers[url] = answer(response.status_code, response.headers.get("content-type", ""),
                              response.content, response.json)
    return answers


def changes(before: dict[str, Answer], after: dict[str, Answer], *,
            approximate: Mapping[str, timedelta] | None = None) -> list[str]:
    """How `after` fails to answer as `before` did: a status that changed, or a field that is
    gone or holds another value. Fields that `after` adds, or fills where `before` had
    `null`, are not changes; nor is a time in a field named in `approximate` that moved by
    less than the time given there."""
    close = approximate or {}
    found: list[str] = []
    for url, old in before.items():
        new = after.get(url)
        if new is None:
            found.append(f"{url}: not asked")
        elif new["status"] != old["status"]:
            found.append(f"{url}: status {old['status']} became {new['status']}: "
                         f"{str(new.get('json'))[:300]}")
        elif "json" in old:
            found += [f"{url}: {where}"
                      for where in _kept(old["json"], new.get("json"), "", close)]
        elif (old["contentType"], old["sha256"]) != (new.get("contentType"), new.get("sha256")):
            found.append(f"{url}: the file changed")
    return found


def _kept(old: Any, new: Any, where: str, close: Mapping[str, timedelta]) -> Iterator[str]:
    """Where `new` lacks or changes what `old` holds: problem details' wording aside, and a
    value the old release left `null` may have one now (a newer release fills it in)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            if key not in new:
                yield f"{where}.{key} is gone"
            elif not (key == "detail" and "status" in old):
                yield from _kept(value, new[key], f"{where}.{key}", close)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield f"{where} had {len(old)} items, now {len(new)}"
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            yield from _kept(a, b, f"{where}[{index}]", close)
    elif old is not None and old != new and not _near(old, new, close.get(where.rsplit(".")[-1])):
        yield f"{where} was {old!r}, now {new!r}"


def _near(old: Any, new: Any, within: timedelta | None) -> bool:
    """Whether two RFC 3339 times are less than `within` apart."""
    if within is None or not (isinstance(old, str) and isinstance(new, str)):
        return False
    try:
        return abs(datetime.fromisoformat(old) - datetime.fromisoformat(new)) < within
    except ValueError:
        return False
