"""A signing algorithm in the TSM's JSON documents (:mod:`.wire`), classic or post-quantum.

BaseAsymAlgo and PqcAsymAlgo share bit values (ML-DSA-65 and RSAPSS-2048 are
both 2), so a bare number cannot say which one signed.  The documents carry it
the way SPDM 1.4's ALGORITHMS does (BaseAsymSel, PqcAsymSel): a classic
algorithm is ``asym_alg`` as in every document before ML-DSA existed; an ML-DSA
set is ``asym_alg`` 0 beside ``pqc_asym_alg``.  The extra key appears only for
ML-DSA, so a classic document is byte-for-byte what it was and one written
before decodes as before (a reader that predates the key refuses an ML-DSA
document as having an unknown key, never misreads it as RSA).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntFlag
from typing import Any

from spdm.crypto import SigningAlgo
from spdm.messages.codes import BaseAsymAlgo, PqcAsymAlgo

from .jsondoc import Malformed, at, uint

__all__ = ["read_signing", "signing_doc"]


def signing_doc(asym: SigningAlgo) -> dict[str, int]:
    """The keys that state ``asym`` (merged into a signature's or a device's document)."""
    if isinstance(asym, PqcAsymAlgo):
        return {"asym_alg": 0, "pqc_asym_alg": int(asym)}
    return {"asym_alg": int(asym)}


def read_signing(doc: dict[str, Any], path: str,
                 read: Callable[[type[IntFlag], object, str], IntFlag]) -> SigningAlgo:
    """The signing algorithm ``doc`` states, each number checked by ``read`` (one algorithm, or flags).

    Raises:
        Malformed: a number ``read`` refuses, or a classic algorithm beside ``pqc_asym_alg``.
    """
    if "pqc_asym_alg" not in doc:
        return BaseAsymAlgo(read(BaseAsymAlgo, doc["asym_alg"], at(path, "asym_alg")))
    if uint(doc["asym_alg"], at(path, "asym_alg")):
        raise Malformed(at(path, "asym_alg"), "expected 0 beside pqc_asym_alg")
    return PqcAsymAlgo(read(PqcAsymAlgo, doc["pqc_asym_alg"], at(path, "pqc_asym_alg")))
