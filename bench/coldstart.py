"""Cold start, latency and memory of the gateway binary, measured on this machine.

    python3 bench/coldstart.py [path/to/mosaic-sms-gateway]   (default: target/release/mosaic-sms-gateway)

Prints figures; asserts nothing. Cold starts are measured, each as init (exec until the runtime asks
for its first event) and exec to the first answer:

* lambda: the binary as the Lambda bootstrap, against a stand-in Lambda Runtime API on loopback, from
  exec to the answer of its first invocation (an API Gateway send event, outbox provider). This is the
  part of a Lambda cold start that the function controls (Lambda's own sandbox start is not in it).
* lambda + AWS: the same, deployed-style: the key read from Secrets Manager and SNS's sandbox status
  read during init (at once), and the SMS published to SNS, all against moto on loopback (moto answers
  one request at a time, so the two init reads add up here; on AWS they overlap). Plain HTTP: the
  TLS handshakes of the real services are not in it. Needs moto: run scripts/test once, or set
  MOTO_PYTHON.
* lambda + key: the key read from Secrets Manager (moto) during init, outbox provider: the budget's
  "init with the key fetched".
* lambda + AWS + table: the same with IDEMPOTENCY_TABLE (moto's DynamoDB: a start-up read, then the
  claim, the count and the outcome around the publish); then also with BLOCKED_COUNTRIES (the
  US numbering patterns compile during init).
* lambda + Twilio: the key and the Twilio credentials read from one secret (moto) during init, where
  the Twilio connection is also opened (its start-up read), and the SMS sent to a Twilio stand-in
  (tests/support/sns_stand_in.py) on loopback, plain HTTP.
* serve: `serve` from exec to the answer of its first HTTP challenge.

Then warm sends to `serve` (outbox provider) over one keep-alive connection: client-side latency
percentiles (the Python client's own overhead is in them) and the server's peak resident memory.
"""

import http.client
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "mosaic-sms-gateway")
KEY = "local-dev-key"
# The test credentials the Twilio stand-in accepts (tests/support/sns_stand_in.py).
TWILIO_ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "7e577e577e577e577e577e577e577e57"
RUNS = 20
SENDS = 2000


def fresh_send():
    """The 200-send event with a message no run sent before (a repeat would be a duplicate)."""
    global SENT
    SENT += 1
    send = json.loads(event("200-send.json"))
    body = json.loads(send["body"])
    body["message"] = f"Your Acme verification code is {SENT:06}"
    send["body"] = json.dumps(body)
    send["headers"]["content-length"] = str(len(send["body"]))
    return json.dumps(send)


SENT = 0


