"""zkvault server: stores ciphertext, public keys, names and emails, nothing else."""
