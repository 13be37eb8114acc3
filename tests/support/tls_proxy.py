"""A loopback TLS front for plain-HTTP stand-ins (moto, the SNS/Twilio stand-in, `serve`, Mosaic), so
the gateway's HTTPS path runs as it does against AWS: a real handshake, the certificate checked
against the roots it loads at start-up.

    python tls_proxy.py BUNDLE BACKEND_PORT...

Makes a throwaway CA and a certificate for 127.0.0.1 and localhost signed by it (ECDSA P-256, valid
for two days, never written anywhere but BUNDLE's folder), and writes BUNDLE: the system's root
bundle, when there is one, followed by the CA. A gateway started with `SSL_CERT_FILE=BUNDLE` (and no
`SSL_CERT_DIR`) trusts it the way AL2023 trusts its roots, with as many roots to parse.

For each BACKEND_PORT it listens on a free port of 127.0.0.1 and prints that port on one line, in
order; each connection is TLS-terminated and its bytes relayed to 127.0.0.1:BACKEND_PORT. Stops when
its stdin closes.
"""
import datetime
import ipaddress
import os
import socket
import ssl
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Where distributions keep their root bundle (Debian/Ubuntu, then AL2023/RHEL).
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def certificate(subject, issuer, public_key, signing_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def server_context(bundle):
    """Writes the CA into `bundle` (after the system's roots) and returns the server's TLS context."""
    folder = os.path.dirname(os.path.abspath(bundle))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("gateway tests CA", "gateway tests CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate("127.0.0.1", "gateway tests CA", key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    chain, key_file = os.path.join(folder, "tls-proxy-cert.pem"), os.path.join(folder, "tls-proxy-key.pem")
    with open(chain, "wb") as f:
        f.write(leaf.public_bytes(pem))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    system = next((b for b in SYSTEM_BUNDLES if os.path.exists(b)), None)
    with open(bundle, "wb") as out:
        if system:
            with open(system, "rb") as f:
                out.write(f.read())
        out.write(ca.public_bytes(pem))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_file)
    return context


def relay(context, client, backend_port):
    try:
        client = context.wrap_socket(client, server_side=True)
        backend = socket.create_connection(("127.0.0.1", backend_port))
    except (OSError, ssl.SSLError):
        client.close()
        return
    for sock in (client, backend):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    threading.Thread(target=pump, args=(backend, client), daemon=True).start()
    pump(client, backend)


def serve(context, listener, backend_port):
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(context, client, backend_port), daemon=True).start()


def main():
    bundle, backends = sys.argv[1], [int(port) for port in sys.argv[2:]]
    context = server_context(bundle)
    for backend_port in backends:
        listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=serve, args=(context, listener, backend_port), daemon=True).start()
        print(listener.getsockname()[1], flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
