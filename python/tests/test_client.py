"""Tests of the Python client (desfired_client and the generated desfired.v1 modules).

LiveServerTest runs against a real desfired with desfire-sim's transit card, as
desfired-testbed starts them (DESFIRED_SERVER, DESFIRED_READER, DESFIRED_SIM_CONTROL; ctest:
python_client_test). RetryTest and TokenTest use a small CardService of their own on
loopback, to see what the client sends on each attempt.

Run: PYTHONPATH=<build>/python desfired-testbed -- /usr/bin/python3 -m unittest discover
     -s python/tests
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
from concurrent import futures

import grpc

import desfired_client
from desfired.v1 import card_pb2, card_pb2_grpc
from desfired_client import DesfiredError
from google.rpc import error_details_pb2, status_pb2

AID = 0xF51001
UID = "04a1b2c3d4e5f6"
# What the transit image holds in file 4 (free read) of F51001.
FILE4 = b"desfired demo issuer, not valid\x00"


def sim_control(command):
    """Sends one control command to desfire-sim (docs/simulator.md); returns the reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect(os.environ["DESFIRED_SIM_CONTROL"])
        s.sendall(command.encode() + b"\n")
        reply = b""
        while True:
            chunk = s.recv(256)
            if not chunk:
                break
            reply += chunk
    if not reply.startswith(b"ok"):
        raise RuntimeError("desfire-sim answered %r to %r" % (reply, command))
    return reply.decode().strip()


