"""A ledger holder in a process of its own, driven line by line on stdin, for the lease
tests: ``claim KEY`` prints the verdict, ``done KEY ID`` marks it done and flushes, then
prints ``ok``. The ledger's URL is ``LEDGER_URL`` (never argv); grace 0."""

from __future__ import annotations

import asyncio
import os
import sys

from zyntro_async._journal_postgres import PostgresJournal
from zyntro_async._journal_store import Claim


async def main() -> None:
    loop = asyncio.get_running_loop()
    async with await PostgresJournal.open(os.environ["LEDGER_URL"], grace=0.0) as store:
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, key, *rest = line.split()
            if command == "claim":
                answer = await store.claim(Claim(key, "c-" + key, "S", "d-" + key))
                print(answer.verdict.value, flush=True)
            elif command == "done":
                store.mark_done(key, profile_id=int(rest[0]))
                await store.flush()
                print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
