"""What a tenant's fields must look like: its id (a slug - lowercase a-z/0-9 words joined by '-',
at most MAX_TENANT_ID characters, the width of tenants.tenant_id), its name, its capital, the actor
named on a change, and the plan/policy objects. Kept apart from the store because the castle's
gatekeeper checks tenant ids by the same rules before it looks a tenant up; every check refuses
with TenantError ('bad_input' unless a more specific code fits).
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from quantsentinel.risk.errors import TenantError
from quantsentinel.risk.tenancy.policy import BrokeragePlan, RiskPolicy

TENANT_ID_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TENANT_ID = 64  # tenants.tenant_id is String(64)
MAX_NAME = 200
MAX_ACTOR = 100


def slugify(name: str) -> str:
    """A tenant id from a name: ASCII-folded, lowercase, runs of anything else become one '-'."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:MAX_TENANT_ID].rstrip("-")


def validate_tenant_id(tenant_id: object) -> str:
    """An explicit tenant id must already be what slugify produces: [a-z0-9] words joined by '-'."""
    if not (
        isinstance(tenant_id, str)
        and len(tenant_id) <= MAX_TENANT_ID
        and TENANT_ID_PATTERN.fullmatch(tenant_id)
    ):
        raise TenantError(
            "bad_input",
            f"tenant id {tenant_id!r} must be 1-{MAX_TENANT_ID} characters of lowercase a-z, 0-9 "
            "and single '-' between them",
            tenant_id=tenant_id,
        )
    return tenant_id


def _valid_actor(actor: object) -> str:
    if not (isinstance(actor, str) and actor.strip() and len(actor) <= MAX_ACTOR):
        raise TenantError(
            "bad_input", f"actor must be a non-empty name of at most {MAX_ACTOR} characters"
        )
    return actor


def _valid_name(name: object) -> str:
    if not (isinstance(name, str) and name.strip() and len(name.strip()) <= MAX_NAME):
        raise TenantError(
            "bad_input", f"tenant name must be 1-{MAX_NAME} characters, got {name!r}", name=name
        )
    return name.strip()


def _slug(name: str) -> str:
    slug = slugify(name)
    if not slug:
        raise TenantError(
            "bad_input",
            f"tenant name {name!r} has no letters or digits to make an id of; pass tenant_id",
            name=name,
        )
    return slug


def _valid_capital(capital: object) -> float:
    if not isinstance(capital, numbers.Real) or isinstance(capital, bool):
        raise TenantError("bad_input", f"capital must be a number, got {capital!r}")
    value = float(capital)
    if not math.isfinite(value):
        raise TenantError("bad_input", f"capital must be finite, got {capital!r}", capital=value)
    if value < 0:
        raise TenantError(
            "negative_capital", f"capital must be >= 0, got {value:,.2f}", capital=value
        )
    return value


def _instance(value: object, kind: type, what: str, code: str) -> Any:
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise TenantError(code, f"{what} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _as_json(value: object) -> Any:
    if value is None:
        return None
    if isinstance(value, BrokeragePlan | RiskPolicy):
        return value.to_json()
    if isinstance(value, Mapping):
        return dict(value)
    return repr(value)
