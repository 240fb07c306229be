"""What billing and the audit both do, in one place each: authorizations to coverage to
episodes (:mod:`.coverage`), the packs' as-of parameter table (:mod:`.parameters`), the
reasons and their CARC/RARC codes (:mod:`.reasons`), the ';a;b;' code lists
(:mod:`.code_lists`), the rules both apply (:mod:`.rules`) and a run's settings and
engine (:mod:`.runs`). Nothing here imports :mod:`bhpolicy.audit`, nor :mod:`bhpolicy.billing`
but for its Spark adapter (:mod:`bhpolicy.billing.spark`, opened by ``runs.open_spark``)."""
