"""Cold start, latency and memory of the gateway binary, measured on this machine.

    python3 bench/coldstart.py [path/to/mosaic-sms-gateway]   (default: target/release/mosaic-sms-gateway)

Prints figures; asserts nothing. Cold starts are measured, each as init (exec until the runtime asks
for its first event), the CPU the process used by then (all its threads, from /proc's scheduler
statistics), and exec to the first answer:

* lambda: the binary as the Lambda bootstrap, against a stand-in Lambda Runtime API on loopback, from
  exec to the answer of its first invocation (an API Gateway send event, outbox provider). This is the
  part of a Lambda cold start that the function controls (Lambda's own sandbox start is not in it).
* lambda + AWS: the same, deployed-style: the key read from Secrets Manager and SNS's sandbox status
  read during init (at once), and the SMS published to SNS, all against moto on loopback (moto answers
  one request at a time, so the two init reads add up here; on AWS they overlap). Needs moto: run
  scripts/test once, or set MOTO_PYTHON.
* lambda + key: the key read from Secrets Manager (moto) during init, outbox provider: the budget's
  "init with the key fetched".
* lambda + AWS + table: the same with IDEMPOTENCY_TABLE and FINGERPRINT_SECRET_ID, as the template
  sets them (moto's DynamoDB: a start-up read, the fingerprint secret beside the key's, then the
  claim, the count and the outcome around the publish); then also with BLOCKED_COUNTRIES (the
  US numbering patterns compile during init).
* lambda + Twilio: the key and the Twilio credentials read from one secret (moto) during init, where
  the Twilio connection is also opened (its start-up read), and the SMS sent to a Twilio stand-in
  (tests/support/sns_stand_in.py) on loopback.
* lambda + Salesforce Marketing Cloud: the key and the client credentials read from one secret
  (moto), then a token fetched and the send definition read from the stand-in during init, and the
  SMS sent through it.
* lambda + End User Messaging: the key read from Secrets Manager (moto) and the account's attributes
  read from End User Messaging (the stand-in) during init, then the SMS sent through it.
* serve: `serve` from exec to the answer of its first HTTP challenge.
* check / register: `check URL` against a running `serve`, and `register` against it and a Mosaic
  admin stand-in (a token, then the PUT): exec until the command exits.

Each case with a network runs twice in the same run, interleaved: over plain HTTP, and over TLS,
through a loopback TLS proxy in front of each stand-in (moto, the SNS/Twilio/End User Messaging
stand-in, `serve`, Mosaic: tests/support/tls_proxy.py). Its certificate comes from a throwaway CA
(ECDSA P-256), trusted the way AL2023 trusts its roots: `SSL_CERT_FILE` points at one bundle (the
system's roots plus that CA, so the roots parsed at start-up are as many as on Lambda), with no
`SSL_CERT_DIR`. The TLS column is what a cold start pays on Lambda, where every call is HTTPS.

Then the CPU the gateway uses per warm send through SNS over TLS (`serve`, 200 sends after a first
that opens the connection), and warm sends to `serve` (outbox provider) over one keep-alive
connection: client-side latency percentiles (the Python client's own overhead is in them) and the
server's peak resident memory. bench/tls_compare.py runs the TLS cases on two binaries side by side.
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
# The Mosaic admin stand-in's client credentials (not real ones).
MOSAIC_CLIENT = {"MOSAIC_CLIENT_ID": "bench-client", "MOSAIC_CLIENT_SECRET": "bench-secret"}


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
    prefixes = ("AWS_", "GATEWAY_", "SMS_", "SNS_", "OUTBOX_", "EUM_", "TWILIO_", "MOSAIC_", "SSL_CERT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def start_tls_proxy(bundle, backends):
    """tests/support/tls_proxy.py in front of each plain-HTTP URL in `backends`: {url: https url}."""
    proc = subprocess.Popen([moto_python(), os.path.join(ROOT, "tests", "support", "tls_proxy.py"), bundle,
                             *(str(port_of(url)) for url in backends)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, {url: f"https://127.0.0.1:{proc.stdout.readline().strip()}" for url in backends}


class MosaicAdmin(http.server.BaseHTTPRequestHandler):
    """Mosaic's admin API as `register` uses it: a client-credentials token, then the PUT."""

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        form = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        ok = self.path == "/oidc/token" and f"client_secret={MOSAIC_CLIENT['MOSAIC_CLIENT_SECRET']}" in form
        self.answer(200 if ok else 401, {"access_token": "bench-token"} if ok else {"error": "invalid_client"})

    def do_PUT(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        ok = (self.path == "/cis/v1/tenantsmsproviders" and self.headers.get("Authorization") == "Bearer bench-token"
              and body.get("custom_gateway", {}).get("api_key") == KEY)
        self.answer(200 if ok else 400, body if ok else {"error": "bad registration"})


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
        server.init_cpu = cpu_ms(server.pid) if server.pid else float("nan")
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


def moto_python():
    """The Python with moto and cryptography (scripts/test makes it)."""
    return os.environ.get("MOTO_PYTHON", os.path.join(ROOT, ".venv", "bin", "python"))


def start_moto():
    python = moto_python()
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
    # The template creates the fingerprint key's secret with the table.
    subprocess.run([python, "-c", python_code, endpoint, "bench-fingerprint",
                    json.dumps({"fingerprint_key": "f" * 64})], check=True)
    twilio_secret = {"api_key": KEY, "twilio_account_sid": TWILIO_ACCOUNT, "twilio_auth_token": TWILIO_TOKEN}
    subprocess.run([python, "-c", python_code, endpoint, "bench-twilio", json.dumps(twilio_secret)], check=True)
    # The installed package tests/support/sns_stand_in.py accepts.
    sfmc_secret = {"api_key": KEY, "sfmc_client_id": "sfmcclient0123456789abcdef",
                   "sfmc_client_secret": "local-test-sfmc-client-secret-00"}
    subprocess.run([python, "-c", python_code, endpoint, "bench-sfmc", json.dumps(sfmc_secret)], check=True)
    return proc, endpoint


def start_twilio_stand_in():
    """The SNS / Twilio / End User Messaging stand-in."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "support", "sns_stand_in.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    proc.stdout.readline()  # the closed port it also prints
    return proc, url


def port_of(url):
    return int(url.rsplit(":", 1)[1])


def lambda_cold_start(outbox, aws_endpoint=None, twilio_url=None, provider=None, extra=None, bundle=None):
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
    if bundle:
        env["SSL_CERT_FILE"] = bundle
    env.update(extra or {})
    started = time.perf_counter()
    server.pid = None
    proc = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server.pid = proc.pid
    try:
        if not server.done.wait(30):
            raise SystemExit("the function never answered")
        assert server.answer.get("statusCode") == 200, server.answer
        return (server.init_done_at - started) * 1000, (server.answered_at - started) * 1000, server.init_cpu
    finally:
        proc.kill()
        proc.wait()
        server.idle.set()
        server.shutdown()


def cpu_ms(pid):
    """CPU time the process's threads have used so far (ns-precise, from the scheduler), in ms."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # the thread ended meanwhile
    return total / 1e6


def start_serve(outbox, **extra):
    env = clean_env(**{"GATEWAY_API_KEY": KEY, "SMS_PROVIDER": "outbox", "OUTBOX_PATH": outbox, **extra})
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


def command(args, bundle=None):
    """`check` or `register` from exec until it exits (it must succeed); milliseconds."""
    env = clean_env(BENCH_KEY=KEY, **MOSAIC_CLIENT)
    if bundle:
        env["SSL_CERT_FILE"] = bundle
    started = time.perf_counter()
    done = subprocess.run([BIN, *args, "--api-key-env", "BENCH_KEY"], env=env, capture_output=True, text=True)
    took = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stdout}{done.stderr}")
    return took


