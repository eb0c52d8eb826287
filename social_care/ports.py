"""Check that the ports a command will listen on are free before it starts anything."""
from __future__ import annotations

import errno
import socket
from collections.abc import Mapping


class PortsUnavailable(Exception):
    """One or more ports a command needs are taken, repeated, or cannot be bound."""


def _bind_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on now, or None when it can."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option aiohttp's server sets, so a port in TIME_WAIT counts as free, as it will for the server.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return "already in use"
            return err.strerror or str(err)
    return None


def check_ports(host: str, ports: Mapping[str, int]) -> None:
    """Raise PortsUnavailable naming every port in `ports` (label -> port) that is taken or given twice."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for label, port in ports.items():
        if not 0 < port < 65536:
            problems.append(f"{label} port {port} is not a port number (1-65535)")
            continue
        if port in seen:
            problems.append(f"{label} port {port} is also the {seen[port]} port")
            continue
        seen[port] = label
        problem = _bind_problem(host, port)
        if problem is not None:
            problems.append(f"{label} port {host}:{port} is {problem}" if problem == "already in use"
                            else f"{label} port {host}:{port} cannot be used: {problem}")
    if problems:
        raise PortsUnavailable("; ".join(problems))

