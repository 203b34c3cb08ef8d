"""Which user a person means: the one resolver behind every `--user` of the command line and the import watch
folder's sub-folder names.

A reference matches a user by id, Spotify user id, e-mail or display name (e-mail and display name ignoring
case). Several matches that differ only in case narrow to the one spelled exactly; otherwise the caller gets
an error that lists the matches, so the person can pick one by id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

REFERENCE_HELP: Final = "user id, Spotify user id, e-mail or display name"
LISTED_AT_MOST: Final = 10

_COLUMNS: Final = "id, display_name, spotify_user_id, email"


@dataclass(frozen=True, slots=True)
class UserRef:
    id: uuid.UUID
    display_name: str | None
    spotify_user_id: str | None
    email: str | None

    @property
    def label(self) -> str:
        """What to call the user in a sentence."""
        return self.display_name or self.spotify_user_id or self.email or str(self.id)

    def describe(self) -> str:
        """One line that tells users apart (for lists in errors and prompts)."""
        details = [f"id {self.id}"]
        if self.spotify_user_id and self.spotify_user_id != self.label:
            details.append(f"Spotify {self.spotify_user_id}")
        if self.email and self.email != self.label:
            details.append(self.email)
        return f"{self.label} ({', '.join(details)})"

    def matches_exactly(self, reference: str) -> bool:
        return reference in {str(self.id), self.display_name, self.spotify_user_id, self.email}


def describe_users(users: Sequence[UserRef], *, total: int | None = None, numbered: bool = False) -> str:
    """Indented lines, one per user (the first LISTED_AT_MOST), and how many more there are."""
    lines = [
        f"  {f'{number}.' if numbered else '-'} {user.describe()}"
        for number, user in enumerate(users[:LISTED_AT_MOST], start=1)
    ]
    hidden = (total if total is not None else len(users)) - len(lines)
    if hidden > 0:
        lines.append(f"  … and {hidden} more (admin UI → Users)")
    return "\n".join(lines)


class UserLookupError(ValueError):
    """No user, or more than one, matches a reference. `str()` says which and lists the candidates."""

    def __init__(self, reference: str, matches: Sequence[UserRef], known: Sequence[UserRef], total: int) -> None:
        self.reference = reference
        self.matches = list(matches)
        if matches:
            message = (
                f"{len(matches)} users match `{reference}`; give the id of the one you mean:\n{describe_users(matches)}"
            )
        elif known:
            message = (
                f"no user matches `{reference}` (give a {REFERENCE_HELP}); the users are:\n"
                f"{describe_users(known, total=total)}"
            )
        else:
            message = f"no user matches `{reference}`: there are no users yet (admin UI → Users, or import an export)"
        super().__init__(message)


type Executor = AsyncConnection | AsyncSession


def _ref(row: Sequence[object]) -> UserRef:
    user_id, display_name, spotify_user_id, email = row
    assert isinstance(user_id, uuid.UUID)
    return UserRef(
        user_id,
        display_name if isinstance(display_name, str) else None,
        spotify_user_id if isinstance(spotify_user_id, str) else None,
        email if isinstance(email, str) else None,
    )


async def list_users(executor: Executor, *, limit: int = LISTED_AT_MOST) -> tuple[list[UserRef], int]:
    """The first `limit` users (oldest first) and how many there are."""
    total = int((await executor.execute(text("SELECT count(*) FROM app.users"))).scalar_one())
    rows = await executor.execute(
        text(f"SELECT {_COLUMNS} FROM app.users ORDER BY created_at, id LIMIT :limit"), {"limit": limit}
    )
    return [_ref(tuple(row)) for row in rows], total


async def find_users(executor: Executor, reference: str) -> list[UserRef]:
    """Every user the reference could mean (see the module docstring), oldest first."""
    reference = reference.strip()
    try:
        as_uuid: str | None = str(uuid.UUID(reference))
    except ValueError:
        as_uuid = None
    rows = await executor.execute(
        text(
            f"SELECT {_COLUMNS} FROM app.users "
            "WHERE id = CAST(:id AS uuid) OR spotify_user_id = :ref OR lower(email) = lower(:ref) "
            "OR lower(display_name) = lower(:ref) ORDER BY created_at, id LIMIT 50"
        ),
        {"id": as_uuid, "ref": reference},
    )
    found = [_ref(tuple(row)) for row in rows]
    exact = [user for user in found if user.matches_exactly(reference)]
    return exact if len(found) > 1 and len(exact) == 1 else found


async def resolve_user(executor: Executor, reference: str) -> UserRef:
    """The one user the reference means; `UserLookupError` (listing the candidates) when not exactly one."""
    found = await find_users(executor, reference)
    if len(found) == 1:
        return found[0]
    known, total = ([], 0) if found else await list_users(executor)
    raise UserLookupError(reference.strip(), found, known, total)
