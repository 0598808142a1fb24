"""``--data-transfer-size`` / ``--max-spdm-msg-size`` of ``devsec emulate`` and ``devsec connect``, honoured.

A device started with a small DataTransferSize and a large MaxSPDMmsgSize
offers CHUNK_CAP and advertises both sizes; ``devsec connect`` with the same
flags gets its certificate chain and signed MEASUREMENTS (both larger than
0x100 bytes) in chunks, and without ``--max-spdm-msg-size`` it cannot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from spdm.errors import ConfigurationError
from tests.devsec.test_connect_endpoint import serving

SIZES = ("--data-transfer-size", "0x100", "--max-spdm-msg-size", "0x10000")


def test_emulate_advertises_both_sizes_and_chunk_cap() -> None:
    args = build_parser().parse_args(["emulate", "--slots", "0", *SIZES])
    config = device_from_args(args, model_from_args(args)).spdm.responder.config
    assert (config.data_transfer_size, config.max_spdm_msg_size) == (0x100, 0x10000)
    assert "CHUNK_CAP" in (config.capabilities.name or "")
    args = build_parser().parse_args(["emulate", "--slots", "0", "--data-transfer-size", "0x100"])
    config = device_from_args(args, model_from_args(args)).spdm.responder.config
    assert config.max_spdm_msg_size == 0x100 and "CHUNK_CAP" not in (config.capabilities.name or "")


def test_a_max_message_size_below_the_transfer_size_is_refused() -> None:
    args = build_parser().parse_args(["emulate", "--data-transfer-size", "0x200", "--max-spdm-msg-size",
                                      "0x100"])
    with pytest.raises(ConfigurationError, match="--max-spdm-msg-size 0x100"):
        device_from_args(args, model_from_args(args))


@pytest.mark.socket
def test_connect_takes_the_chain_and_measurements_in_chunks(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["emulate", "--slots", "0", *SIZES])
    model = model_from_args(args)
    device = device_from_args(args, model)
    with serving(model, device, tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--cert-portion", "0xffff", *SIZES,
                     "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert "CHUNK_CAP" in doc["responder_capabilities"]
        assert doc["measurements"]["signed"]
        assert main(["connect", url, "--trust-root", str(root), "--cert-portion", "0xffff",
                     "--data-transfer-size", "0x100"]) != 0
        assert "RESPONSE_TOO_LARGE" in capsys.readouterr().err
