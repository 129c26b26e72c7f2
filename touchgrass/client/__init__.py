"""Client commands for people testing a deployment: keys, uploads, challenges over HTTP."""
