-- Outgoing webhooks: the endpoints events go to, and one durable row per
-- delivery of an event to an endpoint.
-- Portable SQL: runs on SQLite and PostgreSQL alike.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    -- The event names subscribed to, as a JSON array; ["*"] for all of them.
    events TEXT NOT NULL,
    -- Keys the HMAC-SHA256 signature of every request.
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The same for every endpoint and every attempt of one event.
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    -- The request body, serialized once when the event happened.
    body TEXT NOT NULL,
    -- pending, delivered or failed (given up).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    -- Scheduling instants in unix milliseconds: when the next attempt is due,
    -- until when a node's claim on the row holds, and when to give up.
    next_attempt_ms BIGINT NOT NULL,
    locked_until_ms BIGINT,
    give_up_ms BIGINT NOT NULL,
    -- The HTTP status of the last attempt (NULL when no response came).
    last_status BIGINT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_ms);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);
