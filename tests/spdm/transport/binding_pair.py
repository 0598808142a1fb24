"""Our requester and our responder talking through a binding codec, at the binding level (no DOE)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import TransportError
from spdm.events import Event
from spdm.messages.codes import BaseAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.responder import Responder
from spdm.secured import RecordFormat
from spdm.transport.binding import BindingCodec, BoundMessage

NOW = datetime.now(UTC)


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


class BindingPair:
    """Our requester and our responder exchanging ``codec``'s units, secured records kept.

    Every message goes out encoded by the binding (its type says plain or
    secured) and is decoded again on the other side.
    """

    def __init__(self, codec: BindingCodec, requester: Requester, responder: Responder) -> None:
        self.codec = codec
        self.requester = requester
        self.responder = responder
        self.records: list[bytes] = []

    def _carry(self, message: BoundMessage) -> BoundMessage:
        return self.codec.decode(self.codec.encode(message))

    def run(self, command: Callable[[], None]) -> list[Event]:
        """Issue one engine command and exchange units until it has its answer.

        Raises:
            TransportError: the responder dropped a record.
        """
        command()
        events: list[Event] = []
        while self.requester.busy:
            secured = self.requester.sending_secured
            request = self._carry(BoundMessage(secured, self.requester.data_to_send()))
            if request.secured:
                self.records.append(request.payload)
                answer = self.responder.handle_secured(request.payload)
                if answer is None:
                    raise TransportError("the responder dropped the record")
                self.records.append(answer)
                response = BoundMessage(True, answer)
            else:
                response = BoundMessage(False, self.responder.handle(request.payload))
            received = self._carry(response)
            self.requester.receive_data(received.payload, secured=received.secured)
            while (event := self.requester.next_event()) is not None:
                events.append(event)
        return events


def connect(codec: BindingCodec, requester_format: RecordFormat | None = None,
            responder_format: RecordFormat | None = None) -> tuple[Requester, BindingPair]:
    """A negotiated pair (certificate of slot 0 retrieved), each engine on the binding's record
    format unless told otherwise."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    responder = Responder(ResponderConfig(algorithms=prefs,
                                          record_format=responder_format or codec.record_format), model())
    requester = Requester(RequesterConfig(trust_anchors=(model().root_certificate(),), algorithms=prefs),
                          record_format=requester_format or codec.record_format)
    pair = BindingPair(codec, requester, responder)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        pair.run(command)
    return requester, pair
