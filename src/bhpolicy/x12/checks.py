"""Checks pyx12 does not make (it validates structure and code values only)."""

from __future__ import annotations


def npi_valid(npi: str) -> bool:
    """NPI check digit: Luhn over '80840' followed by the first nine digits."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 0:  # double every second digit from the right, starting with the last
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def zip_ok(zip_code: str | None, nine: bool = False) -> bool:
    if not zip_code or not zip_code.isdigit():
        return False
    return len(zip_code) == 9 if nine else len(zip_code) in (5, 9)
