"""The debt report: checks (pure), the one-pass read, JSON/Markdown/HTML rendering."""
