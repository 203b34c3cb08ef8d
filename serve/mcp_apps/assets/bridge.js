// Shared by every spotify-mcp app: the MCP Apps host bridge (JSON-RPC 2.0 over postMessage, protocol
// 2026-01-26) and small rendering helpers. An app calls McpApp.start({name, render}); `render(data, root)`
// receives the tool's structured answer each time the host posts a tool result.
// Everything is built with textContent (names come from Spotify and from people's exports: never markup),
// and nothing is fetched: the app works under the hosts' default CSP (connect-src 'none').
"use strict";
const McpApp = (() => {
  const PROTOCOL_VERSION = "2026-01-26";
  const pending = new Map();
  let nextId = 1;
  let hostCapabilities = {};
  let hostContext = {};
  let app = null;

  const post = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const notify = (method, params) => post({ method, params: params || {} });
  const respond = (id, result) => post({ id, result });
  function request(method, params) {
    const id = nextId++;
    post({ id, method, params });
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  // Theme and style variables from the host (ui/initialize result, host-context-changed).
  function applyContext(update) {
    hostContext = { ...hostContext, ...update };
    const root = document.documentElement;
    if (hostContext.theme === "light" || hostContext.theme === "dark") root.dataset.theme = hostContext.theme;
    const variables = (hostContext.styles && hostContext.styles.variables) || {};
    for (const [name, value] of Object.entries(variables)) {
      if (name.startsWith("--") && typeof value === "string") root.style.setProperty(name, value);
    }
  }

  function locale() {
    return hostContext.locale || navigator.language || "en";
  }

  // Views of flexible size tell the host how tall they are.
  let reported = "";
  function reportSize() {
    // The root element's own box: scrollHeight never drops below the frame, so a view could grow but not shrink.
    const box = document.documentElement.getBoundingClientRect();
    const width = Math.ceil(box.width);
    const height = Math.ceil(box.height);
    const size = `${width}x${height}`;
    if (size !== reported) {
      reported = size;
      notify("ui/notifications/size-changed", { width, height });
    }
  }

  function answerOf(result) {
    if (result && result.structuredContent && typeof result.structuredContent === "object") {
      return result.structuredContent;
    }
    const text = ((result && result.content) || []).find((block) => block.type === "text");
    try {
      return text ? JSON.parse(text.text) : null;
    } catch (error) {
      return null;
    }
  }

  function show(state, text) {
    const root = document.getElementById("app");
    root.replaceChildren(h("p", { class: state, role: state === "error" ? "alert" : "status" }, text));
    root.setAttribute("aria-busy", "false");
  }

  function onToolResult(result) {
    const root = document.getElementById("app");
    const data = answerOf(result);
    if (result && result.isError) {
      const message = data && data.error && data.error.message;
      show("error", message || "The tool could not answer.");
      return;
    }
    if (!data) {
      show("error", "The answer holds no data to draw.");
      return;
    }
    root.replaceChildren();
    app.render(data, root);
    root.setAttribute("aria-busy", "false");
  }

  function onMessage(event) {
    if (event.source !== window.parent) return;
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method === undefined) {
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      if (message.error) waiting.reject(new Error(message.error.message || "host error"));
      else waiting.resolve(message.result);
      return;
    }
    switch (message.method) {
      case "ui/notifications/tool-input":
        break; // the answer follows in tool-result; the arguments are not needed to draw it
      case "ui/notifications/tool-result":
        onToolResult(message.params);
        break;
      case "ui/notifications/tool-cancelled":
        show("status", "The call was cancelled.");
        break;
      case "ui/notifications/host-context-changed":
        applyContext(message.params || {});
        break;
      case "ui/resource-teardown":
      case "ping":
        respond(message.id, {});
        break;
      default:
        if (message.id !== undefined) {
          post({ id: message.id, error: { code: -32601, message: `unsupported method ${message.method}` } });
        }
    }
  }

  async function start(definition) {
    app = definition;
    window.addEventListener("message", onMessage);
    new ResizeObserver(reportSize).observe(document.documentElement);
    const result = await request("ui/initialize", {
      protocolVersion: PROTOCOL_VERSION,
      appInfo: { name: definition.name, version: "1.0.0" },
      appCapabilities: { availableDisplayModes: ["inline"] },
    });
    hostCapabilities = (result && result.hostCapabilities) || {};
    applyContext((result && result.hostContext) || {});
    notify("ui/notifications/initialized");
  }

  // --- helpers for the apps ---------------------------------------------------------------------

  function h(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  const number = (value, digits = 0) =>
    new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
  const percent = (share) => new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(share);

  function date(isoDate) {
    const [year, month, day] = isoDate.split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" })
      .format(new Date(Date.UTC(year, month - 1, day)));
  }

  function windowText(span) {
    if (!span) return "";
    const label = span.label.includes("..") ? "" : `${span.label.replaceAll("_", " ")}: `;
    const range = span.start_date === span.end_date ? date(span.start_date)
      : `${date(span.start_date)} – ${date(span.end_date)}`;
    return `${label}${range}${span.ongoing ? " (so far)" : ""} · ${span.timezone}`;
  }

  // A Spotify link: the host opens it when it can (sandboxed frames may not open windows themselves).
  function spotifyLink(url, text) {
    if (!url) return h("span", {}, text);
    return h("a", {
      href: url,
      target: "_blank",
      rel: "noopener noreferrer",
      onclick: (event) => {
        if (!hostCapabilities.openLinks) return;
        event.preventDefault();
        request("ui/open-link", { url }).catch(() => {});
      },
    }, text);
  }

  // The answer's window as a subtitle, and its coverage warning when the figures are partial.
  function envelope(data) {
    const parts = [h("p", { class: "subtitle" }, windowText(data.window))];
    if (data.coverage && data.coverage.complete === false) {
      parts.push(h("p", { class: "warning", role: "note" }, `Partial data: ${data.coverage.note}`));
    }
    return parts;
  }

  // When the warehouse was rebuilt, in the answer's time zone; the server's note when it never was.
  function freshness(data) {
    const fresh = data.freshness;
    if (!fresh) return null;
    if (!fresh.last_transform_at) return h("p", { class: "note" }, fresh.note);
    const zone = (data.window && data.window.timezone) || hostContext.timeZone;
    const when = new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: zone })
      .format(new Date(fresh.last_transform_at));
    return h("p", { class: "note" }, `Data as of ${when}; later listens are not counted yet.`);
  }

  return { start, h, number, percent, date, windowText, spotifyLink, envelope, freshness };
})();
