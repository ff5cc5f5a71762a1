"""desfired_client: the Python client of desfired (see client.py and docs/clients.md).

    import desfired_client
    client = desfired_client.connect()          # $DESFIRED_SERVER or 127.0.0.1:50051
    for reader in client.list_readers():
        print(reader.name, reader.card_present)

The generated modules are importable too: desfired.v1.card_pb2, card_pb2_grpc, taps_pb2,
taps_pb2_grpc, errors_pb2, and google.rpc.status_pb2 / error_details_pb2.
"""

from desfired_client.client import (  # noqa: F401
    CARD_GONE_REASONS,
    Client,
    DesfiredError,
    Watch,
    connect,
    new_request_id,
    reason_name,
)
