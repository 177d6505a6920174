"""The fixer: plan (pure), sources of intermediates, apply (the only writer)."""
