"""The real-time service: a thin FastAPI app over `Service`, which composes the stages (no model or SQL code in
route handlers)."""