@unittest.skipUnless(os.environ.get("DESFIRED_SIM_CONTROL"), "needs desfired-testbed")
class LiveServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reader = os.environ["DESFIRED_READER"]
        cls.client = desfired_client.connect(deadline=10.0)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def value(self):
        return self.client.get_value(self.reader, AID, 1, key_name="transit-read", key_no=1)

    def test_list_readers_shows_the_card(self):
        readers = {r.name: r for r in self.client.list_readers()}
        self.assertIn(self.reader, readers)
        self.assertTrue(readers[self.reader].card_present)
        self.assertEqual(readers[self.reader].uid.hex(), UID)

    def test_applications_and_files(self):
        apps = self.client.list_applications(self.reader)
        self.assertEqual([a.aid for a in apps], [AID])
        files = self.client.list_files(self.reader, AID, include_settings=True)
        self.assertEqual([f.file_no for f in files], [1, 2, 3, 4, 5])
        self.assertEqual(files[0].settings.file_type, card_pb2.FILE_TYPE_VALUE)
        self.assertEqual(files[0].settings.value.upper_limit, 100000)

    def test_read_data(self):
        self.assertEqual(self.client.read_data(self.reader, AID, 4), FILE4)
        # The same bytes by ISO READ BINARY (file 4 is plain and free: its short file id).
        self.assertEqual(self.client.read_data(self.reader, AID, 4, iso=True), FILE4)
        secret = self.client.read_data(self.reader, AID, 5, key_name="transit-read", key_no=1,
                                       offset=0, length=6)
        self.assertEqual(secret, b"SECRET")

    def test_debit_with_and_without_a_request_id(self):
        before = self.value()
        change = self.client.debit(self.reader, AID, 1, 7, key_name="transit-debit", key_no=2,
                                   request_id="py-debit-1")
        self.assertTrue(change.committed)
        self.assertEqual(change.value_before, before)
        self.assertEqual(change.value_after, before - 7)
        change = self.client.debit(self.reader, AID, 1, 1, key_name="transit-debit", key_no=2)
        self.assertEqual(change.value_after, before - 8)
        self.assertEqual(self.value(), before - 8)
        credit = self.client.credit(self.reader, AID, 1, 8, key_name="transit-credit", key_no=3)
        self.assertEqual(credit.value_after, before)

    def test_insufficient_value_carries_reason_metadata_and_request_id(self):
        before = self.value()
        with self.assertRaises(DesfiredError) as caught:
            self.client.debit(self.reader, AID, 1, before + 1, key_name="transit-debit",
                              key_no=2)
        e = caught.exception
        self.assertEqual(e.code, grpc.StatusCode.OUT_OF_RANGE)
        self.assertEqual(e.reason, "INSUFFICIENT_VALUE")
        self.assertEqual(e.metadata.get("desfire_status"), "BE")
        self.assertEqual(len(e.request_id), 36)
        self.assertFalse(e.transport)
        self.assertEqual(self.value(), before)

    def test_verify_originality_reaches_the_card(self):
        # The testbed's card has no originality key: desfire-sim refuses ReadSig as an EV1
        # does (the genuine / not genuine answers are tested end to end in ev3_e2e_test).
        with self.assertRaises(DesfiredError) as caught:
            self.client.verify_originality(self.reader)
        self.assertEqual(caught.exception.code, grpc.StatusCode.UNIMPLEMENTED)
        self.assertEqual(caught.exception.reason, "ILLEGAL_COMMAND")

    def test_verify_sun_names_a_missing_key(self):
        # The testbed's key store has no SDM keys (the answers are tested in ev3_e2e_test).
        with self.assertRaises(DesfiredError) as caught:
            self.client.verify_sun([{"picc_data": "EF963FF7828658A599F3041510671E88",
                                     "mac": "94EED9EE65337086"}],
                                   file_key_name="no-such-sdm-key")
        self.assertEqual(caught.exception.reason, "KEY_NOT_FOUND")

    def test_unknown_reader_and_unknown_key(self):
        with self.assertRaises(DesfiredError) as caught:
            self.client.get_value("No Such Reader 00 00", AID, 1)
        self.assertEqual(caught.exception.reason, "READER_NOT_FOUND")
        self.assertEqual(caught.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertEqual(caught.exception.metadata.get("reader"), "No Such Reader 00 00")
        with self.assertRaises(DesfiredError) as caught:
            self.client.get_value(self.reader, AID, 1, key_name="no-such-key", key_no=1)
        self.assertEqual(caught.exception.reason, "KEY_NOT_FOUND")
        self.assertEqual(caught.exception.metadata.get("key_name"), "no-such-key")

    def test_watch_cards_sees_the_card_leave_and_come_back(self):
        stream = self.client.watch_cards(readers=[self.reader], timeout=15)
        first = next(stream)
        self.assertTrue(first.HasField("snapshot"))
        self.assertTrue(first.snapshot.readers[0].card_present)
        sim_control("remove")
        try:
            removed = next(stream)
        finally:
            sim_control("insert")
        inserted = next(stream)
        stream.close()
        self.assertEqual(removed.event.kind, card_pb2.CardEvent.CARD_REMOVED)
        self.assertEqual(inserted.event.kind, card_pb2.CardEvent.CARD_INSERTED)
        self.assertEqual(inserted.event.uid.hex(), UID)
        self.assertGreater(inserted.event.sequence, removed.event.sequence)
        self.wait_for_card()

    def test_watch_closed_from_another_thread_ends_the_iteration(self):
        watch = self.client.watch_cards(readers=[self.reader], timeout=15)
        self.assertTrue(next(watch).HasField("snapshot"))
        items, errors = [], []

        def iterate():
            try:
                for item in watch:  # waits: no event comes
                    items.append(item)
            except Exception as e:  # noqa: BLE001 - the test reports it
                errors.append(e)

        reader = threading.Thread(target=iterate)
        reader.start()
        time.sleep(0.2)  # let it wait inside the stream (the close must work either way)
        watch.close()
        reader.join(timeout=10)
        self.assertFalse(reader.is_alive(), "close() did not end the iteration")
        self.assertEqual(errors, [])
        self.assertEqual(items, [])
        self.assertTrue(watch.closed)
        watch.close()  # idempotent
        with self.assertRaises(StopIteration):
            next(watch)

    def test_no_card_then_the_same_request_id_after_reinsertion(self):
        before = self.value()
        sim_control("remove")
        try:
            deadline = time.monotonic() + 5
            while True:  # until desfired has seen the card go
                readers = {r.name: r for r in self.client.list_readers()}
                if not readers[self.reader].card_present or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            with self.assertRaises(DesfiredError) as caught:
                self.client.debit(self.reader, AID, 1, 2, key_name="transit-debit", key_no=2,
                                  request_id="py-bounce-1")
            self.assertIn(caught.exception.reason, ("NO_CARD", "CARD_REMOVED"))
            self.assertEqual(caught.exception.request_id, "py-bounce-1")
        finally:
            sim_control("insert")
        self.wait_for_card()
        change = self.client.debit(self.reader, AID, 1, 2, key_name="transit-debit", key_no=2,
                                   request_id="py-bounce-1")
        self.assertTrue(change.committed)
        self.assertEqual(self.value(), before - 2)

    def wait_for_card(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            readers = {r.name: r for r in self.client.list_readers()}
            if readers[self.reader].card_present:
                return
            time.sleep(0.05)
        self.fail("the card did not come back")


def error_status(code, reason, **metadata):
    """A grpc status with the google.rpc.Status trailer desfired sends."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain="desfired.dev", metadata=metadata)
    status = status_pb2.Status(code=code.value[0], message=reason + " from the fake")
    status.details.add().Pack(info)
    return status


class FakeCards(card_pb2_grpc.CardServiceServicer):
    """Answers Debit with the errors queued in `errors`, then OK; records what came."""

    def __init__(self):
        self.errors = []
        self.request_ids = []
        self.authorization = []
        self.transaction_macs = []

    def Debit(self, request, context):
        self.request_ids.append(request.request_id)
        self.transaction_macs.append(request.transaction_mac)
        self.authorization.append(dict(context.invocation_metadata()).get("authorization"))
        if self.errors:
            code, reason, metadata = self.errors.pop(0)
            status = error_status(code, reason, **metadata)
            context.abort_with_status(_RichStatus(code, status))
        return card_pb2.DebitResponse(
            change=card_pb2.ValueChange(committed=True, value_before=5, value_after=4))

    def GetValue(self, request, context):
        self.request_ids.append(request.target.reader)
        context.abort_with_status(_RichStatus(
            grpc.StatusCode.UNAVAILABLE,
            error_status(grpc.StatusCode.UNAVAILABLE, "PCSC_UNAVAILABLE")))


class _RichStatus(grpc.Status):
    def __init__(self, code, status):
        self.code = code
        self.details = status.message
        self.trailing_metadata = (("grpc-status-details-bin", status.SerializeToString()),)


class FakeServerTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeCards()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        card_pb2_grpc.add_CardServiceServicer_to_server(self.fake, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def tearDown(self):
        self.server.stop(None)

    def connect(self, **kwargs):
        kwargs.setdefault("retry_backoff", 0.01)
        return desfired_client.connect("127.0.0.1:%d" % self.port, **kwargs)


class RetryTest(FakeServerTest):
    def test_unavailable_is_retried_with_the_same_request_id(self):
        self.fake.errors = [(grpc.StatusCode.UNAVAILABLE, "CARD_REMOVED",
                             {"commit_state": "NOT_COMMITTED"})] * 2
        client = self.connect(mutation_retries=2)
        change = client.debit("R", AID, 1, 1, key_name="k")
        self.assertEqual(change.value_after, 4)
        self.assertEqual(len(self.fake.request_ids), 3)
        self.assertEqual(len(set(self.fake.request_ids)), 1)
        self.assertEqual(len(self.fake.request_ids[0]), 36)

    def test_debit_sends_the_transaction_mac_request(self):
        client = self.connect()
        client.debit("R", AID, 1, 1, key_name="k", tmac_key="tmac", reader_id=b"\x28" * 16)
        client.debit("R", AID, 1, 1, key_name="k")
        self.assertEqual(self.fake.transaction_macs[0].key_name, "tmac")
        self.assertEqual(self.fake.transaction_macs[0].reader_id, b"\x28" * 16)
        self.assertEqual(self.fake.transaction_macs[1].key_name, "")
        self.assertEqual(self.fake.transaction_macs[1].reader_id, b"")

    def test_retries_run_out_with_the_last_error(self):
        self.fake.errors = [(grpc.StatusCode.UNAVAILABLE, "CARD_REMOVED",
                             {"commit_state": "UNKNOWN"}),
                            (grpc.StatusCode.FAILED_PRECONDITION, "NO_CARD", {})]
        client = self.connect(mutation_retries=3)
        with self.assertRaises(DesfiredError) as caught:
            client.debit("R", AID, 1, 1, key_name="k", request_id="order-1")
        e = caught.exception
        self.assertEqual(e.reason, "NO_CARD")  # not retried: FAILED_PRECONDITION
        self.assertEqual(e.attempts, 2)
        self.assertEqual(e.request_id, "order-1")
        # The first attempt may have committed: the error says so.
        self.assertEqual(e.commit_state, "UNKNOWN")
        self.assertEqual(self.fake.request_ids, ["order-1", "order-1"])

    def test_reads_are_not_retried(self):
        client = self.connect(mutation_retries=3)
        with self.assertRaises(DesfiredError) as caught:
            client.get_value("R", AID, 1)
        self.assertEqual(caught.exception.reason, "PCSC_UNAVAILABLE")
        self.assertEqual(self.fake.request_ids, ["R"])

    def test_no_server_is_a_transport_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again: nothing listens there
        client = desfired_client.connect("127.0.0.1:%d" % port, deadline=2.0,
                                         mutation_retries=1, retry_backoff=0.01)
        with self.assertRaises(DesfiredError) as caught:
            client.debit("R", AID, 1, 1, key_name="k")
        self.assertTrue(caught.exception.transport)
        self.assertIsNone(caught.exception.reason)
        self.assertEqual(caught.exception.attempts, 2)


class TokenTest(FakeServerTest):
    def test_token_is_sent_as_bearer_metadata(self):
        self.connect(token="s3cret").debit("R", AID, 1, 1, key_name="k")
        self.connect().debit("R", AID, 1, 1, key_name="k")
        self.assertEqual(self.fake.authorization, ["Bearer s3cret", None])

    def test_bad_tls_options(self):
        with self.assertRaisesRegex(ValueError, "go together"):
            desfired_client.connect("h:1", tls_cert="c.pem")
        with self.assertRaisesRegex(ValueError, "cannot read the TLS CA file"):
            desfired_client.connect("h:1", tls_ca="/nonexistent/ca.pem")
        with self.assertRaisesRegex(ValueError, "needs TLS"):
            desfired_client.connect("h:1", tls_server_name="localhost")


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsTest(unittest.TestCase):
    """A TLS server with a self-signed certificate: the client trusts it through tls_ca."""

    def test_tls_with_a_ca_file_and_server_name(self):
        with tempfile.TemporaryDirectory() as d:
            key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                            "/CN=desfired-test", "-addext", "subjectAltName=DNS:desfired-test",
                            "-keyout", key, "-out", cert],
                           check=True, capture_output=True)
            with open(key, "rb") as k, open(cert, "rb") as c:
                credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
            fake = FakeCards()
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            card_pb2_grpc.add_CardServiceServicer_to_server(fake, server)
            port = server.add_secure_port("127.0.0.1:0", credentials)
            server.start()
            try:
                client = desfired_client.connect("127.0.0.1:%d" % port, tls_ca=cert,
                                                 tls_server_name="desfired-test", token="t")
                self.assertTrue(client.debit("R", AID, 1, 1, key_name="k").committed)
                self.assertEqual(fake.authorization, ["Bearer t"])
                plain = desfired_client.connect("127.0.0.1:%d" % port, deadline=2.0,
                                                mutation_retries=0)
                with self.assertRaises(DesfiredError) as caught:
                    plain.debit("R", AID, 1, 1, key_name="k")
                self.assertTrue(caught.exception.transport)
            finally:
                server.stop(None)


if __name__ == "__main__":
    unittest.main()
