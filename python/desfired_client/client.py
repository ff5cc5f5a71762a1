"""A small typed client of desfired (CardService, TapService) over the generated stubs.

    import desfired_client
    client = desfired_client.connect("127.0.0.1:50051", token="...")
    value = client.get_value(reader, 0xF51001, 1, key_name="transit-read", key_no=1)
    change = client.debit(reader, 0xF51001, 1, 150, key_name="transit-debit", key_no=2)

Every call has a deadline (connect(deadline=...)). A failed call raises DesfiredError with the
gRPC code, the desfired reason (proto/desfired/v1/errors.proto), the ErrorInfo metadata and,
for a change, the request_id. Changes (write_data, debit, credit, limited_credit, change())
get a fresh request_id when none is given and are retried on UNAVAILABLE with the SAME
request_id (the server applies a request_id at most once and answers a retry with the first
outcome, `replayed`), up to `mutation_retries` times with a doubling back-off. Reads are never
retried.

Not thread-safe for configuration changes; calls may be made from several threads (gRPC
channels are thread-safe).
"""

import os
import threading
import time
import uuid

import grpc

from desfired.v1 import card_pb2, card_pb2_grpc, errors_pb2, taps_pb2, taps_pb2_grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = ["Client", "DesfiredError", "Watch", "connect", "new_request_id"]

DEFAULT_SERVER = "127.0.0.1:50051"

# Reasons after which a change is worth retrying with the same request_id once the card is
# back (the card left, or was not there): see wait_and_retry in examples/.
CARD_GONE_REASONS = frozenset({"CARD_REMOVED", "NO_CARD"})


def new_request_id():
    """A fresh request_id: a random UUID (version 4) in its text form."""
    return str(uuid.uuid4())


class DesfiredError(Exception):
    """A failed call.

    Attributes:
      code:       the grpc.StatusCode.
      reason:     ErrorInfo.reason ("CARD_REMOVED", ...), or None when the answer did not come
                  from desfired (server down, wrong address, TLS failure, client deadline).
      message:    the server's text for people (never parse it).
      metadata:   dict of ErrorInfo.metadata ("reader", "field", "desfire_status",
                  "commit_state", ...).
      request_id: the request_id of a failed change, else None.
      attempts:   how many times a change was sent.
    """

    def __init__(self, code, message, reason=None, metadata=None, request_id=None, attempts=1):
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.request_id = request_id
        self.attempts = attempts
        text = "%s (%s): %s" % (reason or "no answer from desfired", code.name, message)
        if request_id:
            text += " [request_id %s]" % request_id
        super().__init__(text)

    @property
    def transport(self):
        """True when desfired did not answer (UNAVAILABLE or DEADLINE_EXCEEDED, no reason)."""
        return self.reason is None and self.code in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )

    @property
    def commit_state(self):
        """"NOT_COMMITTED", "UNKNOWN" (a change may have happened), or None."""
        return self.metadata.get("commit_state")

    @classmethod
    def from_rpc_error(cls, error, request_id=None, attempts=1):
        """Converts a grpc.RpcError, decoding the grpc-status-details-bin trailer."""
        reason = None
        metadata = {}
        for key, value in error.trailing_metadata() or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except Exception:  # a malformed trailer: keep the code and message
                break
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason = info.reason or None
                    metadata = dict(info.metadata)
                    break
        return cls(
            error.code(),
            error.details() or "",
            reason=reason,
            metadata=metadata,
            request_id=request_id,
            attempts=attempts,
        )


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError("cannot read the %s file %s: %s" % (what, path, e.strerror)) from None


