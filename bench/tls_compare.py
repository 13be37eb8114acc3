"""Two gateway binaries' cold starts over TLS, in the same run, interleaved: what a change to the
TLS stack (its entropy source, its roots, its connectors) did to init.

    python3 bench/tls_compare.py BEFORE_BINARY AFTER_BINARY

Uses bench/coldstart.py's stand-ins and TLS proxy (moto, the SNS/Twilio stand-in, `serve` for
`check`); prints the median of 20 runs of each case for each binary. Asserts nothing.
"""
import importlib.util
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = 20


def load_coldstart():
    spec = importlib.util.spec_from_file_location("coldstart", os.path.join(HERE, "coldstart.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binaries = sys.argv[1:]
    bench = load_coldstart()
    with tempfile.TemporaryDirectory() as tmp:
        outbox, bundle = os.path.join(tmp, "outbox.jsonl"), os.path.join(tmp, "roots.pem")
        moto, aws = bench.start_moto()
        stand_in, stand_in_url = bench.start_twilio_stand_in()
        gateway, _, port = bench.start_serve(outbox)
        gateway_url = f"http://127.0.0.1:{port}"
        proxy, tls = bench.start_tls_proxy(bundle, (aws, stand_in_url, gateway_url))
        cases = {
            "key from Secrets Manager": lambda: bench.lambda_cold_start(outbox, tls[aws], provider="outbox", bundle=bundle),
            "SNS": lambda: bench.lambda_cold_start(outbox, tls[aws], bundle=bundle),
            "Twilio": lambda: bench.lambda_cold_start(outbox, tls[aws], tls[stand_in_url], bundle=bundle),
            "check": lambda: bench.command(["check", "--uri", tls[gateway_url] + "/"], bundle=bundle),
        }
        results = {binary: {name: [] for name in cases} for binary in binaries}
        try:
            for _ in range(RUNS):
                for binary in binaries:
                    bench.BIN = binary
                    for name, run in cases.items():
                        results[binary][name].append(run())
        finally:
            for proc in (moto, stand_in, proxy):
                proc.stdin.close()
                proc.wait()
            gateway.kill()
            gateway.wait()
    print(f"over TLS, medians of {RUNS} interleaved runs (init, or exec to exit for check; CPU used by init):")
    for binary, by_case in results.items():
        parts = []
        for name, runs in by_case.items():
            if isinstance(runs[0], tuple):
                init, cpu = statistics.median(r[0] for r in runs), statistics.median(r[2] for r in runs)
                parts.append(f"{name}: init {init:.1f} ms, CPU {cpu:.1f} ms")
            else:
                parts.append(f"{name}: {statistics.median(runs):.1f} ms")
        print(f"  {binary}\n    " + "\n    ".join(parts))


if __name__ == "__main__":
    main()
