"""The incoming queue: bounded by message count *and* by bytes, filled a batch at a time.

:class:`Inbox` is what ``client.queue`` is. It has the consumer side of
``eventlet.queue.Queue`` (``get``, ``get_nowait``, ``qsize``, ``empty``,
``full``, ``maxsize``; ``queue.Empty`` / ``queue.Full`` on timeout) and two
things a plain queue lacks:

* :meth:`Inbox.put_batch` puts every message decoded from one read in one
  operation, charging the bytes their frames took on the wire; it waits while
  the queue holds ``maxsize`` items or ``max_bytes`` bytes (so the listener stops
  reading and TCP makes the server wait).
* :meth:`Inbox.put_now` puts an item that must never wait (a connection event,
  :data:`~greenclient.END`). It may go past ``maxsize`` for as long as it is on
  the queue: the slot is lent, never added for good.

Invariants: items come out in the order they went in. After ``put_batch`` the
queue holds at most ``maxsize`` items put by ``put_batch`` / ``put``; its
bytes exceed ``max_bytes`` by at most the bytes of one batch (one read). Every
green thread blocked in ``get`` is woken when there is an item for it; a getter
that gives up (timeout, kill) after being woken passes the wake-up on.

Bytes are charged per batch, not per item: a batch's bytes are given back when
its last item is taken. Taking an item thus costs no bookkeeping at all (the
consumer's side is the hot path of most applications), and the count of bytes
held is never below the true one, so the bound holds as stated. A batch is one
read at most, so the bytes of at most one read are counted a little longer.

:meth:`Inbox.take_until` (what ``for message in client`` runs) takes the items
that ``put_batch`` put in a run of C code, without a Python step per item: it
takes them one at a time, as the consumer asks for each, and stops at the first
item that ``put_now`` put (an event, the end), which it takes the ordinary way.
Another consumer that takes items meanwhile shortens the run by as many, so a
run never takes an item that was not there, or that ``put_now`` put, in its
place. A run's pops wake no producer, so no run starts while a producer waits
for room, and a producer that is about to wait ends the run under way: from
then on items are taken one by one, each waking it as ``get()`` does.
"""

from __future__ import annotations

import contextlib
import queue
from collections import deque
from collections.abc import Callable, Generator
from itertools import starmap
from typing import Any, Final

import eventlet.hubs
import eventlet.timeout
from eventlet.queue import Waiter

__all__ = ["Inbox"]

# Shared by every Inbox until it first needs a deque of its own: an idle queue
# (most of a process's connections) allocates none. Never mutated.
_NO_ITEMS: deque[Any] = deque()
_NO_CHARGES: deque[tuple[int, int]] = deque()
_NO_WAITERS: deque[Waiter] = deque()
_NO_SINGLES: deque[int] = deque()

#: The most items one run of :meth:`Inbox.take_until` takes.
RUN_ITEMS: Final = 1024


