"""Background jobs of ``bhpolicy serve`` (a billing run of uploaded files) and the files each
holds. There is no broker: the worker process claims a job by taking its lease in the
database, renews it by heartbeat while it runs, and a job whose lease ran out (its worker
died) is claimed again. A job's folder holds the uploaded files (PHI) and the run's outputs;
it is owner-only and deleted with the job.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bhpolicy.db.models import Base
from bhpolicy.db.types import json_type


class Job(Base):
    """One row a job: what to run, who asked, where it stands."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # J- and 12 base32
    kind: Mapped[str] = mapped_column(String(20))  # bill
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # queued, running, done, failed
    status: Mapped[str] = mapped_column(String(10), index=True)
    folder: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    progress: Mapped[str | None] = mapped_column(String(200))  # the run's current step
    steps_done: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))  # one line, no PHI
    result: Mapped[dict[str, Any] | None] = mapped_column(json_type())  # counts (no PHI)
