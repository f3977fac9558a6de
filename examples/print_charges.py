"""An example downstream service: prints every credit charge with its receipt fields.

It uses kafka-python and the standard library only (no supportlog code), so it shows
all a subscriber needs: the topic, the `ce_type` header to skip other events without
decoding them, the envelope (docs/events.md), and that delivery is at least once, so
an event id already handled is skipped. With --group it joins a consumer group and
commits after printing; without, it reads every partition from the beginning.

With --keep FILE it also keeps what it printed, a line per charge, as a service keeps
its copy of the data it was sent. When a customer's personal data is erased
(`customer.erased`, R-PRV-2) it deletes that customer's lines from its copy: a
downstream service erases its copies too. (The topic never carries personal data in
plain text; a service that learned it elsewhere, from an e-mail or a form, forgets it
here.)

    python examples/print_charges.py --bootstrap localhost:9092 --topic supportlog.events
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def receipt(envelope: dict) -> str:
    """Returns one receipt line for a `credit.charged` envelope."""
    data, hold = envelope["data"], envelope["data"].get("hold") or {}
    return (f"{envelope['time']}  {envelope['customer']} ({envelope['tenant']})  "
            f"charge {data['charge_id']}: {data['credits']} credits for ticket "
            f"{data['ticket']} entry {data['entry']}, rule {data['rule']} "
            f"(policy v{data['profile_version']}), balance {data['balance_before']} -> "
            f"{data['balance_after']}"
            + (f", {hold.get('reserved')} reserved and {hold.get('captured')} captured"
               if hold else ""))


def keep(path: str, envelope: dict, line: str) -> None:
    """Appends a printed charge to the service's copy."""
    with open(path, "a", encoding="utf-8") as copy:
        copy.write(json.dumps({"customer": envelope["customer"], "line": line}) + "\n")


def forget(path: str, customer: str) -> int:
    """Deletes every line of `customer` from the service's copy (written anew, then put
    in place in one step, so a crash leaves the old copy or the new one); returns how
    many were deleted."""
    try:
        with open(path, encoding="utf-8") as copy:
            lines = copy.readlines()
    except FileNotFoundError:
        return 0
    kept = [line for line in lines if json.loads(line)["customer"] != customer]
    with open(f"{path}.new", "w", encoding="utf-8") as copy:
        copy.writelines(kept)
    os.replace(f"{path}.new", path)
    return len(lines) - len(kept)


def consumer_for(args: argparse.Namespace) -> KafkaConsumer:
    """Returns a consumer that never commits on its own and starts at the beginning."""
    consumer = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=args.group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    if args.group:
        consumer.subscribe([args.topic])
    else:
        partitions = consumer.partitions_for_topic(args.topic) or set()
        consumer.assign([TopicPartition(args.topic, p) for p in sorted(partitions)])
    return consumer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="supportlog.events")
    parser.add_argument("--group", default=None, help="consumer group (default: none)")
    parser.add_argument("--max-messages", type=int, default=None,
                        help="exit 0 after handling this many events (charges printed, "
                             "erasures applied)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="exit 1 if --max-messages are not handled within this many s")
    parser.add_argument("--keep", metavar="FILE", default=None,
                        help="keep the printed charges in FILE, and delete a customer's "
                             "when they are erased")
    args = parser.parse_args(argv)
    consumer = consumer_for(args)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    seen: set[str] = set()
    erased: set[str] = set()  # customers erased: nothing of theirs is kept again
    try:
        while args.max_messages is None or len(seen) < args.max_messages:
            if deadline and time.monotonic() > deadline:
                print(f"timed out after {len(seen)} charges and erasures", file=sys.stderr)
                return 1
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    kind = dict(record.headers or []).get("ce_type")
                    if kind not in (b"credit.charged", b"customer.erased"):
                        continue  # filtered on the header: the body is not even decoded
                    envelope = json.loads(record.value)
                    if envelope["id"] in seen:
                        continue  # a re-publication of an event already handled
                    seen.add(envelope["id"])
                    if kind == b"customer.erased":
                        erased.add(envelope["customer"])
                        gone = forget(args.keep, envelope["customer"]) if args.keep else 0
                        print(f"forgot customer {envelope['customer']}: {gone} line(s) "
                              "of the copy deleted (customer.erased)", flush=True)
                    else:
                        line = receipt(envelope)
                        print(line, flush=True)
                        if args.keep and envelope["customer"] not in erased:
                            keep(args.keep, envelope, line)
                    if len(seen) == args.max_messages:
                        return 0  # uncommitted: at least once, a rerun may print again
            if args.group:
                consumer.commit()  # everything this poll returned has been handled
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
