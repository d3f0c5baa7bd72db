/**
 * The line that shows what the run is doing, on stderr so stdout stays clean. On a TTY one
 * line is rewritten in place; otherwise only plain, permanent lines are printed.
 */
export class ProgressLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #shown = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  /** Replaces the transient line (TTY only; dropped otherwise). */
  update(text: string): void {
    if (!this.#tty) return;
    const width = this.#stream.columns > 0 ? this.#stream.columns - 1 : 120;
    this.#stream.write(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    this.#shown = true;
  }

  /** Prints a permanent line (clearing the transient one first). */
  log(text: string): void {
    this.clear();
    this.#stream.write(`${text}\n`);
  }

  /** Removes the transient line. */
  clear(): void {
    if (this.#tty && this.#shown) this.#stream.write('\r\x1b[2K');
    this.#shown = false;
  }
}