def event(name):
    with open(os.path.join(ROOT, "events", name)) as f:
        return f.read()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GATEWAY_", "SMS_", "SNS_", "OUTBOX_"))}
    env.update(extra)
    return env


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """The two calls of the Lambda Runtime API a first invocation needs."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if server.handed_out:
            server.idle.wait()  # one invocation per process
            return
        server.handed_out = True
        server.init_done_at = time.perf_counter()  # init is over when the runtime asks for work
        body = server.event.encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        answer = json.loads(self.rfile.read(length) or b"{}")
        self.send_response(202)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        self.server.answered_at = time.perf_counter()
        self.server.answer = answer
        self.server.done.set()


def start_moto():
    python = os.environ.get("MOTO_PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))
    proc = subprocess.Popen([python, os.path.join(ROOT, "tests", "support", "moto_server.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    python_code = (
        "import boto3, sys; boto3.client('secretsmanager', endpoint_url=sys.argv[1], region_name='us-east-1',"
        " aws_access_key_id='x', aws_secret_access_key='x').create_secret(Name=sys.argv[2], SecretString=sys.argv[3])"
    )
    subprocess.run([python, "-c", python_code, endpoint, "bench", json.dumps({"api_key": KEY})], check=True)
    table_code = (
        "import boto3, sys; boto3.client('dynamodb', endpoint_url=sys.argv[1], region_name='us-east-1',"
        " aws_access_key_id='x', aws_secret_access_key='x').create_table(TableName='bench',"
        " KeySchema=[{'AttributeName': 'pk', 'KeyType': 'HASH'}],"
        " AttributeDefinitions=[{'AttributeName': 'pk', 'AttributeType': 'S'}], BillingMode='PAY_PER_REQUEST')"
    )
    subprocess.run([python, "-c", table_code, endpoint], check=True)
    twilio_secret = {"api_key": KEY, "twilio_account_sid": TWILIO_ACCOUNT, "twilio_auth_token": TWILIO_TOKEN}
    subprocess.run([python, "-c", python_code, endpoint, "bench-twilio", json.dumps(twilio_secret)], check=True)
    return proc, endpoint


def start_twilio_stand_in():
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "support", "sns_stand_in.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    proc.stdout.readline()  # the closed port it also prints
    return proc, url


def lambda_cold_start(outbox, aws_endpoint=None, twilio_url=None, provider=None, extra=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    server.event, server.handed_out = fresh_send(), False
    server.done, server.idle = threading.Event(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = clean_env(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bench",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_STREAM_NAME="s",
        AWS_LAMBDA_LOG_GROUP_NAME="g",
        GATEWAY_API_KEY=KEY,
        SMS_PROVIDER="outbox",
        OUTBOX_PATH=outbox,
    )
    if aws_endpoint:
        del env["GATEWAY_API_KEY"]
        env.update(GATEWAY_SECRET_ID="bench", SMS_PROVIDER="sns", AWS_ENDPOINT_URL=aws_endpoint, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    if twilio_url:
        env.update(GATEWAY_SECRET_ID="bench-twilio", SMS_PROVIDER="twilio", TWILIO_API_BASE=twilio_url,
                   TWILIO_FROM="+15005550006")
    if provider:
        env["SMS_PROVIDER"] = provider
    env.update(extra or {})
    started = time.perf_counter()
    proc = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not server.done.wait(30):
            raise SystemExit("the function never answered")
        assert server.answer.get("statusCode") == 200, server.answer
        return (server.init_done_at - started) * 1000, (server.answered_at - started) * 1000
    finally:
        proc.kill()
        proc.wait()
        server.idle.set()
        server.shutdown()


def start_serve(outbox):
    env = clean_env(GATEWAY_API_KEY=KEY, OUTBOX_PATH=outbox)
    started = time.perf_counter()
    proc = subprocess.Popen([BIN, "serve", "--addr", "127.0.0.1:0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    host, port = line.strip().rsplit("http://", 1)[1].split(":")
    return proc, started, int(port)


def serve_cold_start(outbox):
    proc, started, port = start_serve(outbox)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", "/", headers={"X-API-Key": KEY, "X-Verification-Key": "v"})
        assert conn.getresponse().status == 200
        return (time.perf_counter() - started) * 1000
    finally:
        proc.kill()
        proc.wait()


def warm_sends(outbox):
    proc, _, port = start_serve(outbox)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        latencies = []
        for i in range(SENDS):
            body = json.dumps({"phone_number": "+14155550100", "sender_id": "Acme", "message": f"Your code is {i:06}"})
            t = time.perf_counter()
            conn.request("POST", "/", body=body, headers={"X-API-Key": KEY, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - t) * 1000)
            assert response.status == 200
        with open(f"/proc/{proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        return latencies, status["VmHWM"].strip(), status["VmRSS"].strip()
    finally:
        proc.kill()
        proc.wait()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} does not exist: build it first (cargo build --release)")
    with tempfile.TemporaryDirectory() as tmp:
        outbox = os.path.join(tmp, "outbox.jsonl")
        lam = [lambda_cold_start(outbox) for _ in range(RUNS)]
        moto, endpoint = start_moto()
        twilio, twilio_url = start_twilio_stand_in()
        try:
            lam_key = [lambda_cold_start(outbox, endpoint, provider="outbox") for _ in range(RUNS)]
            lam_aws = [lambda_cold_start(outbox, endpoint) for _ in range(RUNS)]
            table = {"IDEMPOTENCY_TABLE": "bench", "MAX_SMS_PER_NUMBER_PER_HOUR": "1000000"}
            lam_table = [lambda_cold_start(outbox, endpoint, extra=table) for _ in range(RUNS)]
            countries = dict(table, BLOCKED_COUNTRIES="KZ")
            lam_countries = [lambda_cold_start(outbox, endpoint, extra=countries) for _ in range(RUNS)]
            lam_twilio = [lambda_cold_start(outbox, endpoint, twilio_url) for _ in range(RUNS)]
        finally:
            for stand_in in (moto, twilio):
                stand_in.stdin.close()
                stand_in.wait()
        srv = [serve_cold_start(outbox) for _ in range(RUNS)]
        latencies, hwm, rss = warm_sends(outbox)
    print(f"binary: {BIN} ({os.path.getsize(BIN) / 1e6:.1f} MB)")
    for name, runs in (
        ("lambda, outbox", lam),
        ("lambda + key: secret read at init (moto), outbox", lam_key),
        ("lambda + AWS: secret read and SNS sandbox read at init, SNS publish, against moto", lam_aws),
        ("lambda + AWS + idempotency table: also the table's start-up read at init, and the claim, "
         "the count and the outcome around the publish", lam_table),
        ("lambda + AWS + table + BLOCKED_COUNTRIES: also the US numbering patterns compiled at init", lam_countries),
        ("lambda + Twilio: secret read and Twilio start-up read at init, send, against stand-ins", lam_twilio),
    ):
        init, first = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{name} ({RUNS} runs): init (exec to first /next) median {statistics.median(init):.1f} ms, "
              f"max {max(init):.1f} ms; exec to first answer median {statistics.median(first):.1f} ms, max {max(first):.1f} ms")
    print(f"serve cold start, exec to first answer ({RUNS} runs): median {statistics.median(srv):.1f} ms, max {max(srv):.1f} ms")
    print(f"warm sends to serve ({SENDS}, one keep-alive connection, outbox): p50 {pct(latencies, 0.5):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms")
    print(f"serve memory after {SENDS} sends: peak RSS {hwm}, RSS {rss}")


if __name__ == "__main__":
    main()
