"""Release sources: where configs come from. Only these modules touch the Azure SDKs.

Every source turns what it reads into a ``Release`` and hands it to
``SyncLoop.offer``; none of them validates, writes or applies.
"""