def cpu_per_send(outbox, aws_endpoint, bundle, sends=200):
    """`serve` sending through SNS (moto behind the TLS proxy): the gateway's own CPU per send."""
    proc, _, port = start_serve(outbox, SMS_PROVIDER="sns", AWS_ENDPOINT_URL=aws_endpoint, AWS_REGION="us-east-1",
                                AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                                AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
                                AWS_SHARED_CREDENTIALS_FILE="/dev/null", SSL_CERT_FILE=bundle)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def send(i):
            body = json.dumps({"phone_number": "+14155550100", "message": f"Your code is {i:06}"})
            conn.request("POST", "/", body=body, headers={"X-API-Key": KEY, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        send(0)  # the first send opens the TLS connection to SNS
        before = cpu_ms(proc.pid)
        for i in range(1, sends + 1):
            send(i)
        return (cpu_ms(proc.pid) - before) / sends
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


def median(values):
    return statistics.median(values)


def summary(runs):
    """init and first answer medians of a list of (init, first answer), or of plain durations."""
    if isinstance(runs[0], tuple):
        init, first, cpu = [r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs]
        return (f"init {median(init):6.1f} ms (max {max(init):6.1f}, CPU {median(cpu):5.1f}), "
                f"first answer {median(first):6.1f} ms")
    return f"exec to exit {median(runs):6.1f} ms (max {max(runs):6.1f})"


def main():
    if not os.path.exists(BIN):
        raise SystemExit(f"{BIN} does not exist: build it first (cargo build --release)")
    with tempfile.TemporaryDirectory() as tmp:
        outbox = os.path.join(tmp, "outbox.jsonl")
        bundle = os.path.join(tmp, "roots.pem")
        lam = [lambda_cold_start(outbox) for _ in range(RUNS)]
        moto, endpoint = start_moto()
        stand_in, stand_in_url = start_twilio_stand_in()
        gateway, _, gateway_port = start_serve(outbox)
        mosaic = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MosaicAdmin)
        mosaic.daemon_threads = True
        threading.Thread(target=mosaic.serve_forever, daemon=True).start()
        mosaic_url = f"http://127.0.0.1:{mosaic.server_address[1]}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        tls_proxy, proxies = start_tls_proxy(bundle, (endpoint, stand_in_url, gateway_url, mosaic_url))
        with open(bundle) as f:
            roots = f.read().count("BEGIN CERTIFICATE")
        # As the template sets it up: the table, and the fingerprint key in a secret of its own.
        table = {"IDEMPOTENCY_TABLE": "bench", "MAX_SMS_PER_NUMBER_PER_HOUR": "1000000",
                 "FINGERPRINT_SECRET_ID": "bench-fingerprint"}

        def eum(aws, stand_in):
            return dict(EUM_ORIGINATION_IDENTITY="phone-0123456789", AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2=stand_in)

        # name, and a function of (aws endpoint, stand-in, gateway, mosaic, bundle) giving one run.
        cases = [
            ("lambda + key: secret read at init, outbox",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, provider="outbox", bundle=b)),
            ("lambda + SNS: secret and SNS sandbox read at init, SNS publish",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, bundle=b)),
            ("lambda + SNS + idempotency table: also the table and the fingerprint secret at init, claim/count/outcome",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, extra=table, bundle=b)),
            ("lambda + table + prefix and country limits: their counts and the block look beside the number's",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, extra=dict(
                 table, MAX_SMS_PER_PREFIX_PER_HOUR="1000000", MAX_SMS_PER_COUNTRY_PER_HOUR="1000000"), bundle=b)),
            ("lambda + table + BLOCKED_COUNTRIES: also the US patterns compiled at init",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, extra=dict(table, BLOCKED_COUNTRIES="KZ"), bundle=b)),
            ("lambda + End User Messaging: secret and account attributes at init, send",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, provider="end-user-messaging",
                                                         extra=eum(aws, si), bundle=b)),
            ("lambda + Salesforce Marketing Cloud: secret, then a token and the definition at init, send",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, provider="salesforce-marketing-cloud",
                                                         extra=dict(GATEWAY_SECRET_ID="bench-sfmc", SFMC_AUTH_BASE=si,
                                                                    SFMC_DEFINITION_KEY="mosaic-otp"), bundle=b)),
            ("lambda + Twilio: secret, then Twilio's balance at init, send",
             lambda aws, si, gw, mo, b: lambda_cold_start(outbox, aws, si, bundle=b)),
            ("check URL: the challenge to serve",
             lambda aws, si, gw, mo, b: command(["check", "--uri", gw + "/"], bundle=b)),
            ("register: Mosaic token, challenge to serve, PUT",
             lambda aws, si, gw, mo, b: command(["register", "--uri", gw + "/", "--region", "us",
                                                 "--api-base", mo], bundle=b)),
        ]
        results = {}
        try:
            for name, run in cases:
                plain, tls = [], []
                for _ in range(RUNS):  # interleaved, so both columns see the same machine
                    plain.append(run(endpoint, stand_in_url, gateway_url, mosaic_url, None))
                    tls.append(run(proxies[endpoint], proxies[stand_in_url], proxies[gateway_url],
                                   proxies[mosaic_url], bundle))
                results[name] = (plain, tls)
            send_cpu = cpu_per_send(outbox, proxies[endpoint], bundle)
        finally:
            for proc in (moto, stand_in, tls_proxy):
                proc.stdin.close()
                proc.wait()
            gateway.kill()
            gateway.wait()
            mosaic.shutdown()
        srv = [serve_cold_start(outbox) for _ in range(RUNS)]
        latencies, hwm, rss = warm_sends(outbox)
    print(f"binary: {BIN} ({os.path.getsize(BIN):,} bytes)")
    print(f"TLS roots: SSL_CERT_FILE with {roots} certificates (the system's and the bench CA), no SSL_CERT_DIR")
    print(f"lambda, outbox, no network ({RUNS} runs): {summary(lam)}")
    print(f"medians of {RUNS} runs each, plain HTTP | TLS | TLS minus plain (init, or exec to exit):")
    for name, (plain, tls) in results.items():
        key = (lambda r: r[0]) if isinstance(plain[0], tuple) else (lambda r: r)
        extra = median([key(r) for r in tls]) - median([key(r) for r in plain])
        print(f"  {name}\n    plain: {summary(plain)}\n    TLS:   {summary(tls)}\n    TLS adds {extra:+.1f} ms")
    print(f"CPU per warm send through SNS over TLS (serve, moto, 200 sends): {send_cpu:.3f} ms")
    print(f"serve cold start, exec to first answer ({RUNS} runs): median {median(srv):.1f} ms, max {max(srv):.1f} ms")
    print(f"warm sends to serve ({SENDS}, one keep-alive connection, outbox): p50 {pct(latencies, 0.5):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms")
    print(f"serve memory after {SENDS} sends: peak RSS {hwm}, RSS {rss}")


if __name__ == "__main__":
    main()
