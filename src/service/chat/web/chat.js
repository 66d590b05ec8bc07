// sockit chat in a browser. The server sends the plain-text lines an nc member reads
// ("[HH:MM:SS] <nick> text", "*** notice", ...), one or more per WebSocket message; the page
// sends each typed line as one message, commands as typed. Peer text only ever goes into
// the page as text nodes (textContent), never as markup.
"use strict";

(function () {
  const MAX_LINES = 2000;      // older lines are dropped from the page
  const MAX_HISTORY = 100;     // input lines kept for the up/down arrows
  const BACKOFF_FIRST = 500;   // ms; doubles on each failed attempt...
  const BACKOFF_MAX = 10000;   // ...up to this
  const TOKEN_KEY = "sockit-chat-token";

  const $ = (id) => document.getElementById(id);
  const el = {
    messages: $("messages"), input: $("input"), form: $("form"), status: $("status"),
    nick: $("nick"), room: $("room"), members: $("members"), rooms: $("rooms"),
    memberCount: $("member-count"), sideRoom: $("side-room"), jump: $("jump"),
    sideToggle: $("side-toggle"), roomsRefresh: $("rooms-refresh"),
  };

  // ---- state
  const me = { nick: "", room: "" };
  // What to restore after a reconnect: the nick chosen with /nick and the room joined.
  const want = { nick: "", room: "" };
  let members = new Set();
  let roomList = [];           // [{name, count}] from the last /rooms answer
  let ws = null;
  let conn = null;             // per-connection state, see connect()
  let attempt = 0;             // failed attempts since the last welcome
  let retryTimer = 0;
  let countdownTimer = 0;
  let stopped = false;         // after /quit or a wrong token: no automatic reconnect
  let token = takeToken();
  const typed = [];            // the input history
  let typedPos = 0;            // typed.length means "the line being typed"
  let draft = "";

  // ---- the token of a private room: "#token=VALUE" in the address, never shown, never
  // sent in a URL. It is taken out of the address bar and kept for this tab only. Read by
  // hand, not with URLSearchParams, which would turn a token's "+" into a space.
  function takeToken() {
    let value = "";
    const hash = location.hash.replace(/^#/, "");
    if (hash) {
      for (const part of hash.split("&")) {
        if (!part.startsWith("token=")) continue;
        const raw = part.substring(6);
        try { value = decodeURIComponent(raw); } catch (e) { value = raw; }
        break;
      }
      if (value) {
        try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* storage off */ }
        try {
          window.history.replaceState(null, "", location.pathname + location.search);
        } catch (e) { /* the hash stays */ }
      }
    }
    if (!value) {
      try { value = sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { value = ""; }
    }
    return value;
  }
  function forgetToken() {
    token = "";
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
  }

  // ---- parsing: mirrors chat_lines.cpp parse()
  function splitTime(line) {
    if (line.length >= 11 && line[0] === "[" && line[3] === ":" && line[6] === ":" &&
        line[9] === "]" && line[10] === " ")
      return [line.substring(1, 9), line.substring(11)];
    return ["", line];
  }

  function parse(raw) {
    const [time, line] = splitTime(raw);
    const p = { time: time, kind: "other", nick: "", text: line };
    let end;
    if (line.startsWith("<") && (end = line.indexOf("> ")) !== -1) {
      p.kind = "message"; p.nick = line.substring(1, end); p.text = line.substring(end + 2);
    } else if (line.startsWith("*** ")) {
      p.kind = "notice"; p.text = line.substring(4);
    } else if (line.startsWith("* ")) {
      const rest = line.substring(2);
      const space = rest.indexOf(" ");
      p.kind = "action";
      p.nick = space === -1 ? rest : rest.substring(0, space);
      p.text = space === -1 ? "" : rest.substring(space + 1);
    } else if (line.startsWith("-> *") && (end = line.indexOf("* ", 4)) !== -1) {
      p.kind = "private-sent"; p.nick = line.substring(4, end); p.text = line.substring(end + 2);
    } else if (line.startsWith("*") && (end = line.indexOf("* ", 1)) !== -1) {
      p.kind = "private"; p.nick = line.substring(1, end); p.text = line.substring(end + 2);
    }
    return p;
  }

  // ---- showing lines
  function nickClass(nick) {
    let h = 0;
    for (let i = 0; i < nick.length; i++) h = (h * 31 + nick.toLowerCase().charCodeAt(i)) >>> 0;
    return "n" + (h % 8);
  }

  function clock() {
    const d = new Date();
    const two = (n) => String(n).padStart(2, "0");
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function atBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function scrollDown() {
    el.messages.scrollTop = el.messages.scrollHeight;
    el.jump.hidden = true;
  }

  // Shows one parsed line; `extra` classes: "mine" (our own, echoed), "local" (from the page).
  function show(p, extra) {
    const stick = atBottom();
    const div = document.createElement("div");
    div.className = "line" + (extra ? " " + extra : "");
    div.dataset.kind = p.kind;
    if (p.time) div.appendChild(span("ts", p.time));
    if (p.time) div.appendChild(document.createTextNode(" "));
    let who = "";
    switch (p.kind) {
      case "message": who = "<" + p.nick + ">"; break;
      case "action": who = "* " + p.nick; break;
      case "private": who = "*" + p.nick + "*"; break;
      case "private-sent": who = "-> *" + p.nick + "*"; break;
      case "notice": who = "***"; break;
    }
    if (who) {
      const w = span("who", who);
      if (p.nick) {
        w.classList.add(nickClass(p.nick));
        w.dataset.nick = p.nick;
      }
      div.appendChild(w);
      div.appendChild(document.createTextNode(" "));
    }
    div.appendChild(span("text", p.text));
    if (me.nick && p.nick !== me.nick && (p.kind === "message" || p.kind === "action") &&
        mentions(p.text, me.nick))
      div.classList.add("mention");
    el.messages.appendChild(div);
    while (el.messages.childElementCount > MAX_LINES) el.messages.firstElementChild.remove();
    if (stick) scrollDown(); else el.jump.hidden = false;
  }

  function mentions(text, nick) {
    const t = text.toLowerCase(), n = nick.toLowerCase();
    let i = t.indexOf(n);
    const word = (c) => c !== undefined && /[A-Za-z0-9_-]/.test(c);
    while (i !== -1) {
      if (!word(t[i - 1]) && !word(t[i + n.length])) return true;
      i = t.indexOf(n, i + 1);
    }
    return false;
  }

  function localNotice(text) {
    show({ time: clock(), kind: "notice", nick: "", text: text }, "local");
  }

  // ---- the side panel: members of this room, rooms
  function renderMembers() {
    el.members.replaceChildren();
    const names = Array.from(members).sort((a, b) => a.localeCompare(b));
    for (const n of names) {
      const li = document.createElement("li");
      li.textContent = n;
      li.dataset.nick = n;
      li.classList.add(nickClass(n));
      if (n === me.nick) li.classList.add("me");
      else li.title = "/msg " + n;
      el.members.appendChild(li);
    }
    el.memberCount.textContent = names.length ? "(" + names.length + ")" : "";
    // The room list comes from /rooms, asked at each welcome: this room's count and which
    // room is "here" follow the arrivals, departures and moves seen since.
    const here = roomList.find((r) => r.name.toLowerCase() === me.room.toLowerCase());
    if (here && names.length) here.count = names.length;
    renderRooms();
  }

  // With `list` (a /rooms answer), the new list; without, the last one again.
  function renderRooms(list) {
    if (list) roomList = list;
    el.rooms.replaceChildren();
    for (const r of roomList) {
      const li = document.createElement("li");
      li.dataset.room = r.name;
      li.appendChild(document.createTextNode(r.name));
      li.appendChild(span("count", String(r.count)));
      if (r.name.toLowerCase() === me.room.toLowerCase()) li.classList.add("here");
      else li.title = "/join " + r.name;
      el.rooms.appendChild(li);
    }
  }

  function setWhere() {
    el.nick.textContent = me.nick;
    el.room.textContent = me.room || "\u2026";
    el.sideRoom.textContent = me.room || "this room";
    document.title = me.room ? me.room + " \u2014 sockit chat" : "sockit chat";
  }

  // ---- what the server's notices say about us and the room
  // Returns false when the line is an answer the page asked for itself (not shown).
  function notice(text) {
    let m;
    if ((m = /^welcome to (\S+), (\S+): \d+ here\./.exec(text))) {
      welcomed(m[1], m[2]);
      return true;
    }
    if ((m = /^(\d+) in (\S+): (.*)$/.exec(text))) {
      if (m[2].toLowerCase() === me.room.toLowerCase()) {
        members = new Set(m[3] ? m[3].split(", ") : []);
        renderMembers();
      }
      if (conn && conn.autoList > 0) { conn.autoList--; return false; }
      return true;
    }
    if ((m = /^rooms:((?: \S+ \(\d+\))*)$/.exec(text))) {
      const list = [];
      const re = / (\S+) \((\d+)\)/g;
      let r;
      while ((r = re.exec(m[1]))) list.push({ name: r[1], count: Number(r[2]) });
      renderRooms(list);
      if (conn && conn.autoRooms > 0) { conn.autoRooms--; return false; }
      return true;
    }
    if ((m = /^(\S+) is now known as (\S+)$/.exec(text))) {
      if (members.delete(m[1])) members.add(m[2]);
      if (m[1] === me.nick) {
        me.nick = m[2];
        want.nick = m[2];
        setWhere();
      }
      renderMembers();
      return true;
    }
    if ((m = /^(\S+) joined (\S+)$/.exec(text))) {
      if (m[2].toLowerCase() === me.room.toLowerCase()) { members.add(m[1]); renderMembers(); }
      return true;
    }
    if ((m = /^(\S+) (?:left \(|left for |was dropped \()/.exec(text))) {
      if (members.delete(m[1])) renderMembers();
      return true;
    }
    if (text === "this room is private: send its token as your first line") {
      if (conn && conn.sentToken) return false;  // answered already
      conn.askedToken = true;
      el.input.type = "password";
      el.input.placeholder = "this room's token";
      return true;
    }
    if (text === "wrong token, bye") {
      forgetToken();
      stopped = true;
      return true;
    }
    if (text === "bye") {
      stopped = true;
      return true;
    }
    return true;
  }

  function welcomed(room, nick) {
    const firstOfConnection = !conn.welcomed;
    conn.welcomed = true;
    conn.askedToken = false;
    el.input.type = "text";
    el.input.placeholder = "say something, or /help";
    attempt = 0;
    const roomChanged = room.toLowerCase() !== me.room.toLowerCase();
    me.room = room;
    me.nick = nick;
    if (roomChanged || firstOfConnection) members = new Set();
    members.add(nick);
    setWhere();
    renderMembers();
    // Back after a reconnect: the nick and room we had, if the new session differs.
    let moving = false;
    if (firstOfConnection) {
      if (want.nick && want.nick !== nick) auto("/nick " + want.nick);
      if (want.room && want.room.toLowerCase() !== room.toLowerCase()) {
        auto("/join " + want.room);
        moving = true;
      }
    }
    if (!moving) want.room = room;
    conn.autoList++;
    auto("/list");
    conn.autoRooms++;
    auto("/rooms");
  }

  function receiveLine(raw) {
    if (raw.endsWith("\r")) raw = raw.slice(0, -1);
    if (raw === "") return;
    const p = parse(raw);
    if (p.kind === "notice" && !notice(p.text)) return;
    show(p, p.kind === "private-sent" ? "mine" : "");
  }

  // ---- the connection
  function setStatus(state, text) {
    el.status.dataset.state = state;
    el.status.textContent = text;
    el.status.title = state === "connected" ? "connected to " + location.host
      : "click to connect now";
  }

  function wsUrl() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    retryTimer = countdownTimer = 0;
    if (ws) return;
    setStatus("connecting", "connecting\u2026");
    let sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (e) {
      ws = null;
      scheduleRetry();
      return;
    }
    ws = sock;
    conn = { welcomed: false, sentToken: false, askedToken: false, autoList: 0, autoRooms: 0,
             partial: "", opened: false };
    const mine = conn;
    sock.binaryType = "arraybuffer";
    sock.addEventListener("open", () => {
      if (ws !== sock) return;
      mine.opened = true;
      if (token) {  // a private room's token goes first, before anything else
        sock.send(token);
        mine.sentToken = true;
      }
      setStatus("connected", "connected");
    });
    sock.addEventListener("message", (ev) => {
      if (ws !== sock) return;
      const data = typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data);
      const parts = (mine.partial + data).split("\n");
      mine.partial = parts.pop();  // the server sends whole lines: normally ""
      for (const line of parts) receiveLine(line);
    });
    sock.addEventListener("close", () => {
      if (ws !== sock) return;
      if (mine.partial) receiveLine(mine.partial);
      mine.partial = "";
      ws = null;
      el.input.type = "text";
      if (mine.opened) localNotice(stopped ? "disconnected" : "connection lost");
      if (stopped) {
        setStatus("closed", "disconnected");
        return;
      }
      scheduleRetry();
    });
  }

  function scheduleRetry() {
    const base = Math.min(BACKOFF_MAX, BACKOFF_FIRST * Math.pow(2, attempt));
    attempt++;
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));  // +-25% jitter
    const due = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setStatus("reconnecting", "reconnecting in " + left + "s");
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (ws) return;
    stopped = false;
    attempt = 0;
    connect();
  }

  // Sends a line the page asks for itself.
  function auto(line) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(line);
  }

  // ---- typing
  function submit(line) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (!ws) reconnectNow();
      return false;  // kept in the input
    }
    if (conn.askedToken && !conn.welcomed) {
      // The answer to the token question: sent, never echoed, never in the history.
      token = line;
      conn.sentToken = true;
      ws.send(line);
      return true;
    }
    ws.send(line);
    remember(line);
    echo(line);
    return true;
  }

  // The server does not send our own lines back: show them as the others see them.
  function echo(line) {
    const nick = me.nick || "me";
    if (line.startsWith("//")) {
      show({ time: clock(), kind: "message", nick: nick, text: line.substring(1) }, "mine");
    } else if (!line.startsWith("/")) {
      show({ time: clock(), kind: "message", nick: nick, text: line }, "mine");
    } else {
      const space = line.indexOf(" ");
      const word = (space === -1 ? line : line.substring(0, space)).toLowerCase();
      const arg = space === -1 ? "" : line.substring(space + 1).replace(/^ +| +$/g, "");
      if (word === "/me" && arg) show({ time: clock(), kind: "action", nick: nick, text: arg }, "mine");
      if ((word === "/list" || word === "/who" || word === "/names") && conn) conn.autoList = 0;
      if (word === "/rooms" && conn) conn.autoRooms = 0;
    }
  }

  function remember(line) {
    if (typed[typed.length - 1] !== line) typed.push(line);
    if (typed.length > MAX_HISTORY) typed.shift();
    typedPos = typed.length;
    draft = "";
  }

  el.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const line = el.input.value;
    if (line === "") return;
    if (submit(line)) el.input.value = "";
    scrollDown();
  });

  el.input.addEventListener("keydown", (ev) => {
    if (ev.isComposing || el.input.type === "password") return;
    if (ev.key === "ArrowUp" && typedPos > 0) {
      if (typedPos === typed.length) draft = el.input.value;
      typedPos--;
      el.input.value = typed[typedPos];
    } else if (ev.key === "ArrowDown" && typedPos < typed.length) {
      typedPos++;
      el.input.value = typedPos === typed.length ? draft : typed[typedPos];
    } else {
      return;
    }
    ev.preventDefault();
    const end = el.input.value.length;
    el.input.setSelectionRange(end, end);
  });

  el.messages.addEventListener("scroll", () => { if (atBottom()) el.jump.hidden = true; });
  el.jump.addEventListener("click", () => { scrollDown(); el.input.focus(); });
  el.status.addEventListener("click", reconnectNow);
  el.sideToggle.addEventListener("click", () => {
    const open = document.body.classList.toggle("side-open");
    el.sideToggle.setAttribute("aria-expanded", String(open));
  });
  el.members.addEventListener("click", (ev) => {
    const li = ev.target.closest("li");
    if (!li || li.dataset.nick === me.nick) return;
    el.input.value = "/msg " + li.dataset.nick + " ";
    document.body.classList.remove("side-open");
    el.input.focus();
  });
  el.rooms.addEventListener("click", (ev) => {
    const li = ev.target.closest("li");
    if (!li || !ws || li.dataset.room.toLowerCase() === me.room.toLowerCase()) return;
    ws.send("/join " + li.dataset.room);
    document.body.classList.remove("side-open");
  });
  el.roomsRefresh.addEventListener("click", () => {
    if (conn) conn.autoRooms++;
    auto("/rooms");
  });
  window.addEventListener("online", () => { if (!ws && !stopped) reconnectNow(); });

  setWhere();
  connect();
  el.input.focus();
})();
