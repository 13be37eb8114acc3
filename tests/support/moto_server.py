"""Runs moto's AWS stand-in on 127.0.0.1 for the integration tests.

Binds port 0 (so parallel runs never collide), prints the port on one line, and stops when its stdin
closes, which happens when the test process that started it exits, however it exits.
"""
import os
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
# Nothing more goes to stdout: the test may close its end of the pipe once it has read the above.
sys.stdout = open(os.devnull, "w")
sys.stdin.read()
server.stop()
