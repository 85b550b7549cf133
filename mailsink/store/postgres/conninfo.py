"""Where a PostgreSQL connection string points, said without its password.

The start-up line and every connection error name the database a node
uses; the password in the URL (or its ``key=value`` form) must never be
printed with it.
"""

from __future__ import annotations

import psycopg


def describe(conninfo: str) -> str:
    """Return where a connection string points, without its password."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "(an unparsable connection string)"
    host = params.get("host") or "(PGHOST or the local socket)"
    port = params.get("port") or "5432"
    user = params.get("user")
    database = params.get("dbname") or "(default database)"
    who = f"{user}@" if user else ""
    return f"postgresql://{who}{host}:{port}/{database}"