class Inbox:
    """A FIFO of messages bounded by count and by bytes, for green threads.

    Args:
        maxsize: the most items ``put_batch`` and ``put`` let it hold (>= 1).
        max_bytes: the most frame bytes; puts wait once it holds this many (>= 1).

    Raises:
        ValueError: a bound is below 1.
    """

    __slots__ = (
        "_budget",
        "_bytes",
        "_charges",
        "_getters",
        "_items",
        "_put_count",
        "_putters",
        "_singles",
        "max_bytes",
        "maxsize",
        "waits",
    )

    def __init__(self, maxsize: int, max_bytes: int):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_queue_bytes must be at least 1")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        # The shared empty deques until the first put / wait (see _NO_ITEMS).
        self._items = _NO_ITEMS
        # (items ever put once the batch was in, its bytes), oldest first: a
        # batch's bytes are given back once that many items have been taken.
        self._charges = _NO_CHARGES
        self._put_count = 0  # items ever put
        self._bytes = 0  # bytes of the batches not yet wholly taken
        self._getters = _NO_WAITERS
        self._putters = _NO_WAITERS
        # The ordinal (1 = first item ever put) of each item put by put_now that
        # may still be on the queue, oldest first; pruned lazily (_batch_run).
        self._singles = _NO_SINGLES
        # What is left of the current take_until run: one entry per item it may
        # still take. Another consumer's get() removes one entry per item taken.
        self._budget: list[tuple[()]] | None = None
        #: How many times a put has had to wait for room (only ever grows).
        self.waits = 0

    # -- state ------------------------------------------------------------------

    @property
    def bytes(self) -> int:
        """Frame bytes of the batches whose items are not all taken yet."""
        return self._settle()

    def _settle(self) -> int:
        """Give back the bytes of the batches wholly taken; return the bytes held."""
        charges = self._charges
        if charges:
            taken = self._put_count - len(self._items)
            while charges and charges[0][0] <= taken:
                self._bytes -= charges.popleft()[1]
        return self._bytes

    def qsize(self) -> int:
        """Number of items on the queue now."""
        return len(self._items)

    def empty(self) -> bool:
        """True when the queue holds no item."""
        return not self._items

    def full(self) -> bool:
        """True when a put would wait (``maxsize`` items or ``max_bytes`` bytes held)."""
        return len(self._items) >= self.maxsize or self._settle() >= self.max_bytes

    def __repr__(self) -> str:
        held = self._settle()
        return f"<Inbox {len(self._items)}/{self.maxsize} items, {held}/{self.max_bytes} B>"

    # -- the consumer's side --------------------------------------------------------

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Remove and return the next item.

        Args:
            block: wait for an item (False: raise ``queue.Empty`` at once).
            timeout: seconds to wait; None waits until an item comes.

        Raises:
            queue.Empty: no item came in time.
        """
        items = self._items
        if items:
            item = items.popleft()
            if self._budget:  # a take_until run is under way: it may take one less
                self._budget.pop()
            if self._putters:
                self._wake_putter()
            return item
        return self._get_waiting(block, timeout)

    def take_until(self, end: object) -> Generator[Any, None, None]:
        """Yield the items as they come, waiting for each, until ``end`` comes.

        ``end`` itself is not yielded: it is put back at once, for the next
        consumer. ``end`` must be put with :meth:`put_now` (or :meth:`put`).
        This is ``get()`` in a loop, made cheaper: the items that
        :meth:`put_batch` put are taken in a run of C code, one at a time as
        the consumer asks for them (see the module's docstring). The consumer's
        hot path.
        """
        if self._items is _NO_ITEMS:
            self._own_deques()
        items = self._items  # this queue's own deque from now on
        take = items.popleft
        get = self.get
        while True:
            if items:  # get(), inline
                item = take()
                if self._budget:  # another consumer's run: it may take one less
                    self._budget.pop()
                if self._putters:
                    self._wake_putter()
            else:
                item = get()  # waits
            if item is end:
                self.put_now(end)
                return
            yield item
            if len(items) > 1 and self._budget is None and not self._putters:
                count = min(self._batch_run(), RUN_ITEMS)
                if count > 1:
                    budget = self._budget = [()] * count
                    try:
                        yield from starmap(take, budget)
                    finally:
                        if self._budget is budget:
                            self._budget = None
                        if self._putters:  # the run made room without waking them
                            self._wake_putter()

    def _end_run(self) -> None:
        """End the take_until run under way, if any: it takes nothing more.

        A run's pops wake no producer, so no run may go on while one waits:
        from now on each item is taken the ordinary way, which wakes them.
        """
        budget = self._budget
        if budget is not None:
            budget.clear()
            self._budget = None

    def _batch_run(self) -> int:
        """How many items at the front were put by put_batch (none was put by put_now)."""
        count = len(self._items)
        singles = self._singles
        if singles:
            taken = self._put_count - count
            while singles and singles[0] <= taken:  # taken already
                singles.popleft()
            if singles:
                return singles[0] - 1 - taken
        return count

    def get_nowait(self) -> Any:
        """Remove and return the next item, or raise ``queue.Empty``."""
        return self.get(False)

    def _get_waiting(self, block: bool, timeout: float | None) -> Any:
        if not block or (timeout is not None and timeout <= 0):
            raise queue.Empty
        waiter = Waiter()
        getters = self._getters
        if getters is _NO_WAITERS:
            getters = self._getters = deque()
        timer = eventlet.timeout.Timeout(timeout) if timeout is not None else None
        try:
            while not self._items:
                getters.append(waiter)
                try:
                    waiter.wait()
                finally:
                    with contextlib.suppress(ValueError):
                        getters.remove(waiter)
        except BaseException as exc:
            # Woken, perhaps, but leaving: another getter may take the item.
            if self._items and getters:
                self._wake_getters(len(self._items))
            if exc is timer:
                raise queue.Empty from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return self.get(False)

    # -- the producers' side --------------------------------------------------------

    def put_batch(
        self, items: list[Any], nbytes: int, on_put: Callable[[int], object] | None = None
    ) -> None:
        """Put ``items`` in order, charged ``nbytes`` in all; wait while the queue is full.

        The items go in as soon as there is room: as many as ``maxsize`` leaves
        space for, while the queue holds fewer than ``max_bytes`` bytes. Getters
        are woken once per chunk put, not once per item. ``on_put(n)`` is
        called with the number of items of each chunk, as it is put.
        """
        count = len(items)
        if not count:
            return
        nbytes = max(0, nbytes)
        start = 0
        if self._items is _NO_ITEMS:
            self._own_deques()
        queue_items = self._items
        while True:
            room = self.maxsize - len(queue_items)
            if room > 0 and self._settle() < self.max_bytes:
                take = min(room, count - start)
                queue_items.extend(items if take == count else items[start : start + take])
                # This chunk's share of the bytes; the shares add up to nbytes.
                charged_before = nbytes * start // count
                start += take
                charge = nbytes * start // count - charged_before
                self._put_count += take
                if on_put is not None:
                    on_put(take)
                if charge:
                    self._charges.append((self._put_count, charge))
                    self._bytes += charge
                if self._getters:
                    self._wake_getters(take)
                if start == count:
                    return
            self._wait_for_room(None)

    def put_now(self, item: Any) -> None:
        """Put ``item`` at once, even on a full queue (its slot is given back when it is taken)."""
        if self._items is _NO_ITEMS:
            self._own_deques()
        self._items.append(item)
        self._put_count += 1
        if self._singles is _NO_SINGLES:
            self._singles = deque()
        else:
            self._batch_run()  # prunes the ordinals of items already taken
        self._singles.append(self._put_count)
        if self._getters:
            self._wake_getters(1)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        """Put one item charged 0 bytes; wait while the queue is full.

        Raises:
            queue.Full: still full after ``timeout`` seconds (or at once with
                ``block=False``).
        """
        if self.full():
            if not block or (timeout is not None and timeout <= 0):
                raise queue.Full
            self._wait_for_room(timeout)
        self.put_now(item)

    def put_nowait(self, item: Any) -> None:
        """Put one item, or raise ``queue.Full``."""
        self.put(item, False)

    def _own_deques(self) -> None:
        """Give this queue deques of its own for items and charges (at its first put)."""
        self._items = deque()
        self._charges = deque()

    # -- waking -------------------------------------------------------------------

    def _wait_for_room(self, timeout: float | None) -> None:
        self.waits += 1
        waiter = Waiter()
        putters = self._putters
        if putters is _NO_WAITERS:
            putters = self._putters = deque()
        timer = eventlet.timeout.Timeout(timeout) if timeout is not None else None
        try:
            while self.full():
                self._end_run()  # its pops would not wake this producer
                putters.append(waiter)
                try:
                    waiter.wait()
                finally:
                    with contextlib.suppress(ValueError):
                        putters.remove(waiter)
        except BaseException as exc:
            if putters and not self.full():
                self._wake_putter()
            if exc is timer:
                raise queue.Full from None
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _wake_getters(self, count: int) -> None:
        hub = eventlet.hubs.get_hub()
        getters = self._getters
        while count > 0 and getters:
            hub.schedule_call_global(0, getters.popleft().switch)
            count -= 1

    def _wake_putter(self) -> None:
        if not self.full():
            eventlet.hubs.get_hub().schedule_call_global(0, self._putters.popleft().switch)
