"""One module per table: the only code that writes that table's SQL (besides the queue engine,
which owns the queue columns of every queued table)."""
