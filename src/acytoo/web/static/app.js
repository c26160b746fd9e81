// The chat page: wiring the sidebar, the messages, the composer and the dialogs.

import * as store from "./store.js";
import { ApiError, listModels, streamCompletion } from "./api.js";
import { AnswerView, copyText, el, remember, renderStatic, timeLabel } from "./view.js";

const $ = (id) => document.getElementById(id);
const ui = {
  list: $("conv-list"), search: $("search"), messages: $("messages"), empty: $("empty"),
  title: $("title"), input: $("input"), send: $("send"), stop: $("stop"), live: $("live"),
  picker: $("picker"), sidebar: $("sidebar"), menu: $("menu-btn"),
};

let conversations = store.loadConversations();
let current = conversations[0] || null;
let busy = null; // {controller, conv} while an answer streams
let models = [];
const password = () => store.getPassword();

// ---- announcements for screen readers (polite, throttled) ----
let announced = 0;
let announceTimer = 0;
function announce(text) {
  ui.live.textContent = text;
}
function announceProgress(msg) {
  if (announceTimer) return;
  announceTimer = setTimeout(() => {
    announceTimer = 0;
    const fresh = msg.content.slice(announced);
    announced = msg.content.length;
    if (fresh.trim()) announce(fresh);
  }, 1500);
}

// ---- the conversation list ----
function renderList() {
  const query = ui.search.value.trim().toLowerCase();
  const items = conversations.filter(
    (c) =>
      !query ||
      c.title.toLowerCase().includes(query) ||
      c.messages.some((m) => m.content.toLowerCase().includes(query)),
  );
  ui.list.replaceChildren(
    ...items.map((conv) => {
      const last = conv.messages[conv.messages.length - 1];
      const open = el(
        "button",
        {
          type: "button",
          className: "conv",
          "aria-current": conv === current ? "true" : null,
          onclick: () => select(conv, true),
        },
        el("span", { className: "conv-title", text: conv.title }),
        el("time", { className: "conv-time", text: timeLabel(conv.updated) }),
        el("span", { className: "conv-preview", text: last ? preview(last.content) : "Empty" }),
      );
      const remove = el("button", {
        type: "button",
        className: "icon del",
        text: "✕",
        "aria-label": `Delete “${conv.title}”`,
      });
      // Two steps, so one stray key press deletes nothing.
      remove.addEventListener("click", () => {
        if (remove.dataset.armed) return removeConversation(conv);
        remove.dataset.armed = "1";
        remove.textContent = "Delete?";
        remove.setAttribute("aria-label", `Confirm deleting “${conv.title}”`);
      });
      remove.addEventListener("blur", () => {
        delete remove.dataset.armed;
        remove.textContent = "✕";
        remove.setAttribute("aria-label", `Delete “${conv.title}”`);
      });
      return el("li", {}, open, remove);
    }),
  );
  if (!items.length) ui.list.append(el("li", { className: "none", text: query ? "No match" : "No conversations yet" }));
}

