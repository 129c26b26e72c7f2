"""Trust files (operator/trust.py): an operator signs its list with its Mina key, and a
verifier that pinned only the operator's address takes the rest from a file or a URL it does
not trust. A changed list, a list signed by someone else, or an unsigned one is refused in one
line; o1js signs and checks (the checks process)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.factories import mina_address as address
from touchgrass.errors import ConfigError
from touchgrass.mina import _b58encode, _checksum
from touchgrass.node import ops
from touchgrass.node.checks import open_checks
from touchgrass.operator.trust import TrustAnchors, read_trust, resolve_anchors, sign
from touchgrass.settings import ProverSettings
from touchgrass.signatures import generate_private_key

pytestmark = pytest.mark.anyio

PALLAS_SCALAR_ORDER = 0x40000000000000000000000000000000224698FC0994A8DD8C46EB2100000001


def mina_private_key() -> str:
    """A random Mina private key, base58check as wallets write it (EK...)."""
    payload = bytes([0x5A, 0x01]) + (secrets.randbelow(PALLAS_SCALAR_ORDER - 1) + 1).to_bytes(
        32, "little")
    return _b58encode(payload + _checksum(payload))


@pytest.fixture
async def operator() -> tuple[str, str]:
    key = mina_private_key()
    async with open_checks(ProverSettings()) as checks:
        return key, await ops.public_key_of(checks, key)


async def test_a_signed_list_verifies_for_the_pinned_operator_only(operator, tmp_path: Path
                                                                   ) -> None:
    key, operator_address = operator
    _, signer = generate_private_key("secp256k1")
    zkapp = address()
    signed = await sign(TrustAnchors((signer,), operator_address, frozenset({zkapp})), key,
                        ProverSettings())
    assert signed.signature and signed.signature.startswith("7m")
    file = tmp_path / "trust.json"
    file.write_text(json.dumps(signed.as_json()))

    async def resolved(location: str, pinned: str | None) -> TrustAnchors:
        return await resolve_anchors(trust=location, operator=pinned, signer=None,
                                     fee_payer_key=None, prover=ProverSettings())

    anchors = await resolved(str(file), operator_address)
    assert anchors.zkapps == {zkapp} and anchors.signers == (signer,)

    # Served from anywhere: the signature, not the server, is what is trusted.
    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=file.read_text(), content_type="application/json")
    app = web.Application()
    app.router.add_get("/touchgrass-trust.json", serve)
    server = TestServer(app)
    await server.start_server()
    try:
        url = str(server.make_url("/touchgrass-trust.json"))
        assert (await read_trust(url)).zkapps == {zkapp}
        assert (await resolved(url, operator_address)).zkapps == {zkapp}
        # A look-alike added to the list on its way: refused.
        changed = {**signed.as_json(), "zkapps": sorted({zkapp, address()})}
        file.write_text(json.dumps(changed))
        with pytest.raises(ConfigError, match="not signed by the operator"):
            await resolved(url, operator_address)
    finally:
        await server.close()

    # Another operator pinned; an unsigned file with an operator pinned.
    file.write_text(json.dumps(signed.as_json()))
    with pytest.raises(ConfigError, match="is the operator .*'s, not"):
        await resolved(str(file), address())
    file.write_text(json.dumps(signed.as_json(signed=False)))
    with pytest.raises(ConfigError, match="is not signed"):
        await resolved(str(file), operator_address)
    # Unsigned and nothing pinned: the verifier's own file, taken as it is.
    assert (await resolved(str(file), None)).operator == operator_address


async def test_only_the_operators_key_signs_its_file(operator) -> None:
    key, _ = operator
    _, signer = generate_private_key("secp256k1")
    with pytest.raises(ConfigError, match="not of the operator"):
        await sign(TrustAnchors((signer,), address()), key, ProverSettings())


async def test_a_trust_file_is_read_strictly(tmp_path: Path) -> None:
    file = tmp_path / "trust.json"
    empty = {"touchgrassTrust": 1, "operator": address(), "signers": []}
    for content, reason in (("{", "cannot be read"), ('{"touchgrassTrust": 2}', "not a touchgrass"),
                            (json.dumps(empty), "no trusted signer key"),
                            (json.dumps({**empty, "operator": "B62qx"}), "not a Mina address")):
        file.write_text(content)
        with pytest.raises(ConfigError, match=reason):
            await read_trust(str(file))
    with pytest.raises(ConfigError, match="cannot be read"):
        await read_trust(str(tmp_path / "missing.json"))
    statement = TrustAnchors((generate_private_key("secp256k1")[1],), address()).statement()
    assert len(statement) == 2 and all(0 <= v < 2**128 for v in statement)
