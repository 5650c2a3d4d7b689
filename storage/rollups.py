"""Statistics rollups kept by the database itself (triggers), so every writer keeps them right: the
flows, the console, tests that build rows directly, imports and hand-run SQL alike.

- `consultations.client_first_queued_at`: when the client's first consultation that reached the queue
  was created (per training class: practice consultations are counted on their own). "Returning client
  in a period" is then `client_first_queued_at < period start`, read from the period's rows, instead of
  one index probe per client (145,000 a year at national scale).
- `friend_events.refollow`: a follow after an earlier follow by the same client (a re-follow), so the
  friends figures are counted from one index instead of one probe per follow.

Both are recomputed from scratch for the one client a change touches (a client has a handful of rows),
never incremented: whatever order events arrive in, late or out of order, inserted, moved or deleted,
the value is what a full recomputation gives. `backfill()` recomputes every client at once (after a
bulk load that bypassed the triggers, or when the migration adds the columns).

Triggers live outside the models: a later SQLite migration that rebuilds `consultations` or
`friend_events` (batch mode with recreate) drops them and must call `install()` again;
tests/test_stats_rollups.py fails if a trigger is missing.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# --- SQLite: one trigger per event; OLD/NEW are the changed row -----------------------------------

_SQLITE_FIRST_QUEUED = """
    UPDATE consultations SET client_first_queued_at = CASE WHEN queued_at IS NOT NULL THEN
        (SELECT min(e.created_at) FROM consultations e
         WHERE e.client_id = {row}.client_id AND e.is_training = {row}.is_training AND e.queued_at IS NOT NULL) END
    WHERE client_id = {row}.client_id AND is_training = {row}.is_training;"""

_SQLITE_REFOLLOWS = """
    UPDATE friend_events SET refollow = (kind = 'follow' AND EXISTS (
        SELECT 1 FROM friend_events p WHERE p.client_id = friend_events.client_id AND p.kind = 'follow'
        AND p.occurred_at < friend_events.occurred_at))
    WHERE client_id = {row}.client_id;"""

_SQLITE = [
    "CREATE TRIGGER tr_consultations_first_queued_insert AFTER INSERT ON consultations "
    f"WHEN NEW.queued_at IS NOT NULL BEGIN {_SQLITE_FIRST_QUEUED.format(row='NEW')} END",
    "CREATE TRIGGER tr_consultations_first_queued_update "
    "AFTER UPDATE OF client_id, is_training, created_at, queued_at ON consultations "
    f"BEGIN {_SQLITE_FIRST_QUEUED.format(row='OLD')} {_SQLITE_FIRST_QUEUED.format(row='NEW')} END",
    "CREATE TRIGGER tr_consultations_first_queued_delete AFTER DELETE ON consultations "
    f"WHEN OLD.queued_at IS NOT NULL BEGIN {_SQLITE_FIRST_QUEUED.format(row='OLD')} END",
    f"CREATE TRIGGER tr_friend_events_refollow_insert AFTER INSERT ON friend_events "
    f"BEGIN {_SQLITE_REFOLLOWS.format(row='NEW')} END",
    "CREATE TRIGGER tr_friend_events_refollow_update AFTER UPDATE OF client_id, kind, occurred_at ON friend_events "
    f"BEGIN {_SQLITE_REFOLLOWS.format(row='OLD')} {_SQLITE_REFOLLOWS.format(row='NEW')} END",
    f"CREATE TRIGGER tr_friend_events_refollow_delete AFTER DELETE ON friend_events "
    f"BEGIN {_SQLITE_REFOLLOWS.format(row='OLD')} END",
]
SQLITE_TRIGGERS = ("tr_consultations_first_queued_insert", "tr_consultations_first_queued_update",
                   "tr_consultations_first_queued_delete", "tr_friend_events_refollow_insert",
                   "tr_friend_events_refollow_update", "tr_friend_events_refollow_delete")

# --- PostgreSQL: a refresh function per rollup, called by AFTER ROW triggers ------------------------
# Only rows whose value changes are written (IS DISTINCT FROM): queueing a client's newest
# consultation writes that one row and locks none of the client's older ones.

_POSTGRES = [
    """CREATE OR REPLACE FUNCTION stats_refresh_first_queued(p_client integer, p_training boolean)
    RETURNS void LANGUAGE sql AS $$
        UPDATE consultations c SET client_first_queued_at = CASE WHEN c.queued_at IS NOT NULL THEN f.first END
        FROM (SELECT min(created_at) AS first FROM consultations
              WHERE client_id = p_client AND is_training = p_training AND queued_at IS NOT NULL) f
        WHERE c.client_id = p_client AND c.is_training = p_training
          AND c.client_first_queued_at IS DISTINCT FROM (CASE WHEN c.queued_at IS NOT NULL THEN f.first END)
    $$""",
    """CREATE OR REPLACE FUNCTION stats_consultations_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.client_id, OLD.is_training)
                                IS DISTINCT FROM (NEW.client_id, NEW.is_training)) THEN
            PERFORM stats_refresh_first_queued(OLD.client_id, OLD.is_training);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM stats_refresh_first_queued(NEW.client_id, NEW.is_training);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION stats_refresh_refollows(p_client integer) RETURNS void LANGUAGE sql AS $$
        UPDATE friend_events f SET refollow = x.refollow
        FROM (SELECT e.id, (e.kind = 'follow' AND EXISTS (
                  SELECT 1 FROM friend_events p WHERE p.client_id = e.client_id AND p.kind = 'follow'
                  AND p.occurred_at < e.occurred_at)) AS refollow
              FROM friend_events e WHERE e.client_id = p_client) x
        WHERE f.id = x.id AND f.refollow IS DISTINCT FROM x.refollow
    $$""",
    """CREATE OR REPLACE FUNCTION stats_friend_events_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.client_id <> NEW.client_id) THEN
            PERFORM stats_refresh_refollows(OLD.client_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM stats_refresh_refollows(NEW.client_id);
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER tr_consultations_first_queued_insert AFTER INSERT ON consultations FOR EACH ROW "
    "WHEN (NEW.queued_at IS NOT NULL) EXECUTE FUNCTION stats_consultations_rollup()",
    "CREATE TRIGGER tr_consultations_first_queued_update "
    "AFTER UPDATE OF client_id, is_training, created_at, queued_at ON consultations FOR EACH ROW "
    "EXECUTE FUNCTION stats_consultations_rollup()",
    "CREATE TRIGGER tr_consultations_first_queued_delete AFTER DELETE ON consultations FOR EACH ROW "
    "WHEN (OLD.queued_at IS NOT NULL) EXECUTE FUNCTION stats_consultations_rollup()",
    "CREATE TRIGGER tr_friend_events_refollow AFTER INSERT OR DELETE OR UPDATE OF client_id, kind, occurred_at "
    "ON friend_events FOR EACH ROW EXECUTE FUNCTION stats_friend_events_rollup()",
]
POSTGRES_TRIGGERS = (("tr_consultations_first_queued_insert", "consultations"),
                     ("tr_consultations_first_queued_update", "consultations"),
                     ("tr_consultations_first_queued_delete", "consultations"),
                     ("tr_friend_events_refollow", "friend_events"))
