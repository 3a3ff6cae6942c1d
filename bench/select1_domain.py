"""The read API's baseline, loaded by `policyjobs serve` via POLICYJOBS_PLUGINS in
`bench/run api`: a route with the documents list's token guard and path that runs one
`SELECT 1` through the same read path (`store.readers`) and answers a tiny JSON body.

A list page's rate against this route's measures this product's route code (its query,
its rows, their serialization), not the framework, the guard or the read path they share.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request
from starlette.responses import Response

from policyjobs.api.openapi import secured_router
from policyjobs.api.state import reads_of
from policyjobs.documents.endpoints import Locator, Reader, Tenant
from policyjobs.domain import Domain

PATH = "/document/{tenantLocator}/documents/transaction/{locator}/select1"
_ONE = sa.select(sa.literal(1).label("one"))

router = secured_router(tags=["bench"])


@router.get(PATH, operation_id="benchSelectOne", include_in_schema=False)
async def select_one(request: Request, tenantLocator: Tenant, locator: Locator,
                     _principal: Reader) -> Response:
    """`SELECT 1` on the app's reads, behind the documents guard."""
    row = await reads_of(request).first(_ONE, {})
    return Response(b'{"one":%d}' % (row.one if row else 0), media_type="application/json")


domain = Domain(name="bench.select1", routers=[router])
