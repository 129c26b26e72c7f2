"""touchgrass: proves photos are authentic and records the proofs on the Mina blockchain."""

__version__ = "0.1.0"
