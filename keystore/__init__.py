"""The keystore: the only holder of the secrets master keys (see keystore/README.md)."""

from keystore.client import (
    DecryptClient,
    KeystoreUnavailable,
    PublicKey,
    SecretsDenied,
    SecretsUnconfirmed,
    fetch_public_key,
)
from keystore.crypto import MasterKeys, Policy, SecretsError, encrypt_secrets, fingerprint, generate_master_key

__all__ = [
    "DecryptClient",
    "KeystoreUnavailable",
    "MasterKeys",
    "Policy",
    "PublicKey",
    "SecretsDenied",
    "SecretsError",
    "SecretsUnconfirmed",
    "encrypt_secrets",
    "fetch_public_key",
    "fingerprint",
    "generate_master_key",
]
