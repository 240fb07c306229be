"""Regenerate examples/hcpcs/HCPC_sample_ANWEB.txt (run from the repo root).

Descriptors are CMS long descriptors of behavioral-health codes; short descriptors are left
blank (the seeds' short forms are longer than the layout's 28 characters, so they are not
CMS short descriptors); dates are left blank (the sample is for parsing).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.hcpcs_records import modifier, procedure

SAMPLE: list[tuple[str, str, str]] = [
    ("H0019", "Behavioral health; long-term residential (nonmedical, nonacute care in a "
     "residential treatment program where stay is typically longer than 30 days), without "
     "room and board, per diem", ""),
    ("H0036", "Community psychiatric supportive treatment, face-to-face, per 15 minutes", ""),
    ("H0037", "Community psychiatric supportive treatment program, per diem", ""),
    ("H0039", "Assertive community treatment, face-to-face, per 15 minutes", ""),
    ("H0040", "Assertive community treatment program, per diem", ""),
    ("H2011", "Crisis intervention service, per 15 minutes", ""),
    ("H2012", "Behavioral health day treatment, per hour", ""),
    ("H2014", "Skills training and development, per 15 minutes", ""),
    ("H2017", "Psychosocial rehabilitation services, per 15 minutes", ""),
    ("H2018", "Psychosocial rehabilitation services, per diem", ""),
    ("H2019", "Therapeutic behavioral services, per 15 minutes", ""),
    ("H2020", "Therapeutic behavioral services, per diem", ""),
    ("H2040", "Coordinated specialty care, team-based, for first episode psychosis, per month",
     ""),
]


def lines() -> list[str]:
    out: list[str] = []
    seq = 100
    for code, long, short in SAMPLE:
        out += procedure(code, seq, long, short=short)
        seq += 100
    out += modifier("U1", seq, "Medicaid level of care 1, as defined by each state")
    return out


if __name__ == "__main__":
    target = Path("examples/hcpcs/HCPC_sample_ANWEB.txt")
    target.write_text("\r\n".join(lines()) + "\r\n", encoding="latin-1")
    print(f"wrote {target}")
