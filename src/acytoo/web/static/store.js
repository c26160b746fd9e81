// Conversations, saved prompts and the password, kept in this browser only
// (localStorage), so the server stays stateless. One key per conversation:
// saving one never rewrites the others.

const PREFIX = "acytoo.chat.";
const PROMPTS = "acytoo.prompts";
const PASSWORD = "acytoo.password";

export function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

export function newConversation() {
  const now = Date.now();
  return {
    id: newId(),
    title: "New chat",
    created: now,
    updated: now,
    settings: { system: "", model: "", temperature: 1, key: "" },
    messages: [],
  };
}

export function loadConversations() {
  const list = [];
  for (let i = 0; i < localStorage.length; i++) {
    const name = localStorage.key(i);
    if (!name || !name.startsWith(PREFIX)) continue;
    try {
      const conv = normalize(JSON.parse(localStorage.getItem(name) || "null"));
      if (conv) list.push(conv);
    } catch {
      // A damaged entry is skipped, never fatal: the others still load.
    }
  }
  return sortNewest(list);
}

export function sortNewest(list) {
  return list.sort((a, b) => b.updated - a.updated);
}

export function saveConversation(conv) {
  try {
    localStorage.setItem(PREFIX + conv.id, JSON.stringify(conv));
    return true;
  } catch {
    return false; // quota: the conversation stays in memory
  }
}

export function deleteConversation(id) {
  localStorage.removeItem(PREFIX + id);
}

// Imported files are untrusted: only known fields of known types are kept.
export function normalize(raw) {
  if (!raw || typeof raw !== "object" || !Array.isArray(raw.messages)) return null;
  const str = (v, d = "") => (typeof v === "string" ? v : d);
  const num = (v, d) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  const s = raw.settings && typeof raw.settings === "object" ? raw.settings : {};
  const temperature = Math.min(2, Math.max(0, num(s.temperature, 1)));
  const messages = [];
  for (const m of raw.messages) {
    if (!m || typeof m !== "object") continue;
    if (m.role !== "user" && m.role !== "assistant") continue;
    const msg = { role: m.role, content: str(m.content), time: num(m.time, Date.now()) };
    if (m.incomplete === true) msg.incomplete = true;
    if (m.stopped === true) msg.stopped = true;
    messages.push(msg);
  }
  const created = num(raw.created, Date.now());
  return {
    id: /^[a-z0-9]{1,40}$/.test(str(raw.id)) ? raw.id : newId(),
    title: str(raw.title, "Imported chat").slice(0, 200) || "Imported chat",
    created,
    updated: num(raw.updated, created),
    settings: {
      system: str(s.system),
      model: str(s.model),
      temperature,
      key: str(s.key),
    },
    messages,
  };
}

// What an export holds: everything but the own API key.
export function exportable(conv) {
  const copy = JSON.parse(JSON.stringify(conv));
  delete copy.settings.key;
  copy.format = "acytoo-chat/1";
  return copy;
}

export function toMarkdown(conv) {
  const lines = [`# ${conv.title}`, ""];
  if (conv.settings.system) lines.push("**System:** " + conv.settings.system, "");
  for (const m of conv.messages) {
    lines.push(m.role === "user" ? "## You" : "## Assistant", "", m.content, "");
    if (m.incomplete) lines.push("*(incomplete answer)*", "");
  }
  return lines.join("\n");
}

export function loadPrompts() {
  try {
    const list = JSON.parse(localStorage.getItem(PROMPTS) || "[]");
    return Array.isArray(list)
      ? list.filter((p) => p && typeof p.name === "string" && typeof p.text === "string")
      : [];
  } catch {
    return [];
  }
}

export function savePrompts(list) {
  localStorage.setItem(PROMPTS, JSON.stringify(list));
}

// The password lives for the browser session, or longer only when asked to.
export function getPassword() {
  return sessionStorage.getItem(PASSWORD) || localStorage.getItem(PASSWORD) || "";
}

export function setPassword(value, remember) {
  sessionStorage.setItem(PASSWORD, value);
  if (remember) localStorage.setItem(PASSWORD, value);
  else localStorage.removeItem(PASSWORD);
}

export function forgetPassword() {
  sessionStorage.removeItem(PASSWORD);
  localStorage.removeItem(PASSWORD);
}
