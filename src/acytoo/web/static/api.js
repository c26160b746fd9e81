// The server's own protocols, as any client speaks them: the Acytoo protocol
// (POST /api/completions, a raw text stream), GET /v1/models and the page's
// Markdown renderer (POST /api/render).

export class ApiError extends Error {
  constructor(status, message, type, retryAfter) {
    super(message);
    this.status = status;
    this.type = type || "";
    this.retryAfter = retryAfter || 0; // seconds, from a 429's Retry-After
  }

  // Our server's own password refusal, not an upstream's 401 passed through.
  get needsPassword() {
    return this.status === 401 && this.type === "authentication_error";
  }
}

async function failure(response) {
  let message = `HTTP ${response.status}`;
  let type = "";
  try {
    const body = await response.json();
    message = body.msg || (body.error && body.error.message) || message;
    type = (body.error && body.error.type) || "";
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const retryAfter = Number(response.headers.get("Retry-After")) || 0;
  return new ApiError(response.status, String(message), String(type), retryAfter);
}

function post(path, body, signal) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
    cache: "no-store",
  });
}

// Yields the answer's text as it arrives. A body that ends without its last
// chunk (the server or the network dropped it) rejects: never a clean end.
export async function* streamCompletion(request, signal) {
  const response = await post("/api/completions", request, signal);
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}

export async function listModels(password) {
  const headers = password ? { Authorization: "Bearer " + password } : {};
  const response = await fetch("/v1/models", { headers, cache: "no-store" });
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  return Array.isArray(body.data)
    ? body.data.map((m) => m && m.id).filter((id) => typeof id === "string")
    : [];
}

export async function render(text, partial, password) {
  const response = await post("/api/render", { text, partial, password });
  if (!response.ok) throw await failure(response);
  return response.json();
}
