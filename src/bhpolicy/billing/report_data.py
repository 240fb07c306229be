"""Small summaries of a billing run's outputs for the human report (read from its files)."""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path
from typing import Any

import duckdb

CALENDAR_LIMIT = 60  # member-months drawn as calendars; the rest are in member_months.*


def _rows(con: duckdb.DuckDBPyConnection, sql: str,
          parameters: list[Any] | None = None) -> list[dict[str, Any]]:
    cursor = con.execute(sql, parameters)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def report_data(out: Path, rejected_rows: int) -> dict[str, Any]:
    con = duckdb.connect()
    def path(name: str) -> str:  # a quoted SQL string: the folder may hold a quote
        return "'" + str(out / name).replace("'", "''") + "'"

    lines, months = path("lines.parquet"), path("member_months.parquet")
    unbilled = path("unbilled_days.parquet")
    totals = _rows(con, f"SELECT status, count(*) AS lines, sum(units) AS units FROM {lines} "
                        "GROUP BY status ORDER BY status")
    held = _rows(con, f"""SELECT reason_id, carc_group, carc, rarc, section, policy_id,
                          count(*) AS days FROM {lines} WHERE status = 'held'
                          GROUP BY ALL ORDER BY days DESC, reason_id""")
    no_line = _rows(con, f"""SELECT reason_id, reason, carc, rarc, section, policy_id,
                             count(*) AS days FROM {unbilled} GROUP BY ALL
                             ORDER BY days DESC, reason_id""")
    # lines whose POS is the pack's default (no qualifying contact recorded one), by status:
    # payers question a run of 99s, so the report says how many there are
    pos_defaulted = _rows(con, f"""SELECT status, policy_id, pos, count(*) AS lines
                                   FROM {lines} WHERE pos_defaulted GROUP BY ALL
                                   ORDER BY lines DESC, status, policy_id""")
    month_totals = _rows(con, f"""SELECT count(*) AS member_months,
                                  count(*) FILTER (WHERE partial) AS partial,
                                  count(*) FILTER (WHERE under_minimum) AS under_minimum,
                                  count(*) FILTER (WHERE held_over_cap > 0) AS over_cap
                                  FROM {months}""")[0]
    chosen = _rows(con, f"""SELECT * FROM {months}
                            ORDER BY (held_over_cap > 0 OR under_minimum OR partial) DESC,
                                     member_id, month LIMIT {CALENDAR_LIMIT}""")
    calendars = []
    for month in chosen:
        start: dt.date = month["month"]
        last = dt.date(start.year, start.month, calendar.monthrange(start.year,
                                                                    start.month)[1])
        # the member id is input text: a parameter, never part of the SQL
        where = "member_id = ? AND service_date BETWEEN ? AND ?"
        bounds = [month["member_id"], start, last]
        marks: dict[int, tuple[str, str]] = {}
        for row in _rows(con, f"SELECT service_date, reason_id FROM {unbilled} WHERE {where}",
                         bounds):
            marks[row["service_date"].day] = ("none", row["reason_id"] or "")
        for row in _rows(con, f"SELECT service_date, status, reason_id FROM {lines} "
                              f"WHERE {where}", bounds):
            marks[row["service_date"].day] = (row["status"], row["reason_id"] or "")
        weeks = []
        for week in calendar.Calendar(firstweekday=6).monthdayscalendar(start.year,
                                                                         start.month):
            weeks.append([{"day": d, "status": marks.get(d, ("", ""))[0],
                           "reason": marks.get(d, ("", ""))[1]} for d in week])
        calendars.append({**month, "month_label": start.strftime("%B %Y"), "weeks": weeks})
    con.close()
    return {"totals": totals, "held": held, "no_line": no_line, "months": month_totals,
            "pos_defaulted": pos_defaulted,
            "pos_defaulted_lines": sum(int(r["lines"]) for r in pos_defaulted),
            "calendars": calendars, "calendar_limit": CALENDAR_LIMIT,
            "rejected_rows": rejected_rows}
