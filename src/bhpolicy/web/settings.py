"""How one server runs: limits and timings a deployment may change. No policy number here (the
decision clocks and notice rules are pack data read by the services)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class WebSettings:
    #: a request body over this many bytes is refused with 413 before it is parsed
    max_body_bytes: int = 256 * 1024
    #: seconds between two sweeps of overdue requests (0 or less: no background sweep)
    sweep_seconds: float = 60.0
    #: failed logins for one name (or from one address) before further tries wait ...
    login_failures: int = 5
    #: ... this many seconds from the first failure counted
    login_window_seconds: float = 300.0
    #: load packs, compiled criteria trees and the catalog before the server says ready
    #: (the packs come from $BHPOLICY_POLICY_PATH, the catalog from $BHPOLICY_HOME, as the
    #: services read them; ``bhpolicy serve`` sets both from --policy-dir and --home)
    warm: bool = True
    #: the server's clock; tests pass a fixed one
    clock: Callable[[], dt.datetime] = field(default=utc_now)
    #: uploads (a billing job's files, an 835/999/277CA) may be this large; they are
    #: streamed to the job's folder, never held whole in memory
    max_upload_bytes: int = 200 * 1024 * 1024
    #: where job folders live (uploads and outputs: PHI, owner-only); None: beside the
    #: database in the data home
    jobs_dir: Path | None = None
    #: the submitter configuration (TOML) the 837P pages write with; None: no 837P pages
    submitter_config: Path | None = None
    #: seconds a worker's lease on a job lasts without a heartbeat
    job_lease_seconds: float = 120.0
