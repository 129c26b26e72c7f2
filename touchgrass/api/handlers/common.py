"""Checks shared by several resources."""

from __future__ import annotations

from typing import Any

from touchgrass import mina
from touchgrass.errors import InvalidInput


def wallet_from_body(body: dict[str, Any]) -> str:
    address = body.get("walletAddress")
    if address is None or address == "":
        raise InvalidInput("walletAddress is required", "walletAddress")
    if not isinstance(address, str) or not mina.is_valid_address(address):
        raise InvalidInput("Invalid wallet address format", "walletAddress")
    return address
