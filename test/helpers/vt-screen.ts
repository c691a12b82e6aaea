/**
 * A small VT100/xterm screen model for tests: it takes what a program writes to its terminal and
 * keeps the grid of characters a person would see. It covers what ink, a shell and common tools
 * emit: printable text with auto-wrap, CR/LF/BS/TAB, cursor movement and positioning, erase in
 * line and display, scrolling (with regions), insert/delete of lines and characters, save/restore
 * of the cursor and the alternate screen. Colours and other attributes are read and dropped; OSC
 * strings (titles, clipboard) are skipped. Every character is taken as one column wide.
 */
export class VtScreen {
  cols: number;
  rows: number;
  private grid: string[][];
  private main: string[][] | null = null;
  private x = 0;
  private y = 0;
  private wrapPending = false;
  private saved = { x: 0, y: 0 };
  private top = 0;
  private bottom: number;
  private pending = "";

  constructor(cols: number, rows: number) {
    this.cols = cols;
    this.rows = rows;
    this.bottom = rows - 1;
    this.grid = this.blank(rows);
  }

  /** The screen as text: one line per row, trailing spaces removed. */
  text(): string {
    return this.grid.map((r) => r.join("").trimEnd()).join("\n");
  }

  line(row: number): string {
    return (this.grid[row] ?? []).join("").trimEnd();
  }

  get cursor(): { x: number; y: number } {
    return { x: this.x, y: this.y };
  }

  resize(cols: number, rows: number): void {
    const grid = this.blank(rows);
    for (let r = 0; r < Math.min(rows, this.rows); r++) for (let c = 0; c < Math.min(cols, this.cols); c++) grid[r]![c] = this.grid[r]![c]!;
    this.cols = cols;
    this.rows = rows;
    this.grid = grid;
    this.main = null;
    this.top = 0;
    this.bottom = rows - 1;
    this.x = Math.min(this.x, cols - 1);
    this.y = Math.min(this.y, rows - 1);
    this.wrapPending = false;
  }

