"""Pure sequence-definition core: durations, the v1 format and its graph rules (no Flask, no DB)."""
