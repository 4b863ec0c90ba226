"""The operator's commands: ``status``, ``push``, ``diff``, ``history``, ``rollback``.

    target.py    where the pipeline is: the gateway's BLOB_* variables, or .dev/stack.json in a checkout
    store.py     what the commands read and write in the config container (sync client)
    diff.py      what a config changes against the current release, secrets masked
    rollout.py   following a release: the publisher's verdict, then every live replica's ACK/NACK
    view.py      rich tables for status and history
    commands.py  the subcommands and their exit codes

Nothing here is needed by a replica; the commands only read what the publisher
and the replicas write (``gateway.protocol``, ``gateway.reporting.report``) and
upload ``config.yaml`` like ``az storage blob upload`` would.
"""
