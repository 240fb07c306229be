"""ACT billing: contacts -> member-days -> claim lines, as Ibis expressions (DuckDB default)."""