def connect(
    server=None,
    token=None,
    tls_ca=None,
    tls_cert=None,
    tls_key=None,
    tls_server_name=None,
    deadline=30.0,
    mutation_retries=2,
    retry_backoff=0.2,
):
    """Returns a Client of desfired at `server` ("host:port"; default $DESFIRED_SERVER, else
    127.0.0.1:50051). Connects lazily.

    token:            sent as "authorization: Bearer <token>" on every call.
    tls_ca:           PEM file of the roots to trust; any tls_* file turns TLS on (without
                      tls_ca: the system roots).
    tls_cert/tls_key: client certificate chain and key for mutual TLS (both or neither).
    tls_server_name:  the name checked in the server certificate (needs TLS).
    deadline:         seconds each call may take.
    mutation_retries: retries of a change on UNAVAILABLE, with the same request_id.
    retry_backoff:    seconds before the first retry; doubles for each next one.

    Raises ValueError for a TLS file that cannot be read or options that do not go together.
    """
    server = server or os.environ.get("DESFIRED_SERVER") or DEFAULT_SERVER
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("a TLS client certificate and its key go together: give both or neither")
    tls = bool(tls_ca or tls_cert)
    if tls_server_name and not tls:
        raise ValueError("a TLS server name needs TLS (tls_ca or a client certificate)")
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    if tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(tls_ca, "TLS CA") if tls_ca else None,
            private_key=_read(tls_key, "TLS key") if tls_key else None,
            certificate_chain=_read(tls_cert, "TLS certificate") if tls_cert else None,
        )
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        channel = grpc.secure_channel(server, credentials, options=options)
    else:
        channel = grpc.insecure_channel(server, options=options)
    return Client(channel, token=token, deadline=deadline, mutation_retries=mutation_retries,
                  retry_backoff=retry_backoff)


def _target(reader, expected_uid):
    target = card_pb2.CardTarget(reader=reader)
    if expected_uid:
        target.expected_uid = (
            bytes.fromhex(expected_uid) if isinstance(expected_uid, str) else bytes(expected_uid)
        )
    return target


def _auth(key_name, key_no):
    return card_pb2.KeyRef(key_name=key_name, key_number=key_no) if key_name else None


def _iso(iso):
    """IsoAccess from `iso`: None (the native commands), True (ISO commands, the file by its
    short file id), a dict of IsoAccess fields (df_name, df_file_id, ef_file_id) or an
    IsoAccess (docs/ev3.md "ISO 7816-4 file access")."""
    if iso is None or isinstance(iso, card_pb2.IsoAccess):
        return iso
    if iso is True:
        return card_pb2.IsoAccess(enabled=True)
    return card_pb2.IsoAccess(enabled=True, **iso)


