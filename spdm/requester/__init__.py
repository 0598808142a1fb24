"""The SPDM requester engine (sans-IO): VCA, certificates, challenge, measurements.

Commands (:meth:`Requester.get_version`, :meth:`Requester.challenge`, ...)
queue one request; :meth:`Requester.data_to_send` hands out its bytes;
:meth:`Requester.receive_data` takes the response; :meth:`Requester.next_event`
reports what it meant.  One request is outstanding at a time.  The engine
never touches a socket or a clock: when it must wait (ResponseNotReady, Busy)
it says how long through :meth:`Requester.get_timer` and resumes on
:meth:`Requester.handle_timer`.

Failures are typed: a command that is illegal now raises
:class:`~spdm.errors.LocalProtocolError` and changes nothing; a response that
breaks the protocol raises :class:`~spdm.errors.RemoteProtocolError` (or
:class:`~spdm.errors.DecodeError`), one that fails a check raises
:class:`~spdm.errors.VerificationError`.  Either of the last two poisons the
engine: every later call raises, because a connection that once lied cannot be
trusted again without starting over.

Layout: :mod:`.core` (plumbing), :mod:`.vca`, :mod:`.auth`, :mod:`.session` and
:mod:`.encap` (mutual authentication), one module per message group; :mod:`.follow`
runs the engine as a passive monitor of a captured conversation.
"""

from __future__ import annotations

from typing import ClassVar

from ..messages import Message
from .auth import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT, AuthCommands
from .core import ST1_SECONDS
from .encap import EncapCommands
from .follow import FollowCommands
from .session import SessionCommands
from .vca import VcaCommands


class Requester(VcaCommands, AuthCommands, SessionCommands, FollowCommands):
    """One SPDM connection, seen from the requester (host or TSM) side."""

    _HANDLERS: ClassVar[dict[int, tuple[type[Message], str]]] = {
        **VcaCommands._HANDLERS,
        **AuthCommands._HANDLERS,
        **SessionCommands._HANDLERS,
        **EncapCommands._HANDLERS,
    }


__all__ = ["CHALLENGE_CONTEXT", "MEASUREMENTS_CONTEXT", "ST1_SECONDS", "Requester"]
