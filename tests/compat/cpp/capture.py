"""A recording proxy for RocketMQ remoting: put between a client and a NameServer and its broker,
it passes every frame on unchanged and keeps the bodies of the requests asked for, so the tests
can pin what a real client sends.

The client finds the broker through the NameServer, so the NameServer's answers are rewritten
to name the proxy's broker port instead of the broker's (the only change made to any frame).

Frame: total length (4 bytes, big-endian, not counting itself), then the header length (4 bytes:
serialization type in the high byte), the header, the body. The C++ client's headers are JSON.
"""
import asyncio
import json
import struct
import threading


class Proxy:
    def __init__(self, namesrv_port, broker_port, codes):
        self.namesrv_port = namesrv_port
        self.broker_port = broker_port
        self.codes = set(codes)
        self.bodies = {}  # request code -> [body bytes]
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self):
        self.broker_server = await asyncio.start_server(
            lambda r, w: self._connect(r, w, self.broker_port, rewrite=False), "127.0.0.1", 0)
        self.proxy_broker_port = self.broker_server.sockets[0].getsockname()[1]
        self.namesrv_server = await asyncio.start_server(
            lambda r, w: self._connect(r, w, self.namesrv_port, rewrite=True), "127.0.0.1", 0)
        self.proxy_namesrv_port = self.namesrv_server.sockets[0].getsockname()[1]

    @property
    def namesrv(self):
        return f"127.0.0.1:{self.proxy_namesrv_port}"

    def captured(self, code):
        with self.lock:
            return list(self.bodies.get(code, []))

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _connect(self, client_r, client_w, port, rewrite):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, server_w, record=True, rewrite=False),
                             self._pipe(server_r, client_w, record=False, rewrite=rewrite),
                             return_exceptions=True)

    async def _pipe(self, r, w, record, rewrite):
        try:
            while True:
                total = struct.unpack(">I", await r.readexactly(4))[0]
                frame = await r.readexactly(total)
                mark = struct.unpack(">I", frame[:4])[0]
                header_len = mark & 0xFFFFFF
                header = frame[4:4 + header_len]
                body = frame[4 + header_len:]
                if (mark >> 24) == 0:
                    h = json.loads(header)
                    is_response = h.get("flag", 0) & 1
                    if record and not is_response and h.get("code") in self.codes:
                        with self.lock:
                            self.bodies.setdefault(h["code"], []).append(bytes(body))
                    if rewrite and body:
                        body = body.replace(f"127.0.0.1:{self.broker_port}".encode(),
                                            f"127.0.0.1:{self.proxy_broker_port}".encode())
                        frame = frame[:4 + header_len] + body
                w.write(struct.pack(">I", len(frame)) + frame)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()
