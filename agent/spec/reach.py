"""Which hosts a scrape target may name: never a link-local or cloud metadata address unless
the target opts in (``allow_link_local``). A scrape fetches a URL from inside the sidecar's
network with its credentials; the metadata service (169.254.169.254 and its kin) answers such
requests with the machine's cloud credentials. ``validate`` checks the URL as written; the
scraper checks the addresses a name resolves to before each fetch."""

from __future__ import annotations

import ipaddress
import socket

#: names and addresses of cloud instance metadata services (AWS, GCP, Azure, Alibaba, Oracle)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata",
                            "instance-data", "instance-data.ec2.internal"})
METADATA_ADDRESSES = frozenset({"169.254.169.254", "169.254.170.2", "fd00:ec2::254",
                                "100.100.100.200", "192.0.0.192"})


def refused(host: str) -> str | None:
    """Why ``host`` (a name or an address as written) may not be scraped, or None."""
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_NAMES or name in METADATA_ADDRESSES:
        return f"{host} is a cloud metadata service"
    try:
        addr = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return None
    if addr.is_link_local or str(addr) in METADATA_ADDRESSES:
        return f"{host} is a link-local address"
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None and (mapped.is_link_local or str(mapped) in METADATA_ADDRESSES):
        return f"{host} is a link-local address"
    return None


def resolved_refusal(host: str, port: int) -> str | None:
    """Why a name's resolved addresses may not be scraped (a DNS name for 169.254.169.254)."""
    if refused(host):
        return refused(host)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return None                      # the fetch reports what is wrong with the name
    for info in infos:
        why = refused(str(info[4][0]))
        if why:
            return f"{host} resolves to {info[4][0]}: {why.split(' is ', 1)[1]}"
    return None