POSTGRES_FUNCTIONS = ("stats_consultations_rollup()", "stats_friend_events_rollup()",
                      "stats_refresh_first_queued(integer, boolean)", "stats_refresh_refollows(integer)")

# --- backfill: every client at once ---------------------------------------------------------------

_BACKFILL = {
    "postgresql": [
        """UPDATE consultations c SET client_first_queued_at = CASE WHEN c.queued_at IS NOT NULL THEN f.first END
        FROM (SELECT client_id, is_training, min(created_at) FILTER (WHERE queued_at IS NOT NULL) AS first
              FROM consultations GROUP BY client_id, is_training) f
        WHERE c.client_id = f.client_id AND c.is_training = f.is_training
          AND c.client_first_queued_at IS DISTINCT FROM (CASE WHEN c.queued_at IS NOT NULL THEN f.first END)""",
        """UPDATE friend_events f SET refollow = s.refollow
        FROM (SELECT id, (kind = 'follow' AND occurred_at > min(occurred_at) FILTER (WHERE kind = 'follow')
                          OVER (PARTITION BY client_id)) AS refollow FROM friend_events) s
        WHERE f.id = s.id AND f.refollow IS DISTINCT FROM s.refollow""",
    ],
    "sqlite": [
        """UPDATE consultations SET client_first_queued_at = {first}
        WHERE client_first_queued_at IS NOT {first}""".format(first="""(CASE WHEN queued_at IS NOT NULL THEN
            (SELECT min(e.created_at) FROM consultations e WHERE e.client_id = consultations.client_id
             AND e.is_training = consultations.is_training AND e.queued_at IS NOT NULL) END)"""),
        """UPDATE friend_events SET refollow = {refollow} WHERE refollow IS NOT {refollow}""".format(
            refollow="""(kind = 'follow' AND EXISTS (SELECT 1 FROM friend_events p
            WHERE p.client_id = friend_events.client_id AND p.kind = 'follow'
            AND p.occurred_at < friend_events.occurred_at))"""),
    ],
}


def install(conn: Connection) -> None:
    for ddl in _POSTGRES if conn.dialect.name == "postgresql" else _SQLITE:
        conn.execute(text(ddl))


def uninstall(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for name, table in POSTGRES_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        for fn in POSTGRES_FUNCTIONS:
            conn.execute(text(f"DROP FUNCTION IF EXISTS {fn}"))
    else:
        for name in SQLITE_TRIGGERS:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def backfill(conn: Connection) -> int:
    """Recompute both rollups for every client (what the triggers would have written); returns how many
    rows were wrong (only those are written)."""
    return sum(conn.execute(text(sql)).rowcount
               for sql in _BACKFILL["postgresql" if conn.dialect.name == "postgresql" else "sqlite"])
