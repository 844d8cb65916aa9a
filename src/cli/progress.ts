// A one-line progress bar for terminals; on a pipe it prints plain lines now and then instead.
export class ProgressLine {
  private lastPlain = 0;
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(percent: number, text: string): void {
    if (this.out.isTTY) {
      const width = 24;
      const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
      this.out.write(
        `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent.toFixed(0).padStart(3)}% ${text}\x1b[K`,
      );
      this.drawn = true;
    } else if (Date.now() - this.lastPlain > 1000) {
      this.out.write(`  ${percent.toFixed(0).padStart(3)}% ${text}\n`);
      this.lastPlain = Date.now();
    }
  }

  /** Prints a line above the bar. */
  log(line: string): void {
    this.clear();
    this.out.write(`${line}\n`);
  }

  done(line: string): void {
    this.clear();
    if (line) this.out.write(`${line}\n`);
  }

  private clear(): void {
    if (this.drawn) this.out.write("\r\x1b[K");
    this.drawn = false;
  }
}
