"""A loopback SMTP server for hookd's tests (aiosmtpd): stores each message it receives
as a file `<n>.eml` in --out, with the envelope on two leading lines:

    X-Envelope-From: <sender>
    X-Envelope-To: <rcpt>, <rcpt>

--starttls CERT KEY offers (and requires) STARTTLS; --auth USER:PASSWORD requires that
login (after STARTTLS). Prints `listening` once ready and runs until stdin closes.
"""

import argparse
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.out, "%06d.eml" % self.count)
        head = "X-Envelope-From: %s\nX-Envelope-To: %s\n" % (
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
        )
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK stored"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    args = parser.parse_args()

    kwargs = {}
    if args.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.starttls[0], args.starttls[1])
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == user
                and data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True)

    controller = Controller(Sink(args.out), hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("listening", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
