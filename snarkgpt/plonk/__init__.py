"""The PLONKish proof system over BN254 with KZG commitments."""
