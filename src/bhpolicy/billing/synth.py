"""Synthetic inputs for the demo and the benchmark: no PHI, generated inside DuckDB.

About 20 contacts a member a month with realistic mixes (mostly in person with the member;
some video, phone, family, collateral and group contacts; a few short ones; some by a provider
not on the authorization) and the edges the rules care about: months over the SC cap, months
under the minimum, members whose authorization starts mid-month (partial months), contiguous
renewals, small and large teams, H0039 authorizations, Minnesota inpatient days (POS 21) and
contributing agencies. Values are pseudo-random from ``hash(row, seed)``, so a seed always
gives the same files.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bhpolicy.errors import BhpolicyError

BYTES_PER_CONTACT = {"parquet": 25, "csv": 90}  # measured on this generator, with margin


@dataclass
class SynthSpec:
    members: int
    months: int
    out: Path
    start: dt.date = dt.date(2026, 3, 1)
    contacts_per_month: int = 20
    seed: int = 7
    form: str = "csv"
    claims_per_member: int = 6  # other services' claim lines, for the audit


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, form: str) -> None:
    options = ("(FORMAT parquet, COMPRESSION zstd)" if form == "parquet"
               else "(HEADER, DELIMITER ',')")
    con.execute(f"COPY ({sql}) TO '{path}' {options}")


def synthesize(spec: SynthSpec) -> dict[str, Path]:
    if spec.members < 1 or spec.months < 1:
        raise BhpolicyError("synth: --members and --months must be at least 1")
    spec.out.mkdir(parents=True, exist_ok=True)
    contacts = spec.members * spec.months * spec.contacts_per_month
    need = contacts * BYTES_PER_CONTACT[spec.form]
    free = shutil.disk_usage(spec.out).free
    if need > free * 0.8:
        raise BhpolicyError(f"synth: about {need / 1e9:.1f} GB needed in {spec.out}, "
                            f"{free / 1e9:.1f} GB free")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    con.execute("CREATE MACRO rnd(a, b, c) AS (hash(a, b, c) % 2147483647)::BIGINT")
    s = int(spec.seed)
    start = spec.start.replace(day=1).isoformat()
    ext = spec.form
    paths = {name: spec.out / f"{name}.{ext}" for name in
             ("members", "authorizations", "contacts", "other_claims", "act_claims")}
    # A member is Minnesota when i % 5 == 0, else South Carolina.
    members_sql = f"""
        SELECT 'M' || lpad(i::VARCHAR, 7, '0') AS member_id,
               lpad((rnd(i, {s}, 1) % 10000000000)::VARCHAR, 10, '0') AS medicaid_id,
               (['Rivera','Nguyen','Smith','Johnson','Okafor','Lindqvist','Begay','Harris'])
                   [1 + rnd(i, {s}, 2) % 8] AS last_name,
               (['Ana','Ben','Cora','Dev','Eli','Fay','Gus','Hana'])[1 + rnd(i, {s}, 3) % 8]
                   AS first_name,
               DATE '1950-01-01' + (rnd(i, {s}, 4) % 18000)::INTEGER AS birth_date,
               (['F','M','U'])[1 + rnd(i, {s}, 5) % 3] AS sex,
               (i % 97)::VARCHAR || ' Oak St' AS address_line,
               CASE WHEN i % 5 = 0 THEN 'Saint Paul' ELSE 'Columbia' END AS city,
               CASE WHEN i % 5 = 0 THEN 'MN' ELSE 'SC' END AS state,
               CASE WHEN i % 5 = 0 THEN '55101' ELSE '29201' END
                   || lpad((rnd(i, {s}, 6) % 10000)::VARCHAR, 4, '0') AS zip,
               (['F20.0','F25.0','F31.2','F20.9','F33.1'])[1 + rnd(i, {s}, 7) % 5]
                   AS primary_dx
        FROM range({spec.members}) t(i)"""
    # Most members: one authorization over all months. 1 in 10 SC members: a renewal that
    # starts the day after the first ends. 1 in 20: starts on the 16th (partial month).
    # 1 in 25 SC members: H0039. Minnesota: contributing agency 0000000555.
    last = f"(DATE '{start}' + INTERVAL {spec.months} MONTH - INTERVAL 1 DAY)::DATE"
    auth_sql = f"""
        WITH base AS (
          SELECT i, 'M' || lpad(i::VARCHAR, 7, '0') AS member_id,
                 CASE WHEN i % 5 = 0 THEN 'mn-act' ELSE 'sc-act' END AS policy,
                 CASE WHEN i % 5 = 0 THEN '1999999984' ELSE
                      (['1234567893','1245319599','1679576722'])[1 + i % 3] END AS provider_id,
                 CASE WHEN i % 5 = 0 THEN NULL WHEN i % 2 = 0 THEN 'small' ELSE 'large' END
                     AS team_size,
                 CASE WHEN i % 20 = 7 THEN DATE '{start}' + INTERVAL 15 DAY
                      ELSE DATE '{start}' END::DATE AS start_date,
                 {last} AS end_date,
                 CASE WHEN i % 25 = 3 AND i % 5 <> 0 THEN 'H0039' ELSE NULL END
                     AS billing_code,
                 CASE WHEN i % 5 = 0 THEN '0000000555' ELSE NULL END
                     AS contributing_provider_ids
          FROM range({spec.members}) t(i))
        SELECT 'A' || lpad(i::VARCHAR, 7, '0') || 'a' AS authorization_id, member_id, policy,
               provider_id, team_size, start_date,
               CASE WHEN i % 10 = 1 AND i % 5 <> 0 AND {spec.months} > 1
                    THEN (DATE '{start}' + INTERVAL 1 MONTH - INTERVAL 1 DAY)::DATE
                    ELSE end_date END AS end_date, billing_code, contributing_provider_ids
        FROM base
        UNION ALL
        SELECT 'A' || lpad(i::VARCHAR, 7, '0') || 'b', member_id, policy, provider_id,
               team_size, (DATE '{start}' + INTERVAL 1 MONTH)::DATE, end_date, billing_code,
               contributing_provider_ids
        FROM base WHERE i % 10 = 1 AND i % 5 <> 0 AND {spec.months} > 1"""
    per_member = spec.months * spec.contacts_per_month
    # Contacts are spread evenly over the first `spread` days of the month: most members
    # over 16 days; 1 in 8 over 28 days (past the SC cap); 1 in 9 over 6 (under the minimum).
    contacts_sql = f"""
        WITH c AS (
          SELECT i, i // {per_member} AS m, (i // {spec.contacts_per_month}) % {spec.months}
                     AS k, rnd(i, {s}, 11) AS h
          FROM range({contacts}) t(i)),
        d AS (
          SELECT *, (DATE '{start}' + to_months(k::INTEGER))::DATE AS month_start,
                 CASE WHEN m % 8 = 0 THEN 28 WHEN m % 9 = 0 THEN 6 ELSE 16 END AS spread
          FROM c)
        SELECT 'C' || lpad(i::VARCHAR, 10, '0') AS contact_id,
               'M' || lpad(m::VARCHAR, 7, '0') AS member_id,
               CASE WHEN h % 100 = 0 THEN '1111111116'
                    WHEN m % 5 = 0 AND h % 7 = 0 THEN '0000000555'
                    WHEN m % 5 = 0 THEN '1999999984'
                    ELSE (['1234567893','1245319599','1679576722'])[1 + m % 3] END
                   AS provider_id,
               'S' || (h % 40)::VARCHAR AS staff_id,
               least(month_start + (((i % {spec.contacts_per_month}) * spread)
                                    // {spec.contacts_per_month})::INTEGER,
                     (month_start + INTERVAL 1 MONTH - INTERVAL 1 DAY)::DATE) AS contact_date,
               CASE WHEN h % 13 = 0 THEN 5 + (h // 13) % 4 ELSE 8 + (h // 17) % 80 END
                   AS minutes,
               CASE WHEN h % 20 < 17 THEN 'in_person' WHEN h % 20 < 19 THEN 'video'
                    ELSE 'phone' END AS mode,
               CASE WHEN (h // 3) % 20 < 17 THEN 'member' WHEN (h // 3) % 20 < 19
                    THEN 'family' ELSE 'collateral' END AS participant,
               CASE WHEN (h // 5) % 10 = 0 THEN 'true' ELSE 'false' END AS "group",
               CASE WHEN m % 5 = 0 AND (h // 11) % 30 = 0 THEN '21'
                    WHEN (h // 11) % 9 = 0 THEN NULL
                    ELSE (['12','12','12','11','99','04'])[1 + (h // 11) % 6] END AS pos
        FROM d"""
    days = f"(date_diff('day', DATE '{start}', {last}) + 1)"
    claims = spec.members * spec.claims_per_member
    # Other services' claim lines for the audit: a mix of codes the crosswalks place
    # (allowed and conflicting), codes they do not (medical), institutional stays by bill
    # type; for 1 in 3 SC members a psychosocial rehabilitation claim around episode day 30.
    other_sql = f"""
        WITH c AS (
          SELECT i, i // {spec.claims_per_member} AS m, i % {spec.claims_per_member} AS j,
                 rnd(i, {s}, 21) AS h
          FROM range({claims}) t(i)),
        d AS (
          SELECT *, CASE WHEN m % 3 = 1 AND m % 5 <> 0 AND j = 0 THEN 'H2017'
                    ELSE (['99213','H2017','90834','H0020','H2011','T2023','H2012','T1019',
                           '90791','H0035','80053','NF','IP','90853','H2023','S9484'])
                         [1 + h % 16] END AS kind,
                 CASE WHEN m % 3 = 1 AND m % 5 <> 0 AND j = 0
                      THEN DATE '{start}' + (24 + h % 10)::INTEGER
                      ELSE DATE '{start}' + (h % {days})::INTEGER END AS from_date
          FROM c)
        SELECT 'X' || lpad(i::VARCHAR, 10, '0') AS claim_id,
               'M' || lpad(m::VARCHAR, 7, '0') AS member_id, from_date,
               CASE WHEN kind IN ('NF', 'IP') THEN from_date + (1 + h % 6)::INTEGER
                    WHEN kind = 'H2017' AND j = 0 THEN from_date + (h % 8)::INTEGER
                    ELSE from_date END AS to_date,
               CASE WHEN kind IN ('NF', 'IP') THEN NULL ELSE kind END AS hcpcs,
               CASE WHEN kind = '90834' AND h % 4 = 0 THEN 'HE' ELSE NULL END AS modifiers,
               CASE WHEN kind = 'NF' THEN '0120' WHEN kind = 'IP' THEN '0114' ELSE NULL END
                   AS revenue_code,
               CASE WHEN kind = 'NF' THEN '0211' WHEN kind = 'IP' THEN '0111' ELSE NULL END
                   AS bill_type,
               CASE WHEN m % 5 = 0 AND kind IN ('H2011', '90834') AND h % 3 = 0
                    THEN '0000000555' ELSE (['1003000126','1003000134','1003000142'])
                    [1 + h % 3] END AS provider_id,
               CASE WHEN kind IN ('NF', 'IP') THEN NULL WHEN kind = 'H2011' THEN '12'
                    ELSE '11' END AS pos,
               1 + h % 4 AS units,
               round(((h // 7) % 40000) / 100.0 + 20, 2) AS paid_amount,
               CASE WHEN (h // 13) % 3 = 0 THEN 'PA' || lpad(i::VARCHAR, 8, '0')
                    ELSE NULL END AS authorization_id
        FROM d"""
    # ACT per diems already billed: one line a day over the first `spread` days of each month
    # (1 in 8 members past the SC cap), with a duplicate line now and then and, for 1 in 50
    # members, a second provider's line the same day. Minnesota inpatient days are at POS 12.
    act_sql = f"""
        WITH mm AS (
          SELECT m, k, CASE WHEN m % 8 = 0 THEN 24 ELSE 12 END AS spread
          FROM range({spec.members}) a(m), range({spec.months}) b(k)),
        l AS (
          SELECT m, k, x, rnd(m * 1000 + k * 40 + x, {s}, 31) AS h
          FROM mm, range(40) r(x) WHERE x < spread)
        SELECT 'K' || lpad(m::VARCHAR, 7, '0') || '-' || k::VARCHAR || '-' || x::VARCHAR
                   || CASE WHEN dup THEN 'd' ELSE '' END AS claim_id,
               'M' || lpad(m::VARCHAR, 7, '0') AS member_id,
               ((DATE '{start}' + to_months(k::INTEGER))::DATE + x::INTEGER) AS from_date,
               ((DATE '{start}' + to_months(k::INTEGER))::DATE + x::INTEGER) AS to_date,
               'H0040' AS hcpcs,
               CASE WHEN m % 5 = 0 THEN NULL WHEN m % 2 = 0 THEN 'U1' ELSE 'U3' END
                   AS modifiers, NULL AS revenue_code, NULL AS bill_type,
               CASE WHEN dup AND m % 50 = 3 THEN '1111111116'
                    WHEN m % 5 = 0 THEN '1999999984'
                    ELSE (['1234567893','1245319599','1679576722'])[1 + m % 3] END
                   AS provider_id,
               '12' AS pos, 1 AS units, 180.00 AS paid_amount, NULL AS authorization_id
        FROM (SELECT *, false AS dup FROM l
              UNION ALL SELECT *, true AS dup FROM l WHERE h % 97 = 0 OR (m % 50 = 3 AND x = 2))"""
    _copy(con, members_sql, paths["members"], spec.form)
    _copy(con, auth_sql, paths["authorizations"], spec.form)
    _copy(con, contacts_sql, paths["contacts"], spec.form)
    _copy(con, other_sql, paths["other_claims"], spec.form)
    _copy(con, act_sql, paths["act_claims"], spec.form)
    con.close()
    return paths
