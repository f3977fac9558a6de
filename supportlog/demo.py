"""`supportlog demo`: a generated stretch of activity through the real pipeline, then a
report of what was stored, published and projected, with things to try next.

The activity is deterministic from the seed and played with a simulated clock; running
the demo again on the same data adds a new, distinct batch of customers.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.progress import Progress

from domain.customer import Customer
from supportlog.bootstrap import bootstrap
from supportlog.settings import Settings

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
DESKS = ("cs-cart", "cart-power", "imagecms", "prem-site", "insales")


def run_demo(*, seed: int, customers: int, days: int, fresh: bool) -> None:
    """Plays the demo and prints the report."""
    console = Console()
    settings = Settings.from_env()
    with console.status("starting PostgreSQL and the broker"):
        system = bootstrap(settings)
    try:
        conn = system.connect()
        if fresh:
            conn.execute("TRUNCATE customers, projector_applied, projector_offsets, "
                         "relay_position, relay_partition_offsets, supportdesk_events")
        run_id = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        rng = random.Random(seed)
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("registering customers", total=customers)
            for n in range(customers):
                desk = DESKS[n % len(DESKS)]
                at = START + timedelta(minutes=rng.randrange(days * 24 * 60))
                system.desk.save(Customer.register(
                    customer=f"{desk}-c{run_id + n:05d}", now=at,
                    email=f"owner{run_id + n}@example.com", name=f"Shop {run_id + n}",
                    anonymous=False, profile_id=desk, profile_version=1))
                progress.advance(task)
            relay = system.relay()
            task = progress.add_task("relaying to Kafka", total=None)
            relay.pump(progress=lambda k: progress.advance(task, k))
            projector = system.projector()
            task = progress.add_task("projecting", total=None)
            while projector.lag() > 0:
                result = projector.poll_once(200)
                progress.advance(task, result.applied)
        stored = system.desk.recorder.max_notification_id() or 0
        projected = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        console.print(f"events stored: {stored}   published: {relay.position()}   "
                      f"customers projected: {projected}")
        console.print(f"topic: {settings.topic}")
        click.echo(f"try: psql '{system.database_url}' -c 'SELECT * FROM customers LIMIT 5'")
    finally:
        system.close()
