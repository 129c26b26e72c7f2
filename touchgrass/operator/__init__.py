"""Operator commands: `touchgrass status` and `touchgrass resubmit`."""
