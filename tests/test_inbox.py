"""The incoming queue: bounds by count and bytes, batch puts, borrowed slots, waking."""

from __future__ import annotations

import queue

import eventlet
import eventlet.event
import eventlet.queue
import pytest

from greenclient.inbox import Inbox


def test_batch_put_respects_the_count_bound_and_waits() -> None:
    inbox = Inbox(maxsize=3, max_bytes=1000)
    putter = eventlet.spawn(inbox.put_batch, list(range(7)), 70)
    eventlet.sleep(0.01)
    assert inbox.qsize() == 3
    assert not putter.dead  # waiting for room
    assert [inbox.get(timeout=1) for _ in range(7)] == list(range(7))
    putter.wait()
    assert inbox.bytes == 0


def test_batch_put_waits_once_the_bytes_bound_is_reached() -> None:
    inbox = Inbox(maxsize=100, max_bytes=10)
    inbox.put_batch(["a", "b"], 12)  # goes in whole: the queue held no bytes before
    assert inbox.full()
    putter = eventlet.spawn(inbox.put_batch, ["c"], 1)
    eventlet.sleep(0.01)
    assert inbox.qsize() == 2
    assert inbox.get(timeout=1) == "a"
    assert inbox.get(timeout=1) == "b"
    putter.wait()
    assert inbox.get(timeout=1) == "c"
    assert inbox.bytes == 0


def test_one_batch_wakes_every_waiting_getter() -> None:
    inbox = Inbox(maxsize=10, max_bytes=1000)
    got: eventlet.queue.Queue[object] = eventlet.queue.Queue()
    for _ in range(3):
        eventlet.spawn_n(lambda: got.put(inbox.get(timeout=5)))
    eventlet.sleep(0.01)
    inbox.put_batch(["x", "y", "z"], 3)
    assert sorted(str(got.get(timeout=5)) for _ in range(3)) == ["x", "y", "z"]


def test_a_getter_that_times_out_after_its_wakeup_passes_it_on() -> None:
    inbox = Inbox(maxsize=10, max_bytes=1000)
    got: eventlet.queue.Queue[object] = eventlet.queue.Queue()
    first = eventlet.spawn(inbox.get)
    eventlet.spawn_n(lambda: got.put(inbox.get(timeout=5)))
    eventlet.sleep(0.01)
    inbox.put_now("only")  # wakes the first getter...
    first.kill()  # ...which leaves before it runs
    assert got.get(timeout=5) == "only"


def test_put_now_borrows_a_slot_and_gives_it_back() -> None:
    inbox = Inbox(maxsize=2, max_bytes=1000)
    inbox.put_batch([1, 2], 2)
    for event in ("e1", "e2", "e3"):
        inbox.put_now(event)  # never waits
    assert inbox.qsize() == 5
    assert inbox.maxsize == 2
    assert [inbox.get_nowait() for _ in range(5)] == [1, 2, "e1", "e2", "e3"]
    putter = eventlet.spawn(inbox.put_batch, [3, 4, 5], 3)
    eventlet.sleep(0.01)
    assert inbox.qsize() == 2  # the bound is what it was
    assert [inbox.get(timeout=1) for _ in range(3)] == [3, 4, 5]
    putter.wait()


def test_get_timeouts_and_put_timeouts() -> None:
    inbox = Inbox(maxsize=1, max_bytes=1000)
    with pytest.raises(queue.Empty):
        inbox.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        inbox.get_nowait()
    inbox.put("a")
    with pytest.raises(queue.Full):
        inbox.put("b", timeout=0.01)
    with pytest.raises(queue.Full):
        inbox.put_nowait("b")
    assert inbox.get_nowait() == "a"


def test_bounds_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Inbox(0, 10)
    with pytest.raises(ValueError, match="max_queue_bytes"):
        Inbox(10, 0)


def test_queues_that_start_idle_keep_their_items_and_waiters_apart() -> None:
    # An idle queue allocates no deque of its own; once used, each has its own.
    first = Inbox(maxsize=1, max_bytes=1000)
    second = Inbox(maxsize=1, max_bytes=1000)
    getter = eventlet.spawn(second.get, timeout=5)
    eventlet.sleep(0.01)
    first.put_batch(["a"], 1)
    putter = eventlet.spawn(first.put, "b")
    eventlet.sleep(0.01)
    assert not getter.dead  # not woken by the other queue
    assert not putter.dead
    second.put_now("x")
    third = Inbox(maxsize=1, max_bytes=1000)
    assert (first.qsize(), second.qsize(), third.qsize()) == (1, 1, 0)
    assert getter.wait() == "x"
    third.put_batch(["y"], 1)
    assert (first.qsize(), second.qsize(), third.qsize()) == (1, 0, 1)
    assert first.get(timeout=1) == "a"
    putter.wait()
    assert first.get(timeout=1) == "b"
    assert third.get(timeout=1) == "y"


