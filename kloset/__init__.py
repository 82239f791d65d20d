"""kloset: a deduplicating, compressing, encrypting backup engine you can query with SQL."""
