"""The `offshore` command groups, one module each, every one with `add_parsers(commands)`.

`offshore.cli` only registers them (and `offshore.golive`'s) and maps errors; a handler is
`(args, settings) -> exit code` and raises `common.errors.OffshoreError` for anything the user can fix.
"""
