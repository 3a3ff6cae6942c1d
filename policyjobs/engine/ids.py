"""The one factory of locators: ULIDs, which sort in creation order."""

from ulid import ULID

NIL_UUID = "00000000-0000-0000-0000-000000000000"


def new_locator() -> str:
    """A new ULID locator, as its 26-character Crockford base32 string."""
    return str(ULID())
