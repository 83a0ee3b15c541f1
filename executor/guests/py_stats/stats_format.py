"""A pure-Python helper module beside main.py: bundled and importable like any module."""


def rounded(values: dict[str, float | int], digits: int) -> dict[str, float | int]:
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in values.items()}
