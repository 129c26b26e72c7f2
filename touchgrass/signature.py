"""The ECDSA signature as stored on a submission: the JSON string `{"r": "<64 hex>", "s": ...}`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Signature"]

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class Signature:
    """r and s as integers; how they are checked against a curve is the verifier's business."""

    r: int
    s: int

    @classmethod
    def from_hex(cls, r_hex: str, s_hex: str) -> Signature:
        if not (_HEX64.match(r_hex) and _HEX64.match(s_hex)):
            raise ValueError("signature components must be 64 hex characters each")
        return cls(int(r_hex, 16), int(s_hex, 16))

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Parse the stored form; ValueError names what is wrong (stored rows are input too)."""
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"stored signature is not JSON: {error}") from None
        if not isinstance(value, dict) or not isinstance(value.get("r"), str) or not isinstance(
            value.get("s"), str
        ):
            raise ValueError('stored signature must be {"r": "<hex>", "s": "<hex>"}')
        return cls.from_hex(value["r"], value["s"])

    def to_json(self) -> str:
        return json.dumps({"r": f"{self.r:064x}", "s": f"{self.s:064x}"}, separators=(",", ":"))
