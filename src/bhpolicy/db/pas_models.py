"""Tables of the FHIR API (Da Vinci PAS): the Bundles received, kept as they came. Each class's
docstring states its grain. A Bundle holds PHI (the member, diagnoses, documents): it is stored
here, never logged and never copied into an audit row."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bhpolicy.db.models import Base


class PasBundleRow(Base):
    """One row a PAS request Bundle received through ``Claim/$submit`` (a new request, kind
    ``submit``, or a Claim update, kind ``update``), its text exactly as posted. A retried
    Bundle (same sender, same Bundle.identifier) adds no row."""

    __tablename__ = "pas_bundles"
    __table_args__ = (UniqueConstraint("received_by", "bundle_system", "bundle_value"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    bundle_system: Mapped[str] = mapped_column(String(200))  # Bundle.identifier ("" if none)
    bundle_value: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime]
    received_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raw: Mapped[str] = mapped_column(Text)  # the body as received (UTF-8 text)
    sha256: Mapped[str] = mapped_column(String(64))  # of the body's bytes
