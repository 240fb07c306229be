"""What billing and the audit both do, in one place each: authorizations to coverage to
episodes (:mod:`.coverage`), the packs' as-of parameter table (:mod:`.parameters`), the
reasons and their CARC/RARC codes (:mod:`.reasons`), the ';a;b;' code lists
(:mod:`.code_lists`), the rules both apply (:mod:`.rules`), a run's settings and DuckDB
connection (:mod:`.runs`) and its Spark adapter (:mod:`.spark`, opened by
``runs.open_spark``). Nothing here imports :mod:`bhpolicy.audit` or :mod:`bhpolicy.billing`,
and the audit imports nothing of billing (import-linter contracts in pyproject.toml)."""
