"""The control plane's credentials: a CA and the API server's serving certificate, the service
account key pair, one admin token, and the kubeconfig that carries them to clients.

Keys and certificates come from the ``openssl`` command line (Debian's ``openssl``); they live
for two days, longer than any lab run. The admin token is a secret: it is written to files with
mode 0600 and never logged.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import yaml

from lab.shell import run

DAYS = "2"
# The names a client inside the cluster uses for the API server (the ``kubernetes`` Service).
SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")
ADMIN_USER = "cilium-bgp-lab-admin"


@dataclass(frozen=True)
class Credentials:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    @property
    def token_file(self) -> Path:
        """kube-apiserver's ``--token-auth-file``."""
        return self.directory / "tokens.csv"

    @property
    def admin_token(self) -> str:
        return self.token_file.read_text().split(",", 1)[0]


def subject_alt_names(addresses: Sequence[IPv4Address]) -> str:
    """The serving certificate's SANs: the given addresses, loopback, and the Service's names."""
    ips = dict.fromkeys([*(str(a) for a in addresses), "127.0.0.1"])
    return ",".join([*(f"IP:{ip}" for ip in ips), "DNS:localhost", *(f"DNS:{name}" for name in SERVICE_NAMES)])


def token_file_line(token: str) -> str:
    """One ``--token-auth-file`` line: token, user, uid, groups. ``system:masters`` is bound to
    cluster-admin by the API server's bootstrap RBAC policy."""
    return f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'


def _openssl(*args: str) -> None:
    run(["openssl", *args], timeout=60)


def _private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)


def make_credentials(directory: Path, addresses: Sequence[IPv4Address]) -> Credentials:
    """Write a fresh CA, serving certificate (valid for ``addresses``), service account key pair and
    admin token into ``directory`` (which must not exist yet)."""
    directory.mkdir(mode=0o700, parents=True)
    creds = Credentials(directory)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", DAYS]
    ca = ["-keyout", str(creds.ca_key), "-out", str(creds.ca_cert), "-subj", "/CN=cilium-bgp-lab-ca"]
    ca += ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    _openssl("req", "-x509", *ec, *ca)
    csr = directory / "apiserver.csr"
    _openssl("req", "-new", *ec, "-keyout", str(creds.serving_key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    extensions = directory / "apiserver.ext"
    extensions.write_text(
        f"subjectAltName={subject_alt_names(addresses)}\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    signed = ["-CA", str(creds.ca_cert), "-CAkey", str(creds.ca_key), "-CAcreateserial", "-days", DAYS]
    _openssl("x509", "-req", "-in", str(csr), *signed, "-out", str(creds.serving_cert), "-extfile", str(extensions))
    csr.unlink()
    extensions.unlink()
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(creds.service_account_key))
    _openssl("pkey", "-in", str(creds.service_account_key), "-pubout", "-out", str(creds.service_account_pub))
    _private(creds.token_file, token_file_line(secrets.token_urlsafe(32)))
    return creds


def kubeconfig_text(server: str, ca_pem: str, token: str, name: str = "cilium-bgp-lab") -> str:
    """A kubeconfig with one cluster, one token user and one current context, as ``kubectl`` writes it."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": ADMIN_USER}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: Path, server: str, creds: Credentials) -> Path:
    _private(path, kubeconfig_text(server, creds.ca_cert.read_text(), creds.admin_token))
    return path
