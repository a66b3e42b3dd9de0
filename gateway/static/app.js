// The PTO page: plain JavaScript, no build step, nothing fetched but this gateway's own API.
"use strict";

const $ = (selector) => document.querySelector(selector);
let token = "";
let me = null;
let streams = new AbortController(); // every event stream of the person signed in; aborted on sign-out

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

const days = (list) => (list || []).join(", ") || "–";

// --- signing in ---------------------------------------------------------------------------------

async function loadPeople() {
  try {
    const found = await (await fetch("/v1/demo/people")).json();
    const select = $("#person");
    for (const person of found.people || []) {
      const label = person.kind === "employee" ? `${person.name} (${person.id}, manager ${person.manager})`
        : `${person.name} (${person.kind} ${person.id})`;
      select.append(el("option", { value: person.token, "data-subject": `${person.kind}/${person.id}`, text: label }));
    }
  } catch (error) {
    $("#who").hidden = true; // not a demo gateway: tokens come from elsewhere
  }
}

async function signIn(newToken) {
  streams.abort();
  streams = new AbortController();
  token = newToken;
  showError("");
  try {
    me = await api("/v1/me");
  } catch (error) {
    me = null;
    showError(`Cannot sign in: ${error.message}`);
    return;
  }
  $("#signed-in").textContent = `Signed in as ${me.name || me.id} (${me.kind} ${me.id})`;
  $("#employee").hidden = me.kind !== "employee";
  $("#manager").hidden = me.kind !== "manager";
  $("#calendars-section").hidden = me.teams.length === 0;
  await refresh();
  $("#main").focus();
}

async function refresh() {
  try {
    if (me.kind === "employee") await Promise.all([showBalance(), showRequests()]);
    if (me.kind === "manager") await showInbox();
    await showCalendars();
  } catch (error) {
    showError(error.message);
  }
}

// --- an employee ---------------------------------------------------------------------------------

async function showBalance() {
  const balance = await api("/v1/me/balance");
  $("#balance").textContent = `${balance.available} days available (${balance.balance} left, ${balance.held} held)`;
}

function requestRow(request) {
  const status = el("td", { class: "status", "data-status": request.status, text: statusText(request) });
  const actions = el("td");
  if (request.status === "approved") {
    const button = el("button", { type: "button", class: "secondary", text: "Cancel" });
    button.addEventListener("click", () => cancel(request.id));
    actions.append(button);
  }
  return el("tr", { "data-request-id": request.id }, el("td", { text: request.text || request.id }),
    el("td", { text: days(request.days) }), status, actions);
}

function statusText(request) {
  return request.reason ? `${request.status}: ${request.reason}` : request.status;
}

async function showRequests() {
  const found = await api("/v1/me/requests");
  const body = $("#requests tbody");
  body.replaceChildren(...found.requests.map(requestRow));
  for (const request of found.requests) {
    if (!["approved", "rejected", "cancelled"].includes(request.status)) watch(request.id);
  }
}

function updateRow(request) {
  const row = document.querySelector(`tr[data-request-id="${CSS.escape(request.id)}"]`);
  const fresh = requestRow(request);
  if (row) row.replaceWith(fresh);
  else $("#requests tbody").prepend(fresh);
}

async function ask(event) {
  event.preventDefault();
  const text = $("#text").value.trim();
  if (!text) return;
  const status = $("#ask-status");
  status.textContent = "Asking…";
  try {
    const answer = await api("/v1/pto-requests", {
      method: "POST", body: JSON.stringify({ text }), headers: { "Idempotency-Key": crypto.randomUUID() },
    });
    status.textContent = `Request for ${days(answer.days)}: ${statusText(answer)}`;
    $("#text").value = "";
    await refresh();
    watch(answer.id);
  } catch (error) {
    status.textContent = `Not asked: ${error.message}`;
  }
}

