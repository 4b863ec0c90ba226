"""The gateway's one seam to the Azure SDKs: which credential, which client, which error.

* ``credentials``: the single place a credential is chosen (connection string,
  user-assigned managed identity, AKS workload identity, DefaultAzureCredential),
  for Blob Storage and Service Bus, on the replicas and in the publisher;
* ``clients``: Blob and Service Bus clients (async for the replicas, sync for the Function);
* ``errors``: azure-core / azure-servicebus exceptions translated into the
  gateway's ``SourceError`` tree, the way httpx maps httpcore's errors.
"""
