// Building the messages: plain text always through textContent; HTML only
// from our own render endpoint (markdown-it with raw HTML disabled).
//
// A streaming answer is shown as it arrives, as plain text, and rendered in
// the background: the server says which leading blocks are final, those are
// inserted once, and only the open tail block is sent again. The tail is
// re-rendered when it has grown by half its size (or when the stream
// pauses), so re-rendering costs a small constant times the answer, not its
// square; the newest text shows as plain text until its render arrives.

import { render } from "./api.js";

const MIN_GROWTH = 64; // characters before a tail is worth rendering again
const GROWTH = 0.5; // ...and at least half the tail's rendered length
const IDLE_MS = 200; // a pause in the stream renders what is there
const MIN_INTERVAL_MS = 100; // at most ~10 render requests a second per answer
const BLOCKS = new Set(["P", "LI", "UL", "OL", "BLOCKQUOTE", "DIV", "PRE", "CODE", "TD", "TH", "TABLE", "TBODY", "TR", "H1", "H2", "H3", "H4", "H5", "H6"]);
const NEWLINE = /\r\n?|\n/g;

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

// Where the text after the first `lines` line breaks starts (markdown-it's line ends).
export function lineOffset(text, lines) {
  if (lines <= 0) return 0;
  NEWLINE.lastIndex = 0;
  let match = null;
  for (let i = 0; i < lines; i++) {
    match = NEWLINE.exec(text);
    if (!match) return text.length;
  }
  return match.index + match[0].length;
}

// The deepest last block of `root`, where the not-yet-rendered text goes so
// that it continues the paragraph, list item or code block it belongs to.
function insertionPoint(root) {
  let node = root;
  for (;;) {
    let last = node.lastChild;
    while (last && last.nodeType === Node.TEXT_NODE && !last.data.trim()) last = last.previousSibling;
    if (!last || last.nodeType !== Node.ELEMENT_NODE || !BLOCKS.has(last.tagName)) return node;
    node = last;
  }
}

export class AnswerView {
  constructor(container, password) {
    this.password = password;
    this.final = el("div", { className: "md" });
    this.tail = el("div", { className: "md" });
    this.plain = document.createTextNode("");
    this.plainEl = el("span", { className: "plain" }, this.plain);
    this.tail.append(this.plainEl);
    container.append(this.final, this.tail);
    this.text = "";
    this.done = 0; // text[0:done] is rendered into this.final for good
    this.tailEnd = 0; // this.tail renders text[done:tailEnd]; the rest is plain
    this.pending = null;
    this.finished = false;
    this.failed = false;
    this.idle = 0;
    this.retries = 0;
    this.retryAt = 0;
    this.notBefore = 0; // no render request before this time (pacing, a 429's Retry-After)
  }

  append(chunk) {
    this.text += chunk;
    this.plain.appendData(chunk);
    this.schedule();
  }

  schedule() {
    clearTimeout(this.idle);
    if (this.finished || this.failed || this.pending) return;
    const rendered = this.tailEnd - this.done;
    const growth = this.text.length - this.tailEnd;
    const wait = this.notBefore - performance.now();
    if (growth >= Math.max(MIN_GROWTH, rendered * GROWTH) && wait <= 0) {
      this.pending = this.request(true);
    } else if (growth > 0) {
      this.idle = setTimeout(() => this.idleRender(), Math.max(wait, IDLE_MS));
    }
  }

  idleRender() {
    if (this.finished || this.failed || this.pending || this.text.length <= this.tailEnd) return;
    if (performance.now() < this.notBefore) return this.schedule();
    this.pending = this.request(true);
  }

  async request(partial) {
    const start = this.done;
    const end = this.text.length;
    const part = this.text.slice(start, end);
    this.notBefore = performance.now() + MIN_INTERVAL_MS;
    try {
      const r = await render(part, partial, this.password());
      if (r.final_html) this.final.insertAdjacentHTML("beforeend", r.final_html);
      this.done = partial ? start + lineOffset(part, r.final_lines) : end;
      this.tail.innerHTML = partial ? r.tail_html : "";
      this.tailEnd = end;
      this.plain.data = this.text.slice(end);
      insertionPoint(this.tail).append(this.plainEl);
    } catch (error) {
      if (error && error.status === 429 && this.retries++ < 5) {
        // Over the server's rate limit: try again when it says (plain text meanwhile).
        this.retryAt = performance.now() + Math.max(1, error.retryAfter) * 1000;
        this.notBefore = this.retryAt;
        this.rateLimited = true;
      } else {
        this.failed = true; // no renderer: the text stays readable as plain text
      }
    } finally {
      this.pending = null;
    }
    if (partial && !this.finished) this.schedule();
  }

  // The final render, waiting out a rate limit (bounded by the retry count).
  async renderRest() {
    for (;;) {
      this.rateLimited = false;
      const wait = this.retryAt - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      this.pending = this.request(false);
      await this.pending;
      if (!this.rateLimited) return;
    }
  }

  // The answer is over: render what is left, once, as a whole.
  async finish() {
    this.finished = true;
    clearTimeout(this.idle);
    while (this.pending) await this.pending;
    if (this.failed || this.done >= this.text.length) {
      this.plain.data = this.failed ? this.plain.data : "";
      return;
    }
    await this.renderRest();
  }

  // Whether this.final holds the whole answer, rendered.
  get complete() {
    return !this.failed && this.done >= this.text.length;
  }

  stop() {
    this.finished = true;
    clearTimeout(this.idle);
  }
}

// A finished message: plain text at once, replaced by its rendering.
const cache = new Map();

export function renderStatic(container, text, password) {
  const hit = cache.get(text);
  if (hit !== undefined) {
    container.innerHTML = hit;
    return;
  }
  const plain = el("div", { className: "plain", text });
  container.replaceChildren(plain);
  if (!text) return;
  renderWithRetries(text, password, 3).then(
    (html) => {
      if (cache.size > 100) cache.delete(cache.keys().next().value);
      cache.set(text, html);
      if (plain.isConnected) container.innerHTML = html;
    },
    () => {}, // the plain text stays
  );
}

async function renderWithRetries(text, password, attempts) {
  for (let i = 1; ; i++) {
    try {
      return (await render(text, false, password())).final_html;
    } catch (error) {
      // A rate limit (many messages rendered at once after a reload): wait as told.
      if (!error || error.status !== 429 || i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, error.retryAfter) * 1000));
    }
  }
}

export function remember(text, html) {
  cache.set(text, html);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context (plain http on a LAN address): the old way.
    const area = el("textarea", { className: "visually-hidden", "aria-hidden": "true" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

export function timeLabel(ms) {
  const date = new Date(ms);
  const now = new Date();
  return date.toDateString() === now.toDateString()
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}
