"""Command-line interface (`tiderec ...`)."""
