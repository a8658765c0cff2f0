// The demo chat page: one WebSocket to /ws/chat speaking neonpro.chat.v1.
// On a close with 1001 ("reconnect", a reload of nginx) it reconnects and
// resumes the session after the last seq it showed, so it misses nothing
// that the session's history still contains.  The agent's reply grows in
// one line as its chunks arrive, and the stored reply replaces that line
// when it comes as a message instead of a stream_end.
//
// The token (from `make demo-token`) comes from the page's #token=
// fragment or the token field.  It goes to nginx as a "bearer.<token>"
// subprotocol entry, because a browser cannot set headers on a WebSocket.
// A fragment is never sent to the server, so the token stays out of its
// logs.

"use strict";

const PROTOCOL = "neonpro.chat.v1";

const state = {
  socket: null,
  session: null,
  lastSeq: 0,
  worker: null,
};

const statusLine = document.getElementById("status");
const list = document.getElementById("messages");
const sessionInput = document.getElementById("session");
const messageInput = document.getElementById("message");
const sendButton = document.getElementById("send");
const agentBox = document.getElementById("agent");
const tokenInput = document.getElementById("token");

function showStatus(text, value) {
  statusLine.textContent = text;
  statusLine.dataset.state = value;
}

function addLine(text, kind, seq) {
  const item = document.createElement("li");
  item.textContent = text;
  item.className = kind;
  if (seq !== undefined) {
    item.dataset.seq = String(seq);
  }
  list.appendChild(item);
}

// The line of a stream, made at its first event seen.
function streamLine(streamId) {
  let item = list.querySelector(`li[data-stream-id="${CSS.escape(streamId)}"]`);
  if (item === null) {
    item = document.createElement("li");
    item.className = "stream";
    item.dataset.streamId = streamId;
    item.textContent = "assistant: ";
    list.appendChild(item);
  }
  return item;
}

function send(envelope) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(JSON.stringify(envelope));
  }
}

function handle(envelope) {
  const data = envelope.data || {};
  switch (envelope.type) {
    case "hello":
      state.worker = data.worker;
      showStatus(`Conectado (worker ${data.worker})`, "open");
      if (state.session) {
        send({ type: "resume", session_id: state.session, data: { after_seq: state.lastSeq } });
      }
      break;
    case "joined":
      sendButton.disabled = false;
      addLine(`Na sessão ${envelope.session_id}`, "system");
      break;
    case "message":
      if (data.seq > state.lastSeq) {
        state.lastSeq = data.seq;
        if (data.stream_id) {
          const item = streamLine(data.stream_id);
          item.textContent = `assistant: ${data.content}`;
          item.className = "message assistant";
          item.dataset.seq = String(data.seq);
        } else {
          addLine(`${data.user ? data.user.role : "?"}: ${data.content}`, "message", data.seq);
        }
      }
      break;
    case "stream_start":
      streamLine(data.stream_id);
      break;
    case "stream_chunk":
      streamLine(data.stream_id).textContent += data.delta;
      break;
    case "stream_end": {
      const item = streamLine(data.stream_id);
      if (data.seq === null) {
        item.className = "stream failed";
      } else {
        item.className = "message assistant";
        item.dataset.seq = String(data.seq);
        state.lastSeq = Math.max(state.lastSeq, data.seq);
      }
      break;
    }
    case "gap":
      addLine(`Mensagens ${data.from_seq} a ${data.to_seq} não estão mais disponíveis`, "system");
      state.lastSeq = Math.max(state.lastSeq, data.to_seq);
      break;
    case "error":
      addLine(`${data.code}: ${data.message}`, "error");
      break;
    default:
      break;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const token = tokenInput.value.trim();
  const protocols = token ? [PROTOCOL, `bearer.${token}`] : [PROTOCOL];
  const socket = new WebSocket(`${scheme}://${location.host}/ws/chat`, protocols);
  state.socket = socket;
  showStatus("Conectando…", "connecting");

  socket.addEventListener("message", (event) => handle(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    sendButton.disabled = true;
    if (state.socket !== socket) {
      return;
    }
    if (!socket.protocol) {
      // the handshake failed: 401 without a valid token, 403 for the role
      showStatus("Sem acesso: cole um token válido (make demo-token)", "closed");
      return;
    }
    showStatus(`Desconectado (${event.code})`, "closed");
    // 1001 with "reconnect" is a reload; other closes retry more slowly.
    setTimeout(connect, event.code === 1001 ? 100 : 2000);
  });
}

document.getElementById("session-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.session = sessionInput.value;
  state.lastSeq = 0;
  list.replaceChildren();
  send({ type: "join", session_id: state.session, data: { agent: agentBox.checked } });
});

document.getElementById("message-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = messageInput.value.trim();
  if (content && state.session) {
    send({ type: "message", session_id: state.session, data: { content } });
    messageInput.value = "";
  }
});

document.getElementById("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const old = state.socket;
  state.socket = null;
  if (old) {
    old.close();
  }
  connect();
});

sessionInput.value = new URLSearchParams(location.search).get("session")
  || `demo-${Math.random().toString(36).slice(2, 10)}`;
tokenInput.value = new URLSearchParams(location.hash.slice(1)).get("token") || "";
connect();
