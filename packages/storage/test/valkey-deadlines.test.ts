import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CallDeadlines, type PendingCall } from '../src/cache/valkey-deadlines.js';

describe('CallDeadlines (the Valkey store’s one timer for every call in flight)', () => {
  it('expires exactly the calls still waiting at their deadline, each once, across compactions', async () => {
    const deadlines = new CallDeadlines();
    const expired: number[] = [];
    const calls: PendingCall[] = [];
    const start = performance.now();
    for (let i = 0; i < 5_000; i++) {
      const call: PendingCall = {
        deadlineMs: start + 50 + Math.floor(i / 1_000) * 20,
        settled: false,
        expire: () => {
          expect(call.settled).toBe(false);
          call.settled = true;
          expired.push(i);
          deadlines.trim();
        },
      };
      calls.push(call);
      deadlines.add(call);
    }
    // Most calls are answered, in order, before their deadline; every seventh never is.
    for (const [i, call] of calls.entries()) {
      if (i % 7 === 0) continue;
      call.settled = true;
      deadlines.trim();
    }
    await sleep(200);
    expect(expired).toEqual(calls.map((_, i) => i).filter((i) => i % 7 === 0));
  });

  it('a call answered after the first deadline passed is not expired', async () => {
    const deadlines = new CallDeadlines();
    let expiredLate = false;
    const early: PendingCall = { deadlineMs: performance.now() + 10, settled: false, expire() {} };
    early.expire = () => {
      early.settled = true;
    };
    const late: PendingCall = {
      deadlineMs: performance.now() + 60,
      settled: false,
      expire: () => {
        expiredLate = true;
      },
    };
    deadlines.add(early);
    deadlines.add(late);
    await sleep(30);
    expect(early.settled).toBe(true);
    late.settled = true;
    deadlines.trim();
    await sleep(60);
    expect(expiredLate).toBe(false);
    deadlines.stop();
  });
});
