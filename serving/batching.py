"""A small asyncio batching queue (no TensorFlow import).

Concurrent requests for the same (model, signature) are concatenated along the batch
dimension into one model call, then the outputs are sliced back per request. Like TF Serving's
batching: a batch closes when it reaches `max_batch_size` rows or `timeout_s` after its first
request arrived. One batch runs at a time on a single worker thread (TF Serving's
num_batch_threads=1): requests arriving meanwhile queue up and form the next, larger batch,
while the event loop stays free for other requests. When the model refuses a batch (an image
that does not decode), the batch is split in halves and each half run again: the one bad
request fails alone after about log2(requests) more calls, not one call per request.
"""
import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
from typing import Callable, Hashable

import numpy as np

log = logging.getLogger(__name__)

# run(key, inputs) -> outputs; every array has the batch dimension first.
RunFn = Callable[[Hashable, dict], dict]


@dataclasses.dataclass
class _Item:
    key: Hashable
    inputs: dict
    rows: int
    future: asyncio.Future


class Batcher:
    def __init__(self, run: RunFn, max_batch_size: int = 32, timeout_s: float = 0.005,
                 on_batch: Callable[[int], None] = lambda rows: None):
        if max_batch_size < 1 or timeout_s < 0:
            raise ValueError("max_batch_size must be >= 1 and timeout_s >= 0")
        self._run = run
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._queue: "asyncio.Queue[_Item]" = asyncio.Queue()
        self._carry = None  # an item that did not fit the previous batch
        self._task = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch")
        self.batch_sizes = collections.deque(maxlen=1000)  # rows per model call, for tests/logs
        self.calls = 0  # model calls, failed ones included
        self._on_batch = on_batch

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, key: Hashable, inputs: dict, rows: int) -> dict:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(key, inputs, rows, future))
        return await future

    async def _next_batch(self) -> list:
        first = self._carry or await self._queue.get()
        self._carry = None
        batch, rows = [first], first.rows
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while rows < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if rows + item.rows > self.max_batch_size:
                self._carry = item  # opens the next batch; requests are never split
                break
            batch.append(item)
            rows += item.rows
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._next_batch()
            groups = collections.defaultdict(list)
            for item in batch:
                if not item.future.done():  # skip requests whose client went away
                    groups[item.key].append(item)
            for key, items in groups.items():
                try:
                    await self._run_group(key, items)
                except Exception as err:  # never let the loop die
                    log.exception("batch failed")
                    for item in items:
                        if not item.future.done():
                            item.future.set_exception(err)

    async def _run_group(self, key: Hashable, items: list) -> None:
        loop = asyncio.get_running_loop()
        names = items[0].inputs.keys()
        inputs = {n: np.concatenate([it.inputs[n] for it in items]) for n in names}
        total = sum(it.rows for it in items)
        try:
            self.calls += 1
            outputs = await loop.run_in_executor(self._executor, self._run, key, inputs)
            bad = [n for n, a in outputs.items() if np.shape(a)[:1] != (total,)]
            if bad and len(items) > 1:
                raise ValueError(f"outputs {bad} are not batch-major; cannot split a batch")
        except Exception as err:
            if len(items) > 1:
                # Halves, so that one bad request cannot fail the others.
                half = len(items) // 2
                await self._run_group(key, items[:half])
                await self._run_group(key, items[half:])
                return
            if not items[0].future.done():
                items[0].future.set_exception(err)
            return
        self.batch_sizes.append(total)
        self._on_batch(total)
        offset = 0
        for item in items:
            part = outputs if len(items) == 1 else {
                n: a[offset:offset + item.rows] for n, a in outputs.items()}
            offset += item.rows
            if not item.future.done():
                item.future.set_result(part)
