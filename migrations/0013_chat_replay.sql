-- A replay's chat is read by the moment each message was said (the live
-- edge's program date time, else its own clock): the expression its
-- queries use.
CREATE INDEX chat_messages_broadcast_moment ON chat_messages (broadcast_id, (COALESCE(media_time, sent_at)));
