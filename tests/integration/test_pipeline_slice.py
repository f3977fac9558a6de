"""The vertical slice: command -> event store -> relay -> Kafka -> projector -> row."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.customer import Customer
from supportlog.bootstrap import bootstrap
from tests.conftest import wait_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_registered_customer_reaches_the_customers_projection(settings):
    system = bootstrap(settings)
    try:
        customer = Customer.register(customer="c1", now=NOW, email="c1@example.com",
                                     name="Shop One", anonymous=False,
                                     profile_id="cart-power", profile_version=1)
        system.desk.save(customer)
        relay = system.relay()
        stats = relay.pump()
        assert stats.published == 1 and stats.position == relay.head()

        projector = system.projector()
        conn = system.connect()

        def row():
            projector.poll_once(100)
            return conn.execute(
                "SELECT customer, tenant, email, name, registered_at FROM customers"
            ).fetchall()

        rows = wait_for(row, what="the customers row")
        assert rows == [("c1", "cart-power", "c1@example.com", "Shop One", NOW)]
        assert projector.lag() == 0
    finally:
        system.close()


def test_a_republished_event_is_folded_once(settings):
    system = bootstrap(settings)
    try:
        system.desk.save(Customer.register(customer="c2", now=NOW, email=None, name=None,
                                           anonymous=True, profile_id="insales",
                                           profile_version=1))
        relay = system.relay()
        relay.pump()
        relay.set_position(0)  # as after a crash between produce and position commit
        assert relay.pump().published == 1
        projector = system.projector()
        wait_for(lambda: projector.poll_once(100).skipped or None, what="the duplicate")
        conn = system.connect()
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (1,)
        assert projector.lag() == 0
    finally:
        system.close()