const preview = (text) => text.slice(0, 160).replace(/[#*`>_~|]+/g, "").replace(/\s+/g, " ").trim().slice(0, 80);

function select(conv, fromList) {
  current = conv;
  renderList();
  renderMessages();
  if (fromList) {
    closeSidebar();
    ui.input.focus();
  }
}

function removeConversation(conv) {
  if (busy && busy.conv === conv) busy.controller.abort();
  store.deleteConversation(conv.id);
  conversations = conversations.filter((c) => c !== conv);
  if (current === conv) current = conversations[0] || null;
  renderList();
  renderMessages();
  announce("Conversation deleted");
  ui.search.focus();
}

function touch(conv) {
  conv.updated = Date.now();
  if (!store.saveConversation(conv)) announce("The browser's storage is full: this conversation is not saved.");
  store.sortNewest(conversations);
  renderList();
}

function ensureConversation() {
  if (!current) {
    current = store.newConversation();
    conversations.unshift(current);
  }
  return current;
}

// ---- messages ----
function renderMessages() {
  ui.title.textContent = current ? current.title : "New chat";
  const articles = current ? current.messages.map((m, i) => messageEl(m, i)) : [];
  ui.messages.replaceChildren(...(articles.length ? articles : [ui.empty]));
  refreshActions();
}

function messageEl(msg, index) {
  const body = el("div", { className: "body" });
  const article = el(
    "article",
    { className: `msg ${msg.role}`, "data-index": index, "aria-label": msg.role === "user" ? "You" : "Assistant" },
    el("div", { className: "who", text: msg.role === "user" ? "You" : "Assistant" }),
    body,
    el("div", { className: "actions" }),
  );
  if (msg.role === "user") body.append(el("div", { className: "plain", text: msg.content }));
  else renderStatic(body, msg.content, password);
  if (msg.incomplete) article.append(note("Incomplete: the answer was cut off.", true));
  if (msg.stopped) article.append(note("Stopped.", false));
  return article;
}

function note(text, retry) {
  const box = el("div", { className: retry ? "note warn" : "note" }, el("span", { text }));
  if (retry) box.append(el("button", { type: "button", text: "Retry", onclick: regenerate }));
  return box;
}

function showError(article, message) {
  const box = el(
    "div",
    { className: "note error", role: "alert" },
    el("span", { text: message }),
    el("button", { type: "button", text: "Retry", onclick: () => { box.remove(); answer(); } }),
  );
  article.append(box);
}

// Copy on every message; edit on the last question; regenerate on the last answer.
function refreshActions() {
  if (!current) return;
  const last = current.messages.length - 1;
  for (const article of ui.messages.querySelectorAll("article.msg")) {
    const index = Number(article.dataset.index);
    const msg = current.messages[index];
    const buttons = [el("button", { type: "button", text: "Copy", "aria-label": "Copy message", onclick: (e) => copy(e.currentTarget, msg.content) })];
    if (!busy && msg.role === "user" && (index === last || index === last - 1)) {
      buttons.push(el("button", { type: "button", text: "Edit", "aria-label": "Edit and resend", onclick: () => editLast(index) }));
    }
    if (!busy && msg.role === "assistant" && index === last) {
      buttons.push(el("button", { type: "button", text: "Regenerate", onclick: regenerate }));
    }
    article.querySelector(".actions").replaceChildren(...buttons);
  }
}

async function copy(button, text) {
  const ok = await copyText(text);
  const label = button.textContent;
  button.textContent = ok ? "Copied" : "Copy failed";
  announce(ok ? "Copied" : "Copy failed");
  setTimeout(() => (button.textContent = label), 1200);
}

ui.messages.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-code");
  if (button) copy(button, button.closest(".code").querySelector("pre").textContent);
});

function editLast(index) {
  if (busy) return;
  const text = current.messages[index].content;
  current.messages.splice(index);
  touch(current);
  renderMessages();
  ui.input.value = text;
  resizeInput();
  ui.input.focus();
}

function regenerate() {
  if (busy || !current) return;
  const msgs = current.messages;
  if (msgs.length && msgs[msgs.length - 1].role === "assistant") msgs.pop();
  renderMessages();
  answer();
}

