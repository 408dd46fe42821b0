"""chat: conversations, participants' read pointers, messages with seq, blocks, send_message

Revision ID: c41d7e2a9f10
Revises: 1429283854ee
Create Date: 2026-11-26 13:10:00

The skeleton's conversations, participants and messages held nothing: they are
replaced. `messaging.send_message` is the hot write (docs/architecture.md, "Hot
writes"): it takes the conversation's row lock, so `seq` is gapless and messages
commit in `seq` order, and writes a constant number of rows whatever the room's size
(the message, the conversation's counters, the author's own read pointer).
"""

import re
from collections.abc import Sequence

from alembic import op

revision: str = "c41d7e2a9f10"
down_revision: str | None = "1429283854ee"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
DROP TABLE messaging.participants, messaging.messages, messaging.conversations;

CREATE TABLE messaging.conversations (
    id uuid NOT NULL CONSTRAINT pk_conversations PRIMARY KEY,
    kind varchar(10) NOT NULL,
    title varchar(100),
    creator_id uuid,
    event_id uuid CONSTRAINT uq_conversations_event_id UNIQUE,
    direct_key varchar(80) CONSTRAINT uq_conversations_direct_key UNIQUE,
    last_seq bigint DEFAULT 0 NOT NULL,
    last_activity_at timestamptz DEFAULT now() NOT NULL,
    created_at timestamptz DEFAULT now() NOT NULL
);

CREATE INDEX ix_conversations_activity ON messaging.conversations (last_activity_at, id);