class Client:
    """Typed calls of desfired; build one with connect().

    `card` and `taps` are the generated stubs, for calls without a helper here: use
    call(method, request) for a read and change(method, request) for a change, so that the
    deadline, token, retries and error mapping apply.
    """

    def __init__(self, channel, token=None, deadline=30.0, mutation_retries=2,
                 retry_backoff=0.2):
        self.channel = channel
        self.card = card_pb2_grpc.CardServiceStub(channel)
        self.taps = taps_pb2_grpc.TapServiceStub(channel)
        self.deadline = deadline
        self.mutation_retries = mutation_retries
        self.retry_backoff = retry_backoff
        self._metadata = (("authorization", "Bearer " + token),) if token else ()

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- generic ---------------------------------------------------------------------------

    def _method(self, name):
        for stub in (self.card, self.taps):
            method = getattr(stub, name, None)
            if method is not None:
                return method
        raise ValueError("desfired has no method %r" % name)

    def call(self, method, request):
        """A unary call that changes nothing (no retry). Raises DesfiredError."""
        try:
            return self._method(method)(request, timeout=self.deadline, metadata=self._metadata)
        except grpc.RpcError as e:
            raise DesfiredError.from_rpc_error(e) from None

    def call_all_pages(self, method, request, field):
        """A paged call (call) repeated with each next_page_token until the last page; the
        items of the repeated `field` of every page, in order."""
        items = []
        while True:
            page = self.call(method, request)
            items.extend(getattr(page, field))
            if not page.next_page_token:
                return items
            request.page_token = page.next_page_token

    def change(self, method, request):
        """A unary call that changes a card: fills request.request_id when empty, retries on
        UNAVAILABLE with the same request_id. Raises DesfiredError (with request_id)."""
        if not request.request_id:
            request.request_id = new_request_id()
        stub_method = self._method(method)
        backoff = self.retry_backoff
        outcome_unknown = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return stub_method(request, timeout=self.deadline, metadata=self._metadata)
            except grpc.RpcError as e:
                error = DesfiredError.from_rpc_error(e, request.request_id, attempt)
            if error.commit_state == "UNKNOWN":
                outcome_unknown = True
            if error.code == grpc.StatusCode.UNAVAILABLE and attempt <= self.mutation_retries:
                time.sleep(backoff)
                backoff *= 2
                continue
            if outcome_unknown:
                # An earlier attempt may have applied the change: a later NO_CARD does not undo
                # that (the server answers a retry with the recorded outcome).
                error.metadata["commit_state"] = "UNKNOWN"
            raise error

    # --- readers and cards -------------------------------------------------------------------

    def list_readers(self):
        """The readers (desfired.v1.Reader), in pcscd's order."""
        return list(self.call("ListReaders", card_pb2.ListReadersRequest()).readers)

    def watch_cards(self, readers=None, resume_after=None, timeout=None):
        """A Watch: iterate it for WatchCardsResponse items, a snapshot first (unless
        resuming), then events. It runs until close() (from any thread, also while another
        thread waits in the iteration, which then ends), `timeout` seconds pass (DesfiredError
        DEADLINE_EXCEEDED), or the stream ends with an error (DesfiredError, e.g.
        SHUTTING_DOWN, SLOW_CONSUMER: resume after the last sequence number seen)."""
        request = card_pb2.WatchCardsRequest(readers=list(readers or []))
        if resume_after is not None:
            request.resume_after_sequence = resume_after
        return Watch(self.card.WatchCards(request, timeout=timeout, metadata=self._metadata))

    def card_info(self, reader, key_name=None, key_no=0, expected_uid=None):
        request = card_pb2.GetCardInfoRequest(target=_target(reader, expected_uid),
                                              auth=_auth(key_name, key_no))
        return self.call("GetCardInfo", request)

    def verify_originality(self, reader, expected_uid=None):
        """The card's NXP originality signature checked by the server: a
        VerifyOriginalityResponse (verdict ORIGINALITY_VERDICT_GENUINE / _NOT_GENUINE /
        _UNKNOWN_PRODUCT, key_name, keys_tried, uid, signature)."""
        request = card_pb2.VerifyOriginalityRequest(target=_target(reader, expected_uid))
        return self.call("VerifyOriginality", request)

    def list_applications(self, reader, key_name=None, key_no=0, expected_uid=None):
        """Every application on the card (all pages), as desfired.v1.Application."""
        request = card_pb2.ListApplicationsRequest(target=_target(reader, expected_uid),
                                                   auth=_auth(key_name, key_no))
        return self.call_all_pages("ListApplications", request, "applications")

    def list_files(self, reader, aid, key_name=None, key_no=0, include_settings=False,
                   expected_uid=None):
        """Every file of an application (all pages), as desfired.v1.FileEntry."""
        request = card_pb2.ListFilesRequest(target=_target(reader, expected_uid), aid=aid,
                                            auth=_auth(key_name, key_no),
                                            include_settings=include_settings)
        return self.call_all_pages("ListFiles", request, "files")

    # --- files -----------------------------------------------------------------------------

    def read_data(self, reader, aid, file_no, key_name=None, key_no=0, offset=0, length=0,
                  expected_uid=None, iso=None):
        """Bytes of a standard or backup data file (length 0: to the end of the file); with
        `iso` (see _iso) by ISO READ BINARY."""
        request = card_pb2.ReadDataRequest(target=_target(reader, expected_uid), aid=aid,
                                           file_no=file_no, auth=_auth(key_name, key_no),
                                           offset=offset, length=length, iso=_iso(iso))
        return self.call("ReadData", request).data

    def write_data(self, reader, aid, file_no, data, key_name=None, key_no=0, offset=0,
                   request_id=None, expected_uid=None, iso=None):
        """Writes bytes of a data file (a backup file is committed); WriteDataResponse. With
        `iso` (see _iso) by ISO UPDATE BINARY."""
        request = card_pb2.WriteDataRequest(target=_target(reader, expected_uid), aid=aid,
                                            file_no=file_no, auth=_auth(key_name, key_no),
                                            offset=offset, data=bytes(data),
                                            request_id=request_id or "", iso=_iso(iso))
        return self.change("WriteData", request)

    def get_value(self, reader, aid, file_no, key_name=None, key_no=0, expected_uid=None):
        """The committed value of a value file (an int)."""
        request = card_pb2.GetValueRequest(target=_target(reader, expected_uid), aid=aid,
                                           file_no=file_no, auth=_auth(key_name, key_no))
        return self.call("GetValue", request).value

    def _value_change(self, method, request_type, reader, aid, file_no, amount, key_name,
                      key_no, request_id, expected_uid, tmac_key=None, reader_id=None):
        request = request_type(target=_target(reader, expected_uid), aid=aid, file_no=file_no,
                               auth=_auth(key_name, key_no), amount=amount,
                               request_id=request_id or "")
        if tmac_key or reader_id:
            request.transaction_mac.key_name = tmac_key or ""
            request.transaction_mac.reader_id = reader_id or b""
        return self.change(method, request).change

    def debit(self, reader, aid, file_no, amount, key_name, key_no=0, request_id=None,
              expected_uid=None, tmac_key=None, reader_id=None):
        """Subtracts `amount`, committed; returns the desfired.v1.ValueChange (committed,
        replayed, value_before, value_after). Not enough value: DesfiredError OUT_OF_RANGE /
        INSUFFICIENT_VALUE. Transaction MAC (docs/ev3.md): `reader_id` (16 bytes) is committed
        with CommitReaderID; with `tmac_key` (a key name of the server's store) the change's
        transaction_mac holds TMC, TMV and whether the server verified the TMV."""
        return self._value_change("Debit", card_pb2.DebitRequest, reader, aid, file_no, amount,
                                  key_name, key_no, request_id, expected_uid, tmac_key,
                                  reader_id)

    def credit(self, reader, aid, file_no, amount, key_name, key_no=0, request_id=None,
               expected_uid=None, tmac_key=None, reader_id=None):
        """Adds `amount`, committed; returns the ValueChange (Transaction MAC: see debit)."""
        return self._value_change("Credit", card_pb2.CreditRequest, reader, aid, file_no,
                                  amount, key_name, key_no, request_id, expected_uid, tmac_key,
                                  reader_id)

    def limited_credit(self, reader, aid, file_no, amount, key_name, key_no=0, request_id=None,
                       expected_uid=None):
        """Refunds up to the last transaction's debits, committed; returns the ValueChange."""
        return self._value_change("LimitedCredit", card_pb2.LimitedCreditRequest, reader, aid,
                                  file_no, amount, key_name, key_no, request_id, expected_uid)

    def read_records(self, reader, aid, file_no, key_name=None, key_no=0, expected_uid=None,
                     iso=None):
        """Every record of a record file, newest first (ReadRecordsResponse.Record list); with
        `iso` (see _iso) by ISO READ RECORD."""
        request = card_pb2.ReadRecordsRequest(target=_target(reader, expected_uid), aid=aid,
                                              file_no=file_no, auth=_auth(key_name, key_no),
                                              iso=_iso(iso))
        return self.call_all_pages("ReadRecords", request, "records")

    def change_file_settings(self, reader, aid, file_no, communication_mode, access_rights,
                             sdm=None, key_name=None, key_no=0, request_id=None,
                             expected_uid=None):
        """Changes a file's communication mode ("plain", "mac", "full"), access rights (a dict
        read, write, read_write, change_settings: key numbers, 14 free, 15 never) and, with
        `sdm` (a dict of desfired.v1.SdmSettings fields, or one), enables Secure Dynamic
        Messaging; without it SDM is off. ChangeFileSettingsResponse."""
        if sdm is not None and not isinstance(sdm, card_pb2.SdmSettings):
            sdm = card_pb2.SdmSettings(**sdm)
        request = card_pb2.ChangeFileSettingsRequest(
            target=_target(reader, expected_uid), aid=aid, file_no=file_no,
            auth=_auth(key_name, key_no),
            communication_mode=card_pb2.CommunicationMode.Value(
                "COMMUNICATION_MODE_" + communication_mode.upper()),
            access_rights=card_pb2.AccessRights(**access_rights), sdm=sdm,
            request_id=request_id or "")
        return self.change("ChangeFileSettings", request)

    # --- tap records -------------------------------------------------------------------------

    def parse_taps(self, records):
        """Parses raw 32-byte tap records on the server; ParseTapsResponse."""
        request = taps_pb2.ParseTapsRequest(
            records=[taps_pb2.TapInput(raw=bytes(r)) for r in records])
        return self.call("ParseTaps", request)

    def verify_sun(self, messages, file_key_name, meta_key_name="", cipher="aes", aid=0):
        """Verifies SUN messages (dicts or SunMessage with picc_data / uid + counter,
        enc_file_data, mac_input, mac: the text of the tag's URL) with the server's keys;
        VerifySunResponse, one SunResult per message (VALID / FLAGGED / REJECTED)."""
        request = taps_pb2.VerifySunRequest(
            cipher=taps_pb2.SUN_CIPHER_LRP if cipher == "lrp" else taps_pb2.SUN_CIPHER_AES,
            meta_key_name=meta_key_name, file_key_name=file_key_name, aid=aid,
            messages=[m if isinstance(m, taps_pb2.SunMessage) else taps_pb2.SunMessage(**m)
                      for m in messages])
        return self.call("VerifySun", request)

    def verify_sun_stream(self, chunks, file_key_name, meta_key_name="", cipher="aes", aid=0):
        """VerifySunStream over `chunks` (lists of messages, as verify_sun takes them): yields
        one VerifySunResponse per chunk, then the last one with the stream's counts."""
        sun_cipher = taps_pb2.SUN_CIPHER_LRP if cipher == "lrp" else taps_pb2.SUN_CIPHER_AES

        def requests():
            for chunk in chunks:
                yield taps_pb2.VerifySunRequest(
                    cipher=sun_cipher, meta_key_name=meta_key_name,
                    file_key_name=file_key_name, aid=aid,
                    messages=[m if isinstance(m, taps_pb2.SunMessage) else
                              taps_pb2.SunMessage(**m) for m in chunk])

        try:
            for response in self.taps.VerifySunStream(requests(), timeout=self.deadline,
                                                      metadata=self._metadata):
                yield response
        except grpc.RpcError as e:
            raise DesfiredError.from_rpc_error(e) from None


class Watch:
    """An open WatchCards stream (Client.watch_cards).

        watch = client.watch_cards(readers=[reader])
        threading.Timer(60, watch.close).start()    # close() is safe from any thread
        for item in watch:                          # ends quietly after close()
            print(item)

    Iterate it from one thread at a time; close() may be called from any thread, any number
    of times, and cancels the stream: a thread waiting for the next item gets the end of the
    iteration, not an error. Also a context manager (close() on exit).
    """

    def __init__(self, stream):
        self._stream = stream
        self._closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed.is_set():
            raise StopIteration
        try:
            return next(self._stream)
        except grpc.RpcError as e:
            if self._closed.is_set() and e.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise DesfiredError.from_rpc_error(e) from None

    def close(self):
        """Cancels the stream; idempotent and thread-safe."""
        self._closed.set()
        self._stream.cancel()

    @property
    def closed(self):
        return self._closed.is_set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.cancel()


def reason_name(value):
    """The reason string of an errors.proto ErrorReason number (e.g. 3 -> "NO_CARD")."""
    return errors_pb2.ErrorReason.Name(value)
