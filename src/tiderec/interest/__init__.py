"""Per-user interest state: a pure online update (state, event) -> state, and stores that commit it."""