CREATE TABLE messaging.participants (
    conversation_id uuid NOT NULL
        CONSTRAINT fk_participants_conversation_id_conversations
        REFERENCES messaging.conversations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    role varchar(20) DEFAULT 'member' NOT NULL,
    last_read_seq bigint DEFAULT 0 NOT NULL,
    joined_at timestamptz DEFAULT now() NOT NULL,
    CONSTRAINT pk_participants PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX ix_participants_user_id ON messaging.participants (user_id);

CREATE TABLE messaging.messages (
    id uuid NOT NULL CONSTRAINT pk_messages PRIMARY KEY,
    conversation_id uuid NOT NULL
        CONSTRAINT fk_messages_conversation_id_conversations
        REFERENCES messaging.conversations (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    author_id uuid NOT NULL,
    body text,
    client_message_id varchar(100),
    created_at timestamptz DEFAULT now() NOT NULL,
    edited_at timestamptz,
    deleted_at timestamptz
);

CREATE UNIQUE INDEX uq_messages_conversation_seq ON messaging.messages (conversation_id, seq);

CREATE UNIQUE INDEX uq_messages_client_message_id
    ON messaging.messages (conversation_id, author_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

CREATE TABLE messaging.blocks (
    blocker_id uuid NOT NULL,
    blocked_id uuid NOT NULL,
    blocked boolean NOT NULL,
    version bigint NOT NULL,
    CONSTRAINT pk_blocks PRIMARY KEY (blocker_id, blocked_id)
);

CREATE INDEX ix_blocks_blocked_id ON messaging.blocks (blocked_id);

ALTER TABLE messaging.notification_recipients ADD COLUMN avatar_url varchar(2048);

ALTER TABLE messaging.known_events ADD COLUMN organizer_id uuid;

-- Whether one of the two people of a DIRECT conversation blocks the other.
CREATE FUNCTION messaging.direct_blocked(conv_id uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM messaging.participants one
        JOIN messaging.participants other
          ON other.conversation_id = one.conversation_id AND other.user_id <> one.user_id
        JOIN messaging.blocks b
          ON b.blocker_id = one.user_id AND b.blocked_id = other.user_id AND b.blocked
        WHERE one.conversation_id = conv_id)
$$;

-- What sending answers: a refusal (nothing written), or the message (`duplicate` when
-- a retry with the same client id found the first one), and who to tell.
CREATE TYPE messaging.sent AS (
    refusal text,
    message messaging.messages,
    duplicate boolean,
    participant_ids uuid[]
);

CREATE FUNCTION messaging.send_message(
    conv_id uuid, author uuid, message_body text, client_id text
) RETURNS messaging.sent LANGUAGE plpgsql AS $$
DECLARE
    conv messaging.conversations;
    msg messaging.messages;
    answer messaging.sent;
BEGIN
    SELECT * INTO conv FROM messaging.conversations WHERE id = conv_id FOR UPDATE;
    -- Read after the lock, in statements of their own (each takes a fresh snapshot).
    IF NOT FOUND OR NOT EXISTS (
        SELECT 1 FROM messaging.participants WHERE conversation_id = conv_id AND user_id = author
    ) THEN
        answer.refusal := 'NOT_FOUND';
        RETURN answer;
    END IF;
    IF client_id IS NOT NULL THEN
        SELECT * INTO msg FROM messaging.messages
        WHERE conversation_id = conv_id AND author_id = author AND client_message_id = client_id;
        IF FOUND THEN
            answer.message := msg;
            answer.duplicate := true;
            RETURN answer;
        END IF;
    END IF;
    IF conv.kind = 'direct' AND messaging.direct_blocked(conv_id) THEN
        answer.refusal := 'BLOCKED';
        RETURN answer;
    END IF;
    UPDATE messaging.conversations
    SET last_seq = last_seq + 1, last_activity_at = clock_timestamp()
    WHERE id = conv_id RETURNING * INTO conv;
    INSERT INTO messaging.messages (id, conversation_id, seq, author_id, body,
                                    client_message_id, created_at)
    VALUES (gen_random_uuid(), conv_id, conv.last_seq, author, message_body, client_id,
            conv.last_activity_at)
    RETURNING * INTO msg;
    -- Writing is reading what one wrote.
    UPDATE messaging.participants SET last_read_seq = conv.last_seq
    WHERE conversation_id = conv_id AND user_id = author;
    answer.message := msg;
    answer.duplicate := false;
    answer.participant_ids := ARRAY(
        SELECT user_id FROM messaging.participants WHERE conversation_id = conv_id);
    RETURN answer;
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION messaging.send_message(uuid, uuid, text, text);

DROP TYPE messaging.sent;

DROP FUNCTION messaging.direct_blocked(uuid);

ALTER TABLE messaging.known_events DROP COLUMN organizer_id;

ALTER TABLE messaging.notification_recipients DROP COLUMN avatar_url;

DROP TABLE messaging.blocks, messaging.messages, messaging.participants,
    messaging.conversations;

CREATE TABLE messaging.conversations (
    id uuid NOT NULL CONSTRAINT pk_conversations PRIMARY KEY,
    created_at timestamptz DEFAULT now() NOT NULL
);

CREATE TABLE messaging.participants (
    conversation_id uuid NOT NULL
        CONSTRAINT fk_participants_conversation_id_conversations
        REFERENCES messaging.conversations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL,
    last_read_at timestamptz,
    CONSTRAINT pk_participants PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX ix_participants_user_id ON messaging.participants (user_id);

CREATE TABLE messaging.messages (
    id uuid NOT NULL CONSTRAINT pk_messages PRIMARY KEY,
    conversation_id uuid NOT NULL
        CONSTRAINT fk_messages_conversation_id_conversations
        REFERENCES messaging.conversations (id) ON DELETE CASCADE,
    sender_id uuid NOT NULL,
    body text NOT NULL,
    created_at timestamptz DEFAULT now() NOT NULL
);

CREATE INDEX ix_messages_conversation_created ON messaging.messages (conversation_id, created_at);
"""


def _run(script: str) -> None:
    # One statement at a time (asyncpg prepares each); statements are separated by a
    # blank line (function bodies have none).
    for statement in re.split(r";\n\n", script.strip().rstrip(";")):
        op.execute(statement.strip())


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
