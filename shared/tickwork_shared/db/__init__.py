"""Database plumbing: column types, models, engine, per-dialect pieces, transaction retries."""
