"""A stand-in for Amazon SNS's Publish, for replaying the events whose answer depends on SNS.

It checks what SNS checks first (a Query API `Publish` with `PhoneNumber` and `Message`) and answers
as SNS does: `InvalidParameter` (HTTP 400) for a number in an unassigned country code (+999...),
`Throttling` (HTTP 400) for +998 numbers, a `PublishResponse` with a fresh MessageId otherwise.
Both errors quote the number, as SNS's messages can. Binds port 0 on 127.0.0.1 and prints the port on
one line, then on a second line a port where nothing listens; stops when its stdin closes.
"""
import http.server
import socket
import os
import sys
import threading
import urllib.parse
import uuid

NS = "http://sns.amazonaws.com/doc/2010-03-31/"


class Sns(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.answer(status, f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
                            f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        field = lambda name: form.get(name, [""])[0]
        if field("Action") != "Publish":
            return self.error(400, "InvalidAction", f"{field('Action')} is not supported here")
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return self.error(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        phone, message = field("PhoneNumber"), field("Message")
        if not phone or not message:
            return self.error(400, "InvalidParameter", "Invalid parameter: PhoneNumber and Message are required")
        if phone.startswith("+999"):
            return self.error(400, "InvalidParameter",
                              f"Invalid parameter: PhoneNumber Reason: {phone} is not valid to publish to")
        if phone.startswith("+998"):
            return self.error(400, "Throttling", f"Rate exceeded for {phone}")
        self.answer(200, f'<PublishResponse xmlns="{NS}"><PublishResult><MessageId>{uuid.uuid4()}</MessageId>'
                         f"</PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
                         "</ResponseMetadata></PublishResponse>")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sns)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
# A port held bound but not listening while this runs: connections to it are refused, and no other
# process can take it meanwhile. For the events that need an unreachable endpoint.
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
print(server.server_address[1], flush=True)
print(closed.getsockname()[1], flush=True)
# Nothing more goes to stdout: the test may close its end of the pipe once it has read the above.
sys.stdout = open(os.devnull, "w")
sys.stdin.read()
server.shutdown()
