import uuid
from datetime import datetime
from enum import Enum

import strawberry

from shared.auth import Principal
from shared.auth import Role as RoleValue
from shared.pagination import assumed_size
from subgraphs.users.context import Info
from subgraphs.users.models import UserRow

Role = strawberry.enum(RoleValue, name="Role", description="What a person may do on Meetinity")


@strawberry.enum(description="Career level, for matching people at a similar or useful stage")
class Seniority(Enum):
    STUDENT = "student"
    JUNIOR = "junior"
    MID = "mid"
    SENIOR = "senior"
    LEAD = "lead"
    MANAGER = "manager"
    DIRECTOR = "director"
    EXECUTIVE = "executive"
    FOUNDER = "founder"


@strawberry.enum(description="Who can see the profile beyond name and avatar")
class ProfileVisibility(Enum):
    PUBLIC = "public"
    MEMBERS = "members"
    PRIVATE = "private"


def can_see_profile(row: UserRow, viewer: Principal | None) -> bool:
    if row.visibility == ProfileVisibility.PUBLIC.value:
        return True
    if viewer is None:
        return False
    if row.visibility == ProfileVisibility.MEMBERS.value:
        return True
    return viewer.user_id == row.id or viewer.is_admin


@strawberry.type
class Location:
    city: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code, e.g. FR")


@strawberry.type(description="The professional profile, shown according to its visibility")
class Profile:
    headline: str | None
    bio: str | None
    company: str | None
    job_title: str | None
    industry: str | None
    seniority: Seniority | None
    location: Location
    skills: list[str]
    interests: list[str]
    offers: list[str] = strawberry.field(description="What the person can offer others")
    seeks: list[str] = strawberry.field(description="What the person is looking for")
    visibility: ProfileVisibility

    @classmethod
    def from_row(cls, row: UserRow) -> "Profile":
        return cls(
            headline=row.headline,
            bio=row.bio,
            company=row.company,
            job_title=row.job_title,
            industry=row.industry,
            seniority=Seniority(row.seniority) if row.seniority else None,
            location=Location(city=row.city, country=row.country),
            skills=row.skills,
            interests=row.interests,
            offers=row.offers,
            seeks=row.seeks,
            visibility=ProfileVisibility(row.visibility),
        )


@strawberry.federation.type(keys=["id"], description="A person on Meetinity")
class User:
    id: strawberry.ID
    name: str
    avatar_url: str | None
    role: Role  # type: ignore[valid-type]
    created_at: datetime
    row: strawberry.Private[UserRow]
    # Set when the caller is known to be this person even before they send a token
    # (the user returned by register, login and refreshToken).
    shown_to_self: strawberry.Private[bool] = False

    @classmethod
    def from_row(cls, row: UserRow, shown_to_self: bool = False) -> "User":
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            avatar_url=row.avatar_url,
            role=RoleValue(row.role),
            created_at=row.created_at,
            row=row,
            shown_to_self=shown_to_self,
        )

    async def _viewer_is_self_or_admin(self, info: Info) -> bool:
        if self.shown_to_self:
            return True
        viewer = await info.context.principal()
        return viewer is not None and (viewer.user_id == self.row.id or viewer.is_admin)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> "User | None":
        try:
            user_id = uuid.UUID(str(id))
        except ValueError:
            return None
        row = await info.context.user_by_id.load(user_id)
        return None if row is None else cls.from_row(row)

    @strawberry.field(description="Only the person and admins see the email address")
    async def email(self, info: Info) -> str | None:
        return self.row.email if await self._viewer_is_self_or_admin(info) else None

    @strawberry.field(
        description="The people this person blocks, most recent first; only they see it "
        "(null for anyone else)",
        directives=assumed_size(50),
    )
    async def blocked_users(self, info: Info) -> list["User"] | None:
        viewer = await info.context.principal()
        if not self.shown_to_self and (viewer is None or viewer.user_id != self.row.id):
            return None
        rows = await info.context.blocked_users.load(self.row.id)
        return [User.from_row(row) for row in rows]

    @strawberry.field(description="When an admin suspended the account; shown to admins only")
    async def suspended_at(self, info: Info) -> datetime | None:
        viewer = await info.context.principal()
        return self.row.suspended_at if viewer is not None and viewer.is_admin else None

    @strawberry.field(description="Null when the profile's visibility hides it from you")
    async def profile(self, info: Info) -> Profile | None:
        if self.shown_to_self or can_see_profile(self.row, await info.context.principal()):
            return Profile.from_row(self.row)
        return None


@strawberry.type
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: User


@strawberry.input
class LocationInput:
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2 code"
    )


@strawberry.input(description="Only the fields given change; null clears an optional field")
class UpdateProfileInput:
    name: str | None = strawberry.UNSET
    headline: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    company: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    seniority: Seniority | None = strawberry.UNSET
    location: LocationInput | None = strawberry.UNSET
    skills: list[str] | None = strawberry.UNSET
    interests: list[str] | None = strawberry.UNSET
    offers: list[str] | None = strawberry.UNSET
    seeks: list[str] | None = strawberry.UNSET
    avatar_url: str | None = strawberry.UNSET
    visibility: ProfileVisibility | None = strawberry.UNSET
