"""Runs moto's AWS stand-in on 127.0.0.1 for the integration tests.

Binds port 0 (so parallel runs never collide), prints the port on one line, and stops when its stdin
closes, which happens when the test process that started it exits, however it exits.

DynamoDB applies each conditional write atomically, and the gateway's idempotency rests on that.
moto checks a condition and then writes, with no lock between, so two requests at once could both
pass it (seen in CI: three gateways, one request, two SMS). Here DynamoDB requests are served one at
a time, as DynamoDB itself would order them; other services stay concurrent.
"""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

moto_app = DomainDispatcherApplication(create_backend_app)
dynamodb = threading.Lock()


def app(environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with dynamodb:
            # The whole answer is produced inside the lock.
            return list(moto_app(environ, start_response))
    return moto_app(environ, start_response)


server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
# Nothing more goes to stdout: the test may close its end of the pipe once it has read the above.
sys.stdout = open(os.devnull, "w")
sys.stdin.read()
server.shutdown()