async function cancel(id) {
  try {
    await api(`/v1/pto-requests/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    await refresh();
  } catch (error) {
    showError(error.message);
  }
}

// Server-sent events read with fetch (EventSource cannot send the Authorization header); resumed with
// Last-Event-ID whenever the stream ends before the request's final status.
async function watch(id) {
  let last = 0;
  const signal = streams.signal;
  while (!signal.aborted) {
    try {
      const response = await fetch(`/v1/pto-requests/${encodeURIComponent(id)}/events`, {
        headers: { Authorization: `Bearer ${token}`, "Last-Event-ID": String(last) }, signal,
      });
      if (!response.ok) return;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const idLine = block.split("\n").find((line) => line.startsWith("id: "));
          const dataLine = block.split("\n").find((line) => line.startsWith("data: "));
          if (!dataLine) continue;
          last = Number(idLine.slice(4));
          const data = JSON.parse(dataLine.slice(6));
          if (data.days) updateRow({ ...data, text: rowText(id) });
          if (data.final) {
            await refresh();
            return;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function rowText(id) {
  const row = document.querySelector(`tr[data-request-id="${CSS.escape(id)}"] td`);
  return row ? row.textContent : id;
}

// --- a manager -----------------------------------------------------------------------------------

function coverTable(item) {
  const head = el("tr", {}, el("th", { scope: "col", text: "Team" }),
    ...item.days.map((day) => el("th", { scope: "col", text: day })));
  const rows = item.teams.map((team) => el("tr", {}, el("th", { scope: "row", text: team.team }),
    ...team.days.map((day) => el("td", { class: day.off + 1 >= day.allowed ? "short" : "",
      text: `${day.off} off of ${day.allowed}` }))));
  return el("div", { class: "scroll" }, el("table", { class: "cover" },
    el("caption", { class: "visually-hidden", text: `Cover for ${item.employee}` }), el("thead", {}, head),
    el("tbody", {}, ...rows)));
}

async function showInbox() {
  const inbox = await api("/v1/approvals");
  $("#inbox-empty").hidden = inbox.waiting.length > 0;
  $("#inbox").replaceChildren(...inbox.waiting.map((item) => {
    const reason = el("input", { id: `reason-${item.request_id}`, maxlength: "200", placeholder: "optional" });
    const decide = (approve) => async () => {
      try {
        await api(`/v1/pto-requests/${encodeURIComponent(item.request_id)}/decision`, {
          method: "POST", body: JSON.stringify({ approve, reason: reason.value }),
        });
        await refresh();
      } catch (error) {
        showError(error.message);
      }
    };
    const approve = el("button", { type: "button", text: `Approve ${item.employee}` });
    const decline = el("button", { type: "button", class: "decline", text: `Decline ${item.employee}` });
    approve.addEventListener("click", decide(true));
    decline.addEventListener("click", decide(false));
    return el("li", { "data-request-id": item.request_id },
      el("p", {}, el("strong", { text: item.employee }), ` asks for ${days(item.days)}`), coverTable(item),
      el("div", { class: "decide" }, el("label", { for: reason.id, text: "Reason" }), reason, approve, decline));
  }));
}

// --- calendars -----------------------------------------------------------------------------------

async function showCalendars() {
  const calendars = await Promise.all(me.teams.map((team) => api(`/v1/teams/${encodeURIComponent(team)}/calendar`)));
  $("#calendars").replaceChildren(...calendars.map((calendar) => el("section", { "data-team": calendar.team },
    el("h3", { text: `Team ${calendar.team}` }),
    el("p", { class: "muted", text: `${calendar.members.length} people, at least ${calendar.min_on_duty} on duty` }),
    calendar.reservations.length === 0 ? el("p", { text: "Nobody is off." }) : el("ul", {},
      ...calendar.reservations.map((r) => el("li", { text: `${r.employee}: ${days(r.days)} (${r.status})` }))))));
}

// --- start ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#who").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#person").value);
  });
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token").value.trim());
  });
  $("#ask").addEventListener("submit", ask);
  loadPeople();
});
