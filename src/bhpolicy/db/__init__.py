"""The service's database: session, models and migrations (SQLite by default, PostgreSQL by
URL). Nothing here knows of the services or the web."""

from bhpolicy.db.database import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
