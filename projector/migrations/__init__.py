"""Versioned SQL migrations (`NNNN_snake_name.sql`), applied in order by `projector.migrate`.

A package so the files ship as package data. Never edit an applied file: add the next number.
"""

__all__: list[str] = []
