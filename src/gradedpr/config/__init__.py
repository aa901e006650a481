"""The configuration of the command-line tools: the schema (every setting, its default and its validation, in
:mod:`gradedpr.config.schema`), its registration in Hydra's ConfigStore (:mod:`gradedpr.config.store`) and the
checks that need the machine or the files (:mod:`gradedpr.commands.checks`).

Importing this package registers nothing; the scripts call :func:`gradedpr.config.store.register_configs`.
"""
