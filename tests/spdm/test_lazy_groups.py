"""Message groups and event flows load on first use; the code tables behave as the dicts they were.

Each message or event class is a dataclass whose methods CPython 3.11 compiles
when the class is created (~4 M instructions each), so what a command imports
is most of what its process costs (bench/bench_startup.py).  These checks are
about behaviour, not timing: which modules a ``devsec connect`` imports, and
that :data:`spdm.messages.REQUEST_TYPES`/:data:`~spdm.messages.RESPONSE_TYPES`
still answer, and refuse, exactly the codes they did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES, Message, peek_code
from spdm.messages.codes import RequestCode, ResponseCode

ROOT = Path(__file__).resolve().parents[2]

NOT_ON_THE_CONNECT_PATH = (
    "spdm.messages.session", "spdm.messages.chunk", "spdm.messages.event", "spdm.messages.endpoint",
    "spdm.messages.key_pair", "spdm.messages.mel", "spdm.messages.provision",
    "spdm.device", "spdm.device_endpoint",
    "spdm.events.session", "spdm.events.provisioning", "spdm.events.endpoint", "spdm.events.event",
    "spdm.responder", "ide_km", "tdisp", "tsm", "sysfs_bridge",
    "construct", "spdm.schema", "spdm.messages.opaque",
)
"""What a plain ``devsec connect`` (authenticate, no session) never runs, so never imports: its
messages go through their ``struct`` fast paths, and their construct declarations (the
authoritative layouts) are made only when one is asked for."""


def _loaded_after(statement: str, prefixes: tuple[str, ...]) -> list[str]:
    """The modules (and submodules) of ``prefixes`` a fresh interpreter has loaded after ``statement``."""
    probe = (f"import json, sys\n{statement}\n"
             f"print(json.dumps(sorted(m for m in sys.modules\n"
             f"                        if any(m == p or m.startswith(p + '.') for p in {prefixes!r}))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])  # after whatever the statement printed
    return loaded


def test_the_connect_command_imports_no_session_event_or_provisioning_code() -> None:
    loaded = _loaded_after("import devsec.cli, devsec.cli.connect", NOT_ON_THE_CONNECT_PATH)
    assert loaded == []


@pytest.mark.socket
def test_a_whole_connect_never_loads_construct(tmp_path: Path) -> None:
    """The command run to the end against an emulator (over its TCP socket), not only its imports."""
    from tests.devsec.test_cli import emulate

    with emulate(tmp_path) as (url, root):
        statement = ("import devsec.cli\n"
                     f"assert devsec.cli.main(['connect', {url!r}, '--trust-root', {str(root)!r}]) == 0")
        loaded = _loaded_after(statement, NOT_ON_THE_CONNECT_PATH)
    assert loaded == []


def test_the_udev_hook_imports_no_pool_vendor_protocol_or_corim_code() -> None:
    """A hook authenticates one device in process: the daemon's process pool, the IDE_KM/TDISP
    probe (a policy requiring them) and the CoRIM reader (a policy naming one) load when used."""
    unused = ("multiprocessing", "concurrent.futures", "tsm.link", "ide_km", "cbor2", "sysfs_bridge.corim")
    assert _loaded_after("import devsec.cli, devsec.cli.daemon", unused) == []


def test_a_construct_declaration_is_made_when_first_asked_for() -> None:
    statement = (
        "from spdm.messages import Algorithms, GetVersion\n"
        "assert 'construct' not in sys.modules\n"
        "assert GetVersion.STRUCT.sizeof() == 4 and 'construct' in sys.modules\n"
        "assert 'spdm.messages.vca' in sys.modules and Algorithms.STRUCT is not None"
    )
    assert _loaded_after(statement, ("construct.core",)) == ["construct.core"]


def test_a_session_loads_its_messages_and_events_when_it_opens() -> None:
    """The requester engine itself (every command it has) does not need them; the first KEY_EXCHANGE does."""
    statement = (
        "from spdm.requester import Requester\n"
        "assert 'spdm.messages.session' not in sys.modules\n"
        "from spdm.messages import KeyExchange, RESPONSE_TYPES\n"
        "assert RESPONSE_TYPES[0x64].__name__ == 'KeyExchangeRsp'"
    )
    loaded = _loaded_after(statement, ("spdm.messages.session",))
    assert loaded == ["spdm.messages.session"]


def test_every_code_maps_to_the_class_carrying_it() -> None:
    for table in (REQUEST_TYPES, RESPONSE_TYPES):
        for code, cls in table.items():
            assert issubclass(cls, Message)
            assert cls.CODE == code, (hex(code), cls.__name__)
    assert set(REQUEST_TYPES) <= set(RequestCode)
    assert set(RESPONSE_TYPES) <= set(ResponseCode)


@pytest.mark.parametrize("code", [0x00, 0x80, 0x88, 0xFB, 0x08, 0x7B])
def test_an_unknown_code_is_refused_as_a_dict_refuses_it(code: int) -> None:
    for table in (REQUEST_TYPES, RESPONSE_TYPES):
        assert code not in table
        assert table.get(code) is None
        with pytest.raises(KeyError):
            table[code]


def test_a_decoded_response_comes_from_its_group() -> None:
    data = bytes([0x12, ResponseCode.HEARTBEAT_ACK, 0, 0])
    version, code = peek_code(data)
    message = RESPONSE_TYPES[code].decode(data)
    assert type(message).__module__ == "spdm.messages.session"
    assert message.spdm_version == version and message.raw == data
