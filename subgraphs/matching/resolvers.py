from sqlalchemy import select

from subgraphs.matching.context import Context
from subgraphs.matching.models import RecommendationRow


async def recommendations_for_me(context: Context, first: int) -> list[RecommendationRow]:
    viewer = await context.require_principal()
    async with context.db.transaction() as session:
        rows = await session.scalars(
            select(RecommendationRow)
            .where(RecommendationRow.user_id == viewer.user_id)
            .order_by(RecommendationRow.score.desc())
            .limit(first)
        )
        return list(rows)
