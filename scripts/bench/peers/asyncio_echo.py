#!/usr/bin/env python3
"""A Python asyncio echo server (TCP and UDP), the kind the tutorials lead to; a benchmark
peer only. Usage: asyncio_echo.py tcp|udp PORT"""
import asyncio
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoUdp(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def main(kind, port):
    loop = asyncio.get_running_loop()
    if kind == "tcp":
        server = await loop.create_server(Echo, "127.0.0.1", port, reuse_address=True)
        print(f"listening on tcp://127.0.0.1:{port}", flush=True)
        await server.serve_forever()
    else:
        await loop.create_datagram_endpoint(EchoUdp, local_addr=("127.0.0.1", port))
        print(f"listening on udp://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
