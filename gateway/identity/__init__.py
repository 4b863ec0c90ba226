"""Per-deployment identities that LiteLLM alone does not provide (see DESIGN.md "Identity").

Importing this package does not import LiteLLM; ``gateway.identity.hook`` does.
"""

from gateway.identity.azure import (
    COGNITIVE_SERVICES_SCOPE,
    AzureTokenProvider,
    CredentialRegistry,
    IdentitySpec,
)
from gateway.identity.binding import (
    BoundModelList,
    DeploymentIdentity,
    IdentityBindingError,
    bind_identities,
)
from gateway.identity.databricks import (
    AZURE_DATABRICKS_SCOPE,
    DatabricksCredential,
    DatabricksTokenCache,
)
from gateway.identity.tokens import TokenFetchError, TokenStats

__all__ = [
    "AZURE_DATABRICKS_SCOPE",
    "COGNITIVE_SERVICES_SCOPE",
    "AzureTokenProvider",
    "BoundModelList",
    "CredentialRegistry",
    "DatabricksCredential",
    "DatabricksTokenCache",
    "DeploymentIdentity",
    "IdentityBindingError",
    "IdentitySpec",
    "TokenFetchError",
    "TokenStats",
    "bind_identities",
]
