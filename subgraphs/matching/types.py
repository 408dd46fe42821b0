from datetime import datetime

import strawberry

from shared.federation import UserRef
from subgraphs.matching.models import RecommendationRow


@strawberry.type(description="Someone worth meeting, with the reasons why")
class Recommendation:
    user: UserRef
    score: float = strawberry.field(description="0 to 1; higher is a better match")
    reasons: list[str]
    computed_at: datetime

    @classmethod
    def from_row(cls, row: RecommendationRow) -> "Recommendation":
        return cls(
            user=UserRef(id=strawberry.ID(str(row.candidate_id))),
            score=row.score,
            reasons=row.reasons,
            computed_at=row.computed_at,
        )
