"""The local CA and server certificate: a TLS client trusting the CA accepts the server (memory BIOs, no sockets)."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from hms.local.tls import ensure_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    state = tmp_path_factory.mktemp("state")
    return (state, *ensure_certificates(state))


def test_the_ca_is_a_ten_year_ca_and_the_server_cert_a_one_year_leaf(certs: tuple[Path, ...]) -> None:
    _, ca_path, cert_path, _ = certs
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert (ca.not_valid_after_utc - ca.not_valid_before_utc).days >= 3649
    assert 364 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 366
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    cert.verify_directly_issued_by(ca)


def test_private_keys_are_mode_0600(certs: tuple[Path, ...]) -> None:
    state, _, _, key_path = certs
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "tls" / "ca-key.pem").stat().st_mode) == 0o600


def test_certificates_are_reused_while_valid(certs: tuple[Path, ...]) -> None:
    state, ca_path, cert_path, key_path = certs
    before = [p.read_bytes() for p in (ca_path, cert_path, key_path)]
    again = ensure_certificates(state)
    assert [p.read_bytes() for p in again] == before


def test_a_missing_server_cert_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    ca_path, cert_path, _ = ensure_certificates(tmp_path)
    ca_before = ca_path.read_bytes()
    cert_path.unlink()
    ca_path2, cert_path2, _ = ensure_certificates(tmp_path, hosts=("127.0.0.1", "localhost", "hms.test"))
    assert ca_path2.read_bytes() == ca_before
    cert = x509.load_pem_x509_certificate(cert_path2.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_before))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "hms.test" in san.get_values_for_type(x509.DNSName)


def test_an_ssl_handshake_verifies_the_chain_and_hostname(certs: tuple[Path, ...]) -> None:
    _, ca_path, cert_path, key_path = certs
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    client_ctx = ssl.create_default_context(cafile=str(ca_path))
    for hostname in ("localhost", "127.0.0.1"):
        client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_ctx.wrap_bio(client_in, client_out, server_hostname=hostname)
        server = server_ctx.wrap_bio(server_in, server_out, server_side=True)
        done = {"client": False, "server": False}
        for _ in range(20):
            for name, side in (("client", client), ("server", server)):
                if not done[name]:
                    try:
                        side.do_handshake()
                        done[name] = True
                    except ssl.SSLWantReadError:
                        pass
            server_in.write(client_out.read())
            client_in.write(server_out.read())
            if all(done.values()):
                break
        assert all(done.values()), hostname
        assert client.getpeercert()["subjectAltName"]
