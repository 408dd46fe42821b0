"""Who may see whom in matching, in one place.

Someone is never recommended, scored or likeable for a viewer when they are the viewer,
blocked either way, already liked, passed or matched by the viewer (recommendations
only), PRIVATE, suspended or deleted. MEMBERS profiles are for signed-in people, and
every matching field needs a signed-in viewer. These are SQL conditions, applied when
lists are read, so a block or a suspension holds at once, whatever the jobs are doing.
"""

from shared.auth import Principal, Role

# `p` is the candidate's row of matching.people; :viewer the viewer's id.
VISIBLE = "p.visibility <> 'private' AND NOT p.suspended AND NOT p.deleted"
NOT_BLOCKED = """NOT EXISTS (
    SELECT 1 FROM matching.blocks b WHERE b.active AND (
        (b.blocker_id = :viewer AND b.blocked_id = p.user_id)
        OR (b.blocker_id = p.user_id AND b.blocked_id = :viewer)))"""
NOT_DECIDED = """NOT EXISTS (
        SELECT 1 FROM matching.likes l WHERE l.user_id = :viewer AND l.target_id = p.user_id)
    AND NOT EXISTS (
        SELECT 1 FROM matching.passes s WHERE s.user_id = :viewer AND s.target_id = p.user_id)
    AND NOT EXISTS (
        SELECT 1 FROM matching.matches m
        WHERE m.user_a = least(:viewer, p.user_id) AND m.user_b = greatest(:viewer, p.user_id))"""

# Who can be shown to the viewer at all (scores, reasons, likes).
CAN_SEE = f"p.user_id <> :viewer AND {VISIBLE} AND {NOT_BLOCKED}"
# Who can be recommended to the viewer.
CAN_RECOMMEND = f"{CAN_SEE} AND {NOT_DECIDED}"


def can_see_networking(viewer: Principal, organizer_id: object) -> bool:
    """An event's networking figures: its organizer and admins."""
    return viewer.role == Role.ADMIN or (
        organizer_id is not None and str(organizer_id) == str(viewer.user_id)
    )