function send() {
  const text = ui.input.value;
  if (!text.trim() || busy) return;
  const conv = ensureConversation();
  const msg = { role: "user", content: text, time: Date.now() };
  conv.messages.push(msg);
  if (conv.title === "New chat") conv.title = text.trim().split("\n")[0].slice(0, 60);
  ui.empty.remove();
  ui.messages.append(messageEl(msg, conv.messages.length - 1));
  ui.title.textContent = conv.title;
  ui.input.value = "";
  resizeInput();
  // The request goes out first; saving and the list can wait for it.
  answer();
  touch(conv);
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function requestBody(conv) {
  const messages = conv.messages.map((m) => ({ role: m.role, content: m.content }));
  if (conv.settings.system.trim()) messages.unshift({ role: "system", content: conv.settings.system });
  const body = { messages, temperature: conv.settings.temperature, password: password() };
  if (conv.settings.model) body.model = conv.settings.model;
  if (conv.settings.key) body.key = conv.settings.key;
  return body;
}

async function answer() {
  const conv = current;
  if (!conv || busy || !conv.messages.length) return;
  const question = ui.messages.lastElementChild;
  const controller = new AbortController();
  busy = { controller, conv };
  setBusy(true);
  const msg = { role: "assistant", content: "", time: Date.now() };
  let view = null;
  let article = null;
  announced = 0;
  try {
    for await (const text of streamCompletion(requestBody(conv), controller.signal)) {
      if (!view) {
        conv.messages.push(msg);
        article = messageEl(msg, conv.messages.length - 1);
        const body = article.querySelector(".body");
        body.replaceChildren();
        article.setAttribute("aria-busy", "true");
        ui.messages.append(article);
        view = new AnswerView(body, password);
      }
      msg.content += text;
      view.append(text);
      stickToBottom();
      announceProgress(msg);
    }
    await view?.finish();
    if (view?.complete) remember(msg.content, view.final.innerHTML);
    announce("Answer complete.");
  } catch (error) {
    view?.stop();
    if (controller.signal.aborted) {
      if (view) {
        msg.stopped = true;
        article.append(note("Stopped.", false));
      }
      announce("Stopped.");
    } else if (error instanceof ApiError) {
      if (error.needsPassword && (await askPassword(Boolean(password())))) {
        busy = null;
        setBusy(false);
        return answer();
      }
      showError(question, error.message);
      announce("Error: " + error.message);
    } else if (view) {
      // The stream broke off: keep what came, never present it as finished.
      msg.incomplete = true;
      article.append(note("Incomplete: the answer was cut off.", true));
      announce("The answer was cut off.");
    } else {
      showError(question, "Could not reach the server.");
    }
  } finally {
    clearTimeout(announceTimer);
    announceTimer = 0;
    article?.removeAttribute("aria-busy");
    if (busy && busy.controller === controller) {
      busy = null;
      setBusy(false);
    }
    if (conversations.includes(conv)) touch(conv);
    if (current === conv) refreshActions();
  }
}

function setBusy(on) {
  ui.send.hidden = on;
  ui.stop.hidden = !on;
  if (!on && document.activeElement === document.body) ui.input.focus();
}

// Once per frame, not per chunk: reading scrollHeight forces a layout.
let scrollFrame = 0;
function stickToBottom() {
  if (scrollFrame) return;
  scrollFrame = requestAnimationFrame(() => {
    scrollFrame = 0;
    const box = ui.messages;
    if (box.scrollHeight - box.scrollTop - box.clientHeight < 160) box.scrollTop = box.scrollHeight;
  });
}

ui.stop.addEventListener("click", () => {
  if (busy) busy.controller.abort();
  ui.input.focus();
});

// ---- the composer, and the "/" picker of saved prompts ----
let picks = [];
let active = 0;

function resizeInput() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 240) + "px";
}

function updatePicker() {
  const value = ui.input.value;
  if (!value.startsWith("/") || value.includes("\n")) return hidePicker();
  const query = value.slice(1).toLowerCase();
  picks = store.loadPrompts().filter((p) => p.name.toLowerCase().includes(query));
  if (!picks.length) return hidePicker();
  active = Math.min(active, picks.length - 1);
  ui.picker.replaceChildren(
    ...picks.map((p, i) =>
      el("li", {
        id: "pick-" + i, role: "option", "aria-selected": i === active ? "true" : "false",
        text: p.name, onmousedown: (e) => { e.preventDefault(); choose(i); },
      }),
    ),
  );
  ui.picker.hidden = false;
  ui.input.setAttribute("aria-activedescendant", "pick-" + active);
  ui.input.setAttribute("aria-expanded", "true");
}

function hidePicker() {
  picks = [];
  active = 0;
  ui.picker.hidden = true;
  ui.input.removeAttribute("aria-activedescendant");
  ui.input.setAttribute("aria-expanded", "false");
}

function choose(i) {
  ui.input.value = picks[i].text;
  hidePicker();
  resizeInput();
  ui.input.focus();
}

ui.input.setAttribute("aria-controls", "picker");
ui.input.setAttribute("aria-autocomplete", "list");
ui.input.addEventListener("input", () => {
  resizeInput();
  updatePicker();
});
ui.input.addEventListener("keydown", (event) => {
  if (picks.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : picks.length - 1)) % picks.length;
      return updatePicker();
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      return choose(active);
    }
    if (event.key === "Escape") return hidePicker();
  }
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});

// ---- sidebar ----
function closeSidebar() {
  ui.sidebar.classList.remove("open");
  ui.menu.setAttribute("aria-expanded", "false");
}
ui.menu.addEventListener("click", () => {
  const open = ui.sidebar.classList.toggle("open");
  ui.menu.setAttribute("aria-expanded", String(open));
  if (open) $("new-chat").focus();
});
ui.sidebar.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.sidebar.classList.contains("open")) {
    closeSidebar();
    ui.menu.focus();
  }
});
$("new-chat").addEventListener("click", () => {
  const conv = store.newConversation();
  conversations.unshift(conv);
  select(conv, true);
});
ui.search.addEventListener("input", renderList);

// ---- dialogs ----
function dialog(id, onSubmit, cancelId) {
  const box = $(id);
  box.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (onSubmit() !== false) box.close("ok");
  });
  $(cancelId).addEventListener("click", () => box.close("cancel"));
  return box;
}