def test_a_batch_gives_its_bytes_back_when_its_last_item_is_taken() -> None:
    inbox = Inbox(maxsize=100, max_bytes=1000)
    inbox.put_batch(["a", "b", "c"], 30)
    inbox.put_now("event")  # charged nothing
    inbox.put_batch(["d"], 7)
    assert inbox.bytes == 37
    assert [inbox.get_nowait(), inbox.get_nowait()] == ["a", "b"]
    assert inbox.bytes == 37  # "c" still holds its batch's bytes
    assert inbox.get_nowait() == "c"
    assert inbox.bytes == 7
    assert inbox.get_nowait() == "event"
    assert inbox.bytes == 7
    assert inbox.get_nowait() == "d"
    assert inbox.bytes == 0


def test_a_batch_put_in_parts_charges_each_part_its_share() -> None:
    inbox = Inbox(maxsize=2, max_bytes=1000)
    putter = eventlet.spawn(inbox.put_batch, [1, 2, 3, 4, 5], 101)
    eventlet.sleep(0.01)
    assert inbox.qsize() == 2
    assert inbox.bytes == 40  # two fifths of 101, rounded down
    taken = [inbox.get(timeout=1) for _ in range(5)]
    putter.wait()
    assert taken == [1, 2, 3, 4, 5]
    assert inbox.bytes == 0


def test_take_until_yields_in_order_and_leaves_the_end_for_the_next_consumer() -> None:
    end = object()
    inbox = Inbox(maxsize=3, max_bytes=1000)

    def produce() -> None:
        inbox.put_batch(list(range(10)), 100)  # waits for room
        inbox.put_now(end)

    producer = eventlet.spawn(produce)
    first = inbox.take_until(end)
    assert [next(first) for _ in range(4)] == [0, 1, 2, 3]
    first.close()  # a consumer that stops early takes nothing more
    assert list(inbox.take_until(end)) == list(range(4, 10))
    producer.wait()
    assert list(inbox.take_until(end)) == []  # the end is still there
    assert inbox.qsize() == 1
    assert inbox.bytes == 0


def test_take_until_waits_for_items_and_wakes_a_waiting_putter() -> None:
    end = object()
    inbox = Inbox(maxsize=1, max_bytes=1000)
    consumer = eventlet.spawn(lambda: list(inbox.take_until(end)))
    eventlet.sleep(0.01)
    with eventlet.Timeout(5):
        inbox.put_batch(["a", "b", "c"], 3)  # one at a time: the consumer makes room
        inbox.put_now(end)
        assert consumer.wait() == ["a", "b", "c"]


def _run_left(inbox: Inbox) -> int | None:
    """How many more items the take_until run under way may take (None: no run)."""
    return None if inbox._budget is None else len(inbox._budget)


def test_take_until_takes_a_batch_in_one_run_that_stops_before_a_single_item() -> None:
    end = object()
    inbox = Inbox(maxsize=100, max_bytes=1000)
    inbox.put_batch(list(range(10)), 10)
    inbox.put_now("event")
    inbox.put_batch([10, 11], 2)
    inbox.put_now(end)
    consumer = inbox.take_until(end)
    assert next(consumer) == 0  # the ordinary way
    assert next(consumer) == 1  # in a run: items 1 to 9, not the event after them
    assert _run_left(inbox) == 9
    assert list(consumer) == [2, 3, 4, 5, 6, 7, 8, 9, "event", 10, 11]
    assert _run_left(inbox) is None
    assert inbox.qsize() == 1  # the end, for the next consumer
    assert inbox.bytes == 0


def test_another_consumer_shortens_a_run_so_it_never_takes_past_its_items() -> None:
    end = object()
    inbox = Inbox(maxsize=100, max_bytes=1000)
    inbox.put_batch(list(range(10)), 10)
    inbox.put_now("event")
    first = inbox.take_until(end)
    assert [next(first), next(first)] == [0, 1]  # a run of 9 items is under way
    # Another consumer takes three of them: the run may take six more at most.
    assert [inbox.get(timeout=1) for _ in range(3)] == [2, 3, 4]
    inbox.put_now(end)
    second = inbox.take_until(end)  # a second consumer, taking item by item
    assert next(second) == 5
    assert [next(first) for _ in range(4)] == [6, 7, 8, 9]
    assert next(second) == "event"  # never yielded by the first consumer's run
    with pytest.raises(StopIteration):
        next(first)
    with pytest.raises(StopIteration):
        next(second)
    assert inbox.qsize() == 1
    assert inbox.get(timeout=1) is end


