"""A real SMTP server on loopback for the email tests (aiosmtpd).

Usage: sink.py PORT DIR. PORT 0 picks a free port. Prints "listening PORT" once
it accepts connections, then writes every message it receives as DIR/NNNNNN.json
(envelope, headers and the decoded text and HTML parts), written aside and
renamed so a reader never sees half a file. Runs until killed.
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = len([n for n in os.listdir(directory) if n.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "content_type": message.get_content_type(),
            "header_names": [name.lower() for name in message.keys()],
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        self.count += 1
        path = os.path.join(self.directory, "%06d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


async def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    loop = asyncio.get_running_loop()
    handler = Sink(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.localhost"), host="127.0.0.1", port=port
    )
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
