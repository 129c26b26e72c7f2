"""The Postgres queue: the `submissions` and `challenges` tables are the queue (docs/pipeline.md).

Layers, bottom up: `stages` (what each stage claims and where its rows go), `sql` (the
statements, with the reasons for each clause), `engine` (one function per transition),
`listener` (NOTIFY wake-ups), `worker` (the one claim loop every role runs).
"""
