"""An example downstream service: prints every credit charge with its receipt fields.

It uses kafka-python and the standard library only (no supportlog code), so it shows
all a subscriber needs: the topic, the `ce_type` header to skip other events without
decoding them, the envelope (docs/events.md), and that delivery is at least once, so
an event id already handled is skipped. With --group it joins a consumer group and
commits after printing; without, it reads every partition from the beginning.

    python examples/print_charges.py --bootstrap localhost:9092 --topic supportlog.events
"""

from __future__ import annotations

import argparse
import json
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
                        help="exit 0 after printing this many charges")
    parser.add_argument("--timeout", type=float, default=None,
                        help="exit 1 if --max-messages are not printed within this many s")
    args = parser.parse_args(argv)
    consumer = consumer_for(args)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    seen: set[str] = set()
    try:
        while args.max_messages is None or len(seen) < args.max_messages:
            if deadline and time.monotonic() > deadline:
                print(f"timed out after {len(seen)} charges", file=sys.stderr)
                return 1
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = dict(record.headers or [])
                    if headers.get("ce_type") != b"credit.charged":
                        continue  # filtered on the header: the body is not even decoded
                    envelope = json.loads(record.value)
                    if envelope["id"] in seen:
                        continue  # a re-publication of a charge already printed
                    seen.add(envelope["id"])
                    print(receipt(envelope), flush=True)
                    if len(seen) == args.max_messages:
                        return 0  # uncommitted: at least once, a rerun may print again
            if args.group:
                consumer.commit()  # everything this poll returned has been handled
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
