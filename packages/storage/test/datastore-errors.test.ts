import { describe, expect, it } from 'vitest';
import {
  type DatastoreOperation,
  datastoreCallTimeoutError,
  grpcCode,
  mapDatastoreError,
} from '../src/entity/datastore-errors.js';
import {
  AmbiguousCommitError,
  ContentionError,
  InvalidArgumentError,
  LimitExceededError,
  StoreUnavailableError,
} from '../src/errors/index.js';

/** An error shaped like the ones google-gax rejects with. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

const site = (operation: DatastoreOperation) => ({
  operation,
  description: 'datastore(p/ns)',
  transaction: 'datastore-tx-7',
});

const OPERATIONS: DatastoreOperation[] = [
  'beginTransaction',
  'lookup',
  'commit',
  'rollback',
  'query',
];
const TRANSIENT = { CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, INTERNAL: 13, UNAVAILABLE: 14 };

describe('mapDatastoreError', () => {
  it('maps ABORTED to ContentionError wherever it happens, keeping the cause', () => {
    for (const operation of OPERATIONS) {
      const cause = grpcError(10, 'ABORTED: too much contention on these datastore entities.');
      const mapped = mapDatastoreError(cause, site(operation));
      expect(mapped).toBeInstanceOf(ContentionError);
      expect(mapped.cause).toBe(cause);
      expect((mapped as ContentionError).context).toMatchObject({
        operation,
        grpcCode: 10,
        transaction: 'datastore-tx-7',
      });
    }
  });

  it('maps transient codes during commit to AmbiguousCommitError', () => {
    for (const [name, code] of Object.entries(TRANSIENT)) {
      const cause = grpcError(code, `${name}: something`);
      const mapped = mapDatastoreError(cause, site('commit'));
      expect(mapped, name).toBeInstanceOf(AmbiguousCommitError);
      expect(mapped.cause).toBe(cause);
      expect(mapped.message).toContain(name);
      expect(mapped.message).toContain('may or may not have been applied');
    }
  });

  it('maps the same transient codes before a commit to StoreUnavailableError', () => {
    for (const operation of OPERATIONS.filter((o) => o !== 'commit')) {
      for (const [name, code] of Object.entries(TRANSIENT)) {
        const mapped = mapDatastoreError(grpcError(code, name), site(operation));
        expect(mapped, `${operation} ${name}`).toBeInstanceOf(StoreUnavailableError);
      }
    }
  });

  it('maps INVALID_ARGUMENT about call size to LimitExceededError', () => {
    const messages = [
      'cannot write more than 500 entities in a single call',
      'cannot get more than 1000 keys in a single call',
      'operating on too many entity groups in a single transaction.',
      'request payload size exceeds the limit: 11534336 bytes.',
      'entity is too big',
    ];
    for (const details of messages) {
      for (const operation of ['lookup', 'commit'] as const) {
        const cause = grpcError(3, details);
        const mapped = mapDatastoreError(cause, site(operation));
        expect(mapped, details).toBeInstanceOf(LimitExceededError);
        expect(mapped.cause).toBe(cause);
      }
    }
  });

  it('maps other refusals to StoreUnavailableError, also during commit', () => {
    const refusals = [
      grpcError(3, 'The value of property "big" is longer than 1500 bytes.'),
      grpcError(5, 'NOT_FOUND: project does not exist'),
      grpcError(7, 'PERMISSION_DENIED: missing permission'),
      grpcError(8, 'RESOURCE_EXHAUSTED: quota'),
      grpcError(9, 'FAILED_PRECONDITION: no index'),
      grpcError(16, 'UNAUTHENTICATED'),
    ];
    for (const cause of refusals) {
      const mapped = mapDatastoreError(cause, site('commit'));
      expect(mapped, cause.message).toBeInstanceOf(StoreUnavailableError);
      expect(mapped.cause).toBe(cause);
    }
  });

  it('reads the code from plain objects too, and names the status in the message', () => {
    const mapped = mapDatastoreError({ code: 4 }, { operation: 'commit', description: 'd' });
    expect(mapped).toBeInstanceOf(AmbiguousCommitError);
    expect(mapped.message).toContain('DEADLINE_EXCEEDED (4)');
    expect((mapped as AmbiguousCommitError).context).not.toHaveProperty('transaction');
  });

  it('passes shardcount errors and errors without a gRPC code through unchanged', () => {
    const own = new InvalidArgumentError('bad');
    expect(mapDatastoreError(own, site('commit'))).toBe(own);
    const plain = new TypeError('oops');
    expect(mapDatastoreError(plain, site('commit'))).toBe(plain);
    const odd = mapDatastoreError('a string', site('lookup'));
    expect(odd).toBeInstanceOf(Error);
    expect(odd.message).toBe('a string');
    expect(mapDatastoreError({ code: 'ECONNRESET' }, site('commit'))).toBeInstanceOf(Error);
    expect(mapDatastoreError({ code: 'ECONNRESET' }, site('commit'))).not.toBeInstanceOf(
      AmbiguousCommitError,
    );
  });
});

describe('datastoreCallTimeoutError', () => {
  it('is a DEADLINE_EXCEEDED: ambiguous for a commit, unavailable before one, kept as the cause', () => {
    for (const operation of OPERATIONS) {
      const cause = datastoreCallTimeoutError(1500);
      expect(grpcCode(cause)).toBe(4);
      const mapped = mapDatastoreError(cause, site(operation));
      expect(mapped, operation).toBeInstanceOf(
        operation === 'commit' ? AmbiguousCommitError : StoreUnavailableError,
      );
      expect(mapped.cause).toBe(cause);
      expect(mapped.message).toContain(
        'DEADLINE_EXCEEDED (4): no answer within callTimeoutMs (1500 ms)',
      );
    }
  });
});

describe('grpcCode', () => {
  it('accepts integer codes 1-16 only', () => {
    expect(grpcCode({ code: 10 })).toBe(10);
    expect(grpcCode({ code: 0 })).toBeUndefined();
    expect(grpcCode({ code: 17 })).toBeUndefined();
    expect(grpcCode({ code: '10' })).toBeUndefined();
    expect(grpcCode(null)).toBeUndefined();
    expect(grpcCode(new Error('x'))).toBeUndefined();
  });
});