  write(data: string): void {
    const s = this.pending + data;
    this.pending = "";
    let i = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === "\x1b") {
        const used = this.escape(s, i);
        if (used === 0) {
          this.pending = s.slice(i); // an incomplete sequence: wait for the rest
          return;
        }
        i += used;
        continue;
      }
      const code = s.codePointAt(i)!;
      i += code > 0xffff ? 2 : 1;
      if (code < 0x20 || code === 0x7f) this.control(ch);
      else this.print(String.fromCodePoint(code));
    }
  }

  private blank(rows: number): string[][] {
    return Array.from({ length: rows }, () => this.blankRow());
  }

  private blankRow(): string[] {
    return Array.from({ length: this.cols }, () => " ");
  }

  private print(ch: string): void {
    if (this.wrapPending) {
      this.x = 0;
      this.lineFeed();
      this.wrapPending = false;
    }
    this.grid[this.y]![this.x] = ch;
    if (this.x === this.cols - 1) this.wrapPending = true;
    else this.x++;
  }

  private control(ch: string): void {
    switch (ch) {
      case "\r":
        this.x = 0;
        this.wrapPending = false;
        return;
      case "\n":
      case "\v":
      case "\f":
        this.lineFeed();
        this.wrapPending = false;
        return;
      case "\b":
        if (this.x > 0) this.x--;
        this.wrapPending = false;
        return;
      case "\t":
        this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8);
        return;
      default:
        return; // BEL and the rest: nothing to draw
    }
  }

  private lineFeed(): void {
    if (this.y === this.bottom) this.scrollUp(1);
    else if (this.y < this.rows - 1) this.y++;
  }

  private scrollUp(n: number): void {
    for (let k = 0; k < n; k++) {
      this.grid.splice(this.top, 1);
      this.grid.splice(this.bottom, 0, this.blankRow());
    }
  }

  private scrollDown(n: number): void {
    for (let k = 0; k < n; k++) {
      this.grid.splice(this.bottom, 1);
      this.grid.splice(this.top, 0, this.blankRow());
    }
  }

  /** Handles the escape sequence at s[i]; returns how many characters it took (0: incomplete). */
  private escape(s: string, i: number): number {
    const next = s[i + 1];
    if (next === undefined) return 0;
    if (next === "[") {
      const m = /^\x1b\[([?>=!]?)([\d;:]*)([ -/]*)([@-~])/.exec(s.slice(i, i + 64));
      if (!m) return s.length - i < 64 && /^\x1b\[[?>=!]?[\d;:]*[ -/]*$/.test(s.slice(i)) ? 0 : 2;
      this.csi(m[1]!, m[2]!.split(/[;:]/).map((p) => (p === "" ? NaN : Number(p))), m[4]!);
      return m[0].length;
    }
    if (next === "]" || next === "P" || next === "_" || next === "^") {
      // OSC / DCS / APC / PM: skip to BEL or ST
      for (let j = i + 2; j < s.length; j++) {
        if (s[j] === "\x07") return j - i + 1;
        if (s[j] === "\x1b" && s[j + 1] === "\\") return j - i + 2;
      }
      return 0;
    }
    if (next === "(" || next === ")" || next === "*" || next === "+" || next === "#") return s.length - i < 3 ? 0 : 3;
    switch (next) {
      case "7":
      case "8":
        this.saveOrRestore(next === "7");
        break;
      case "M":
        if (this.y === this.top) this.scrollDown(1);
        else if (this.y > 0) this.y--;
        break;
      case "D":
        this.lineFeed();
        break;
      case "E":
        this.x = 0;
        this.lineFeed();
        break;
      case "c":
        this.grid = this.blank(this.rows);
        this.x = this.y = 0;
        break;
      default:
        break; // ESC = / ESC > (keypad modes) and others: nothing to draw
    }
    return 2;
  }

  private csi(prefix: string, params: number[], final: string): void {
    const p = (k: number, d: number) => (Number.isNaN(params[k] ?? NaN) || params[k] === 0 ? d : params[k]!);
    this.wrapPending = false;
    if (prefix === "?") {
      if ((final === "h" || final === "l") && params.some((n) => n === 1049 || n === 47 || n === 1047)) this.altScreen(final === "h");
      return;
    }
    if (prefix !== "") return;
    switch (final) {
      case "A":
        this.y = Math.max(0, this.y - p(0, 1));
        return;
      case "B":
      case "e":
        this.y = Math.min(this.rows - 1, this.y + p(0, 1));
        return;
      case "C":
      case "a":
        this.x = Math.min(this.cols - 1, this.x + p(0, 1));
        return;
      case "D":
        this.x = Math.max(0, this.x - p(0, 1));
        return;
      case "E":
        this.x = 0;
        this.y = Math.min(this.rows - 1, this.y + p(0, 1));
        return;
      case "F":
        this.x = 0;
        this.y = Math.max(0, this.y - p(0, 1));
        return;
      case "G":
      case "`":
        this.x = Math.min(this.cols - 1, p(0, 1) - 1);
        return;
      case "d":
        this.y = Math.min(this.rows - 1, p(0, 1) - 1);
        return;
      case "H":
      case "f":
        this.y = Math.min(this.rows - 1, p(0, 1) - 1);
        this.x = Math.min(this.cols - 1, p(1, 1) - 1);
        return;
      case "J":
        return this.eraseDisplay(Number.isNaN(params[0] ?? NaN) ? 0 : params[0]!);
      case "K":
        return this.eraseLine(Number.isNaN(params[0] ?? NaN) ? 0 : params[0]!);
      case "X":
        for (let c = this.x; c < Math.min(this.cols, this.x + p(0, 1)); c++) this.grid[this.y]![c] = " ";
        return;
      case "P": {
        const row = this.grid[this.y]!;
        row.splice(this.x, p(0, 1));
        while (row.length < this.cols) row.push(" ");
        return;
      }
      case "@": {
        const row = this.grid[this.y]!;
        row.splice(this.x, 0, ...Array.from({ length: p(0, 1) }, () => " "));
        row.length = this.cols;
        return;
      }
      case "L":
      case "M": {
        if (this.y < this.top || this.y > this.bottom) return;
        const saveTop = this.top;
        this.top = this.y;
        if (final === "L") this.scrollDown(p(0, 1));
        else this.scrollUp(p(0, 1));
        this.top = saveTop;
        return;
      }
      case "S":
        return this.scrollUp(p(0, 1));
      case "T":
        return this.scrollDown(p(0, 1));
      case "r":
        this.top = p(0, 1) - 1;
        this.bottom = Math.min(this.rows - 1, p(1, this.rows) - 1);
        this.x = 0;
        this.y = 0;
        return;
      case "s":
      case "u":
        return this.saveOrRestore(final === "s");
      default:
        return; // m (colours), n (reports), c, t, ...: nothing to draw
    }
  }

  private saveOrRestore(save: boolean): void {
    if (save) this.saved = { x: this.x, y: this.y };
    else ({ x: this.x, y: this.y } = this.saved);
  }

  private eraseDisplay(mode: number): void {
    if (mode === 2 || mode === 3) {
      if (mode === 2) this.grid = this.blank(this.rows);
      return;
    }
    if (mode === 0) {
      this.eraseLine(0);
      for (let r = this.y + 1; r < this.rows; r++) this.grid[r] = this.blankRow();
    } else if (mode === 1) {
      this.eraseLine(1);
      for (let r = 0; r < this.y; r++) this.grid[r] = this.blankRow();
    }
  }

  private eraseLine(mode: number): void {
    const row = this.grid[this.y]!;
    const [from, to] = mode === 0 ? [this.x, this.cols] : mode === 1 ? [0, this.x + 1] : [0, this.cols];
    for (let c = from; c < to; c++) row[c] = " ";
  }

  private altScreen(on: boolean): void {
    if (on && !this.main) {
      this.main = this.grid;
      this.grid = this.blank(this.rows);
    } else if (!on && this.main) {
      this.grid = this.main;
      this.main = null;
    }
  }
}
