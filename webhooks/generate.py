#!/usr/bin/env python3
"""Builds one event payload per event type Bazaar handles, from the provider's own
published example objects: stripe/openapi `openapi/fixtures3.json` at commit
f6c2a48fbac2819d1feba8143d942ffc65e1c0d2 (MIT licence), shipped to this project as
../shared/stripe/fixtures3.json.

Usage: python3 webhooks/generate.py ../shared/stripe/fixtures3.json webhooks/
Each file is the provider's event envelope (`resources.event`) around the
provider's example of the object the event is about; events about a connected
account's objects carry `account`, as they do when sent to a Connect endpoint.
"""
import copy
import json
import sys

# event type -> (resource in fixtures3, sent to the Connect endpoint?, object changes)
EVENTS = {
    "account.updated": ("account", True, {}),
    "capability.updated": ("capability", True, {}),
    "payment_intent.succeeded": ("payment_intent", False, {"status": "succeeded"}),
    "payment_intent.payment_failed": ("payment_intent", False, {"status": "requires_payment_method"}),
    "charge.succeeded": ("charge", False, {"status": "succeeded"}),
    "charge.refunded": ("charge", False, {"refunded": True}),
    "refund.updated": ("refund", False, {}),
    "charge.dispute.created": ("dispute", False, {"status": "needs_response"}),
    "charge.dispute.updated": ("dispute", False, {"status": "under_review"}),
    "charge.dispute.closed": ("dispute", False, {"status": "lost"}),
    "charge.dispute.funds_withdrawn": ("dispute", False, {"status": "needs_response"}),
    "charge.dispute.funds_reinstated": ("dispute", False, {"status": "won"}),
    "transfer.created": ("transfer", False, {}),
    "transfer.reversed": ("transfer", False, {"reversed": True}),
    "transfer.updated": ("transfer", False, {}),
    "payout.created": ("payout", True, {"status": "pending"}),
    "payout.paid": ("payout", True, {"status": "paid"}),
    "payout.failed": ("payout", True, {"status": "failed", "failure_code": "account_closed",
                                       "failure_message": "The bank account has been closed."}),
    "payout.canceled": ("payout", True, {"status": "canceled"}),
    "balance.available": ("balance", True, {}),
}


def main(fixtures_path, out_dir):
    resources = json.load(open(fixtures_path))["resources"]
    envelope = resources["event"]
    for index, (kind, (resource, connect, changes)) in enumerate(sorted(EVENTS.items())):
        event = copy.deepcopy(envelope)
        obj = copy.deepcopy(resources[resource])
        obj.update(changes)
        event["id"] = "evt_bazaar_example_%02d" % index
        event["type"] = kind
        event["data"] = {"object": obj}
        event["api_version"] = "2026-09-30.endive"
        if connect:
            event["account"] = {"account": obj.get("id"), "capability": obj.get("account")}.get(
                resource, "acct_1Nv0FGQ9RKHgCVdK")
        with open("%s/%s.json" % (out_dir, kind), "w") as out:
            json.dump(event, out, indent=2, sort_keys=True)
            out.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
