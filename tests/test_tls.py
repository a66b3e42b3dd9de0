"""A PTO load on a Ray head started with TLS (``RAY_USE_TLS``) and certificates made here, and the drivers
that head refuses: one without the TLS settings, one whose certificate another CA signed."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray.util
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ray_head import Head, start_head

REPO = Path(__file__).resolve().parent.parent
TLS_SETTINGS = ("RAY_USE_TLS", "RAY_TLS_SERVER_CERT", "RAY_TLS_SERVER_KEY", "RAY_TLS_CA_CERT")
# A driver the head refuses would otherwise retry for ~13 minutes (20 tries of ~40 s each, seen in its log):
# these bound its own waiting, and nothing of the head.
GIVE_UP_SOON = {"RAY_py_gcs_connect_timeout_s": "3", "RAY_gcs_rpc_server_connect_timeout_s": "2",
                "RAY_gcs_server_port_wait_time_s": "1"}
REFUSED_HANDSHAKE = "Handshake failed"  # what gRPC logs in the GCS server for a client it refuses


class Authority:
    """A certificate authority of the test's own that issues node certificates, each for server and client
    use (Ray's TLS is mutual: every process presents its certificate and checks its peer's)."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            _valid_for_a_day(x509.CertificateBuilder().subject_name(subject).issuer_name(subject))
            .public_key(self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, directory: Path, ips: list[str]) -> dict[str, str]:
        """Write this CA's certificate and a node certificate and key naming ``ips`` into ``directory``;
        returns the environment that makes a Ray process use them."""
        directory.mkdir(parents=True)
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost"), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
        certificate = (
            _valid_for_a_day(x509.CertificateBuilder()
                             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ray-node")]))
                             .issuer_name(self.certificate.subject))
            .public_key(key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        files = {"ca.crt": self.certificate.public_bytes(serialization.Encoding.PEM),
                 "node.crt": certificate.public_bytes(serialization.Encoding.PEM),
                 "node.key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())}
        for name, content in files.items():
            (directory / name).write_bytes(content)
        (directory / "node.key").chmod(0o600)
        return {"RAY_USE_TLS": "1", "RAY_TLS_SERVER_CERT": str(directory / "node.crt"),
                "RAY_TLS_SERVER_KEY": str(directory / "node.key"), "RAY_TLS_CA_CERT": str(directory / "ca.crt")}


def _valid_for_a_day(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (builder.serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1)))


@pytest.fixture(scope="module")
def tls_head() -> Iterator[tuple[Head, str, dict[str, str]]]:
    """A head node with TLS and token authentication, its own temp dir, ports and process group; yields it,
    the address drivers join, and the environment of a driver that has the certificates and the token."""
    temp_dir = Path(tempfile.mkdtemp(prefix="rbt-", dir="/tmp"))  # short: Ray's socket paths live under it
    # Ray advertises the node's routable address even for 127.0.0.1, and gRPC checks the certificate names it
    node_ip = ray.util.get_node_ip_address()
    env = {name: value for name, value in os.environ.items() if name not in (*TLS_SETTINGS, "RAY_ADDRESS")}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex, "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": str(REPO)}  # Ray workers import this checkout, not whatever copy pip installed
    env |= Authority("raybus test CA").issue(temp_dir / "certs", ["127.0.0.1", node_ip])
    head = start_head(temp_dir, env, "--include-dashboard=false")
    try:
        yield head, f"{node_ip}:{head.port}", env
    finally:
        head.stop()


def pto_load(address: str, env: dict[str, str], run_dir: Path) -> subprocess.CompletedProcess:
    """200 requests in a process of their own, figures in ``run_dir/figures.json``."""
    return subprocess.run([sys.executable, "-m", "scenarios.pto_load", "--requests", "200", "--employees", "30",
                           "--concurrency", "50", "--run-dir", str(run_dir), "--json", str(run_dir / "figures.json"),
                           "--address", address],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def assert_refused(head: Head, address: str, env: dict[str, str], run_dir: Path) -> None:
    """The same load run with ``env`` never connects, and the head's GCS logged the handshake it refused."""
    refused_before = head.gcs_errors().count(REFUSED_HANDSHAKE)
    run = pto_load(address, env | GIVE_UP_SOON, run_dir)
    assert run.returncode != 0, run.stdout[-2000:]
    assert f"Failed to connect to Ray cluster at {address}" in run.stderr, run.stderr[-3000:]
    assert "requests from" not in run.stdout  # it never got as far as starting the app
    assert head.gcs_errors().count(REFUSED_HANDSHAKE) > refused_before


def test_a_pto_load_on_a_ray_started_with_tls_succeeds_and_its_invariants_hold(tls_head, tmp_path: Path) -> None:
    _, address, env = tls_head
    run = pto_load(address, env, tmp_path / "run")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    figures = json.loads((tmp_path / "run" / "figures.json").read_text())
    assert sum(figures["outcomes"].values()) == 200
    assert figures["errors"] == {}
    assert figures["invariants"]
    assert [i["name"] for i in figures["invariants"] if not i["ok"]] == []


def test_a_driver_without_the_tls_settings_cannot_connect(tls_head, tmp_path: Path) -> None:
    head, address, env = tls_head
    plain = {name: value for name, value in env.items() if name not in TLS_SETTINGS}  # the token it keeps
    assert_refused(head, address, plain, tmp_path / "run")


def test_a_driver_whose_certificate_another_ca_signed_cannot_connect(tls_head, tmp_path: Path) -> None:
    head, address, env = tls_head
    stranger = Authority("another CA").issue(tmp_path / "certs", ["127.0.0.1", address.rpartition(":")[0]])
    # it trusts the head's CA, so only the head's check of the driver's certificate can refuse it
    assert_refused(head, address, env | stranger | {"RAY_TLS_CA_CERT": env["RAY_TLS_CA_CERT"]}, tmp_path / "run")
