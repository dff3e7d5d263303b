"""BN254 G1 points and multi-scalar multiplication."""