const renameDialog = dialog("rename-dialog", () => {
  const title = $("rename-input").value.trim();
  if (!title) return false;
  const conv = ensureConversation();
  conv.title = title.slice(0, 200);
  touch(conv);
  ui.title.textContent = conv.title;
}, "rename-cancel");
$("rename-btn").addEventListener("click", () => {
  $("rename-input").value = current ? current.title : "";
  renameDialog.showModal();
});

const settingsDialog = dialog("settings-dialog", () => {
  const conv = ensureConversation();
  conv.settings = {
    system: $("set-system").value,
    model: $("set-model").value,
    temperature: Number($("set-temp").value),
    key: $("set-key").value.trim(),
  };
  touch(conv);
}, "settings-cancel");
$("set-temp").addEventListener("input", () => ($("set-temp-out").textContent = $("set-temp").value));
$("settings-btn").addEventListener("click", () => {
  const s = current ? current.settings : store.newConversation().settings;
  $("set-system").value = s.system;
  const select = $("set-model");
  const ids = [...new Set([...models, ...(s.model ? [s.model] : [])])];
  select.replaceChildren(el("option", { value: "", text: "Server default" }), ...ids.map((id) => el("option", { value: id, text: id })));
  select.value = s.model;
  $("set-temp").value = String(s.temperature);
  $("set-temp-out").textContent = String(s.temperature);
  $("set-key").value = s.key;
  settingsDialog.showModal();
});

let passwordAnswer = null;
const passwordDialog = dialog("password-dialog", () => {
  store.setPassword($("password").value, $("remember").checked);
  passwordAnswer?.(true);
  loadModels();
}, "password-cancel");
passwordDialog.addEventListener("close", () => passwordAnswer?.(false));

function askPassword(wrong) {
  return new Promise((resolve) => {
    passwordAnswer = (ok) => {
      passwordAnswer = null;
      resolve(ok);
    };
    $("password-error").hidden = !wrong;
    $("password").value = "";
    passwordDialog.showModal();
  });
}

function renderPrompts() {
  const list = store.loadPrompts();
  $("prompt-list").replaceChildren(
    ...list.map((p, i) =>
      el("li", {}, el("span", { text: p.name }), el("button", {
        type: "button", className: "icon", text: "✕", "aria-label": `Delete prompt “${p.name}”`,
        onclick: () => { list.splice(i, 1); store.savePrompts(list); renderPrompts(); $("prompt-name").focus(); },
      })),
    ),
  );
  if (!list.length) $("prompt-list").append(el("li", { className: "none", text: "None yet. Type / in the message box to use one." }));
}
const promptsDialog = dialog("prompts-dialog", () => {
  const name = $("prompt-name").value.trim();
  const text = $("prompt-text").value;
  if (!name || !text.trim()) return false;
  const list = store.loadPrompts();
  list.push({ name, text });
  store.savePrompts(list);
  $("prompt-name").value = "";
  $("prompt-text").value = "";
  renderPrompts();
  $("prompt-name").focus();
  return false; // stay open to add more
}, "prompts-close");
$("prompts-btn").addEventListener("click", () => {
  renderPrompts();
  promptsDialog.showModal();
});

// ---- export and import ----
function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
const fileName = (conv, ext) => (conv.title.replace(/[^\w-]+/g, "-").replace(/^-+|-+$/g, "") || "chat") + ext;
$("export-md").addEventListener("click", () => current && download(fileName(current, ".md"), "text/markdown", store.toMarkdown(current)));
$("export-json").addEventListener("click", () => current && download(fileName(current, ".json"), "application/json", JSON.stringify(store.exportable(current), null, 2)));
$("import-btn").addEventListener("click", () => $("import-file").click());
$("import-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  let imported = [];
  try {
    const data = JSON.parse(await file.text());
    imported = (Array.isArray(data) ? data : [data]).map(store.normalize).filter(Boolean);
  } catch {
    imported = [];
  }
  if (!imported.length) return announce("That file holds no conversation.");
  for (const conv of imported) {
    if (conversations.some((c) => c.id === conv.id)) conv.id = store.newId();
    conversations.push(conv);
    store.saveConversation(conv);
  }
  store.sortNewest(conversations);
  select(imported[0], true);
  announce(`Imported ${imported.length} conversation${imported.length > 1 ? "s" : ""}.`);
});

// ---- start ----
async function loadModels() {
  try {
    models = await listModels(password());
  } catch {
    models = []; // a protected server: the list comes after the password
  }
}

renderList();
renderMessages();
loadModels();
ui.input.focus();
document.documentElement.dataset.ready = "1";
