/** One armed fault: which operations it hits and how many more times (Infinity = always). */
interface Rule<Op extends string, Effect> {
  readonly operations: ReadonlySet<Op> | undefined;
  remaining: number;
  readonly effect: Effect;
}

/**
 * A queue of armed faults shared by the fault-injecting wrappers: each call asks for the
 * first rule that matches its operation and consumes one use of it.
 */
export class FaultPlan<Op extends string, Effect> {
  #rules: Array<Rule<Op, Effect>> = [];

  /** Arms `effect` for the next `count` matching calls (`Infinity`: until cleared). */
  arm(count: number, effect: Effect, operations?: readonly Op[]): void {
    if (!(count > 0)) throw new RangeError(`count must be positive, got ${count}`);
    this.#rules.push({
      operations: operations === undefined ? undefined : new Set(operations),
      remaining: count,
      effect,
    });
  }

  /** The effect for a call of `operation`, consuming one use; `undefined` when none applies. */
  take(operation: Op): Effect | undefined {
    const rule = this.#rules.find((r) => r.operations === undefined || r.operations.has(operation));
    if (rule === undefined) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.#rules = this.#rules.filter((r) => r !== rule);
    return rule.effect;
  }

  /** Disarms everything. */
  clear(): void {
    this.#rules = [];
  }
}
