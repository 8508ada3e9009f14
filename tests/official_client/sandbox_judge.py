"""The provider's own Python library drives the sandbox.

Run by tests/provider_official_client.rs as
    python3 sandbox_judge.py BASE_URL SECRET_KEY
It is the independent judge that the sandbox speaks the real wire protocol:
the official client builds the requests, parses the objects and errors, and
verifies the webhook signatures with its own code. Prints one line per check
and a closing "N passed, 0 failed"; exits non-zero on the first failure.
"""

import http.server
import json
import queue
import sys
import threading
import urllib.request

import stripe

BASE_URL, SECRET_KEY = sys.argv[1], sys.argv[2]
stripe.api_key = SECRET_KEY
stripe.api_base = BASE_URL
stripe.max_network_retries = 0

passed = 0


def check(name, condition, detail=""):
    global passed
    if not condition:
        print(f"FAILED: {name} {detail}", flush=True)
        print(f"{passed} passed, 1 failed", flush=True)
        sys.exit(1)
    passed += 1
    print(f"ok: {name}", flush=True)


deliveries = queue.Queue()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        deliveries.put((self.path, self.rfile.read(length), self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
receiver_url = f"http://127.0.0.1:{receiver.server_port}/webhooks"

endpoint = stripe.WebhookEndpoint.create(url=receiver_url, enabled_events=["*"])
check("webhook endpoint created with a signing secret", endpoint.secret.startswith("whsec_"))
connect_endpoint = stripe.WebhookEndpoint.create(url=receiver_url + "/connect", enabled_events=["*"], connect=True)
check("connect endpoint has its own secret", connect_endpoint.secret not in ("", endpoint.secret))
secrets = {"/webhooks": endpoint.secret, "/webhooks/connect": connect_endpoint.secret}

account = stripe.Account.create(
    type="express",
    country="US",
    email="seller@example.com",
    capabilities={"card_payments": {"requested": True}, "transfers": {"requested": True}},
    business_profile={"name": "Judge's Shop"},
    metadata={"shop_id": "shop_judge"},
)
check("express account created", account.id.startswith("acct_") and account.charges_enabled is False)
check("account metadata echoed", account.metadata["shop_id"] == "shop_judge")

link = stripe.AccountLink.create(
    account=account.id,
    refresh_url="https://market.example.com/refresh",
    return_url="https://market.example.com/return",
    type="account_onboarding",
)
check("account link points at the sandbox", link.url.startswith("http"), link.url)

request = urllib.request.Request(
    f"{BASE_URL}/v1/test_helpers/accounts/{account.id}/complete_onboarding",
    data=b"",
    method="POST",
    headers={"Authorization": f"Bearer {SECRET_KEY}"},
)
with urllib.request.urlopen(request) as response:
    check("onboarding completed by test helper", response.status == 200)
account = stripe.Account.retrieve(account.id)
check("account enabled after onboarding", account.charges_enabled and account.payouts_enabled)

intent = stripe.PaymentIntent.create(
    amount=2000,
    currency="usd",
    payment_method="pm_card_visa",
    confirm=True,
    transfer_group="order_judge",
    metadata={"order_id": "order_judge"},
)
check("payment intent confirmed with pm_card_visa", intent.status == "succeeded", intent.status)
check("payment intent has its charge", intent.latest_charge.startswith("ch_"))

charge = stripe.Charge.retrieve(intent.latest_charge, expand=["balance_transaction"])
check(
    "charge balance transaction carries the 2.9% + 30 fee",
    charge.balance_transaction.fee == 2000 * 29 // 1000 + 30,
    str(charge.balance_transaction.fee),
)

transfer = stripe.Transfer.create(
    amount=1500,
    currency="usd",
    destination=account.id,
    source_transaction=intent.latest_charge,
    transfer_group="order_judge",
)
check("transfer to the connected account", transfer.id.startswith("tr_") and transfer.amount == 1500)

refund = stripe.Refund.create(payment_intent=intent.id, amount=500)
check("partial refund", refund.id.startswith("re_") and refund.amount == 500)

try:
    stripe.PaymentIntent.create(amount=1000, currency="usd", bogus_parameter="x")
    check("unknown parameter refused", False)
except stripe.InvalidRequestError as error:
    check("unknown parameter raises InvalidRequestError", error.param == "bogus_parameter", str(error))

try:
    stripe.PaymentIntent.create(amount=1000, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True)
    check("declined card refused", False)
except stripe.CardError as error:
    check("declined card raises CardError", error.code == "card_declined", str(error))

# Webhooks: every delivery must verify with the library's own code, and a
# body changed by one byte must not.
seen = {}
deadline_events = {"account.updated", "payment_intent.succeeded", "charge.succeeded", "transfer.created"}
while not deadline_events.issubset(seen):
    try:
        path, body, signature = deliveries.get(timeout=15)
    except queue.Empty:
        check("expected webhook events delivered", False, f"missing {deadline_events - set(seen)}")
    event = stripe.Webhook.construct_event(body, signature, secrets[path])
    if event.type == "account.updated":
        check("connected-account events go to the connect endpoint with `account`", path == "/webhooks/connect" and event.account == account.id)
    seen[event.type] = (body, signature)
check("webhook signatures verify with stripe.Webhook.construct_event", True)
check("event payload parses", json.loads(seen["payment_intent.succeeded"][0])["data"]["object"]["id"] == intent.id)

body, signature = seen["charge.succeeded"]
tampered = body.replace(b'"amount":2000', b'"amount":2001', 1)
check("tampering changed the body", tampered != body)
try:
    stripe.Webhook.construct_event(tampered, signature, secrets["/webhooks"])
    check("tampered body refused", False)
except stripe.SignatureVerificationError:
    check("a body changed by one byte fails verification", True)

print(f"{passed} passed, 0 failed", flush=True)
