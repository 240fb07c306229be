"""Medical-necessity determinations: criteria trees from the pack, three-valued evaluation."""
