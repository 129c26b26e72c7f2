"""The long-running roles: thin wiring of a stage's handler onto the shared claim loop."""
