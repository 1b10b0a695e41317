"""vault_core: the zkvault format and every cryptographic operation on it."""