def test_a_consumer_that_stops_in_a_run_leaves_the_rest_on_the_queue() -> None:
    end = object()
    inbox = Inbox(maxsize=100, max_bytes=1000)
    inbox.put_batch(list(range(6)), 60)
    consumer = inbox.take_until(end)
    assert [next(consumer) for _ in range(3)] == [0, 1, 2]
    consumer.close()
    assert _run_left(inbox) is None
    assert [inbox.get(timeout=1) for _ in range(3)] == [3, 4, 5]
    assert inbox.bytes == 0


def test_a_producer_that_waits_during_a_run_is_woken_item_by_item() -> None:
    end = object()
    inbox = Inbox(maxsize=4, max_bytes=1000)
    inbox.put_batch([0, 1, 2, 3], 4)

    def produce() -> None:
        for start in range(4, 40, 4):
            inbox.put_batch(list(range(start, start + 4)), 4)  # waits for room
        inbox.put_now(end)

    producer = eventlet.spawn(produce)
    received = []
    with eventlet.Timeout(5):
        for item in inbox.take_until(end):
            received.append(item)
            eventlet.sleep(0)  # the consumer's own work lets the producer run
        producer.wait()
    assert received == list(range(40))
    assert inbox.waits > 0


def test_the_single_items_put_are_forgotten_once_taken() -> None:
    inbox = Inbox(maxsize=10, max_bytes=1000)
    for number in range(1000):
        inbox.put_now(number)
        assert inbox.get(timeout=1) == number
    assert len(inbox._singles) <= 1  # not one entry per item ever put


def test_a_run_takes_at_most_run_items() -> None:
    from greenclient.inbox import RUN_ITEMS

    inbox = Inbox(maxsize=3 * RUN_ITEMS, max_bytes=10**6)
    inbox.put_batch(list(range(3 * RUN_ITEMS)), 3 * RUN_ITEMS)
    consumer = inbox.take_until(object())
    assert [next(consumer), next(consumer)] == [0, 1]
    assert _run_left(inbox) == RUN_ITEMS
    assert [next(consumer) for _ in range(3 * RUN_ITEMS - 2)] == list(range(2, 3 * RUN_ITEMS))


def test_a_run_left_suspended_does_not_keep_a_waiting_producer_asleep() -> None:
    inbox = Inbox(maxsize=4, max_bytes=1000)
    inbox.put_batch([0, 1, 2, 3], 4)
    producer = eventlet.spawn(inbox.put_batch, [4, 5, 6, 7], 4)  # waits for room
    eventlet.sleep(0)
    consumer = inbox.take_until(object())
    got = [next(consumer)]  # the ordinary way: wakes the producer
    eventlet.sleep(0)  # it puts one item and waits again
    got += [next(consumer) for _ in range(4)]
    # The iterator is kept, suspended, while get() takes the rest.
    with eventlet.Timeout(5):
        got += [inbox.get(timeout=2) for _ in range(3)]
        producer.wait()
    assert got == list(range(8))


def test_a_consumer_waiting_on_the_producer_inside_its_loop_is_not_stalled() -> None:
    """What ``client.request()`` inside ``for message in client`` does: the reply
    is read by the listener, which must first finish putting the read before it."""
    inbox = Inbox(maxsize=4, max_bytes=1000)
    reply = eventlet.event.Event()

    def listener() -> None:
        inbox.put_batch([0, 1, 2, 3], 4)
        inbox.put_batch([4, 5], 2)  # one read: waits for room
        reply.send("reply")  # the next read holds the reply

    producer = eventlet.spawn(listener)
    eventlet.sleep(0)
    got: list[object] = []
    with eventlet.Timeout(5):
        for item in inbox.take_until(object()):
            got.append(item)
            eventlet.sleep(0)  # the consumer's own work
            if item == 2:
                got.append(reply.wait())
                break
        producer.wait()
    assert got == [0, 1, 2, "reply"]


def test_a_producer_that_starts_waiting_ends_the_run_under_way() -> None:
    inbox = Inbox(maxsize=4, max_bytes=1000)
    inbox.put_batch([0, 1, 2], 3)
    consumer = inbox.take_until(object())
    assert [next(consumer), next(consumer)] == [0, 1]  # a run (1 and 2) is under way
    inbox.put_batch([3, 4, 5], 3)  # now full
    reply = eventlet.event.Event()

    def listener() -> None:
        inbox.put_batch([6], 1)  # waits for room, ending the run
        reply.send("reply")

    producer = eventlet.spawn(listener)
    eventlet.sleep(0)
    assert next(consumer) == 2  # taken the ordinary way: wakes the listener
    with eventlet.Timeout(5):
        assert reply.wait() == "reply"
        producer.wait()
    assert [next(consumer) for _ in range(4)] == [3, 4, 5, 6]
