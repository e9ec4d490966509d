// The alarm banner on every page: the most urgent unacknowledged alarm, kept current by the alarm events, and an
// optional sound (off unless the operator turns it on) for new priority 1 and 2 alarms, made with the Web Audio API.
"use strict";

(() => {
  const banner = document.getElementById("alarm-banner");
  if (!banner) return;
  const SOUND_KEY = "evscada.alarmSound"; // "on" | anything else: off
  const MUTED_KEY = "evscada.alarmMuted"; // the id of the alarm the operator silenced
  const HEARD_KEY = "evscada.alarmHeard"; // the newest alarm id that sounded: a page change must not sound it again
  const REPEAT_MS = 10000; // a priority 1 alarm sounds again until it is muted or acknowledged
  const POLL_MS = 30000; // besides the events: shelves run out, a dropped event stream reconnects late

  const toggle = document.getElementById("alarm-sound");
  const mute = banner.querySelector(".ab-mute");
  let shown = null; // the alarm in the banner, as /data/alarms/banner gave it
  let skew = 0; // server clock minus browser clock, for the age
  let audio = null;
  let lastBeep = 0;

  const stored = (key) => { try { return localStorage.getItem(key); } catch (e) { return null; } };
  const store = (key, value) => { try { localStorage.setItem(key, value); } catch (e) { /* private mode: not kept */ } };
  const soundOn = () => stored(SOUND_KEY) === "on";

  function age(raisedAt) {
    const seconds = Math.max(0, Math.floor((Date.now() + skew - Date.parse(raisedAt)) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  // A cleared alarm stays until acknowledged (ISA-18.2): the banner says it has returned to normal.
  const when = (alarm) => (alarm.state === "cleared" ? "cleared · " : "") + age(alarm.raised_at);

  // Browsers let a page make sound only after the operator touched it: the context is made on a click or key.
  function audioContext() {
    if (!audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return null;
      audio = new Context();
    }
    if (audio.state === "suspended") audio.resume().catch(() => {});
    return audio;
  }

  function beep(priority) {
    const context = audio; // never made here: only a user gesture makes it
    if (!context || context.state !== "running") return;
    const tones = priority === 1 ? [880, 660, 880] : [660];
    let at = context.currentTime + 0.02;
    for (const hz of tones) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.15, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.25);
      at += 0.3;
    }
    lastBeep = Date.now();
  }

  function sounding() {
    return shown !== null && shown.priority <= 2 && soundOn() && String(shown.id) !== stored(MUTED_KEY);
  }

  function annunciate() {
    mute.hidden = !sounding();
    if (!sounding()) return;
    const heard = Number(stored(HEARD_KEY) || 0);
    if (shown.id > heard) {
      store(HEARD_KEY, String(shown.id));
      beep(shown.priority);
    } else if (shown.priority === 1 && Date.now() - lastBeep >= REPEAT_MS) {
      beep(1);
    }
  }

  function showToggle() {
    const on = soundOn();
    toggle.textContent = on ? "Sound on" : "Sound off";
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.classList.toggle("on", on);
    toggle.hidden = false;
  }

  function draw(data) {
    shown = data.alarm;
    if (!shown) {
      banner.hidden = true;
      banner.classList.remove("flashing");
      mute.hidden = true;
      return;
    }
    skew = Date.parse(data.now) - Date.now();
    banner.dataset.alarm = shown.id;
    banner.dataset.priority = shown.priority;
    for (const p of [1, 2, 3, 4]) banner.classList.toggle("priority-" + p, shown.priority === p);
    banner.classList.toggle("flashing", shown.priority === 1);
    const prio = banner.querySelector(".ab-prio");
    prio.className = "ab-prio pill prio-" + shown.priority;
    prio.textContent = shown.priority + " " + shown.priority_name;
    banner.querySelector(".ab-station").textContent = shown.station_id || "";
    banner.querySelector(".ab-message").textContent = shown.message;
    banner.querySelector(".ab-age").textContent = when(shown);
    const more = banner.querySelector(".ab-more");
    more.textContent = data.count > 1 ? "+" + (data.count - 1) + " more" : "all alarms";
    const ack = banner.querySelector(".ab-ack"); // operators only
    if (ack) ack.href = shown.url;
    banner.hidden = false;
    annunciate();
  }

  async function refresh() {
    try {
      const response = await fetch("/data/alarms/banner", { credentials: "same-origin" });
      if (!response.ok || !(response.headers.get("content-type") || "").includes("json")) return;
      draw(await response.json());
    } catch (e) {
      /* offline for a moment: the next event or poll tries again */
    }
  }

  toggle.addEventListener("click", () => {
    const on = !soundOn();
    store(SOUND_KEY, on ? "on" : "off");
    showToggle();
    if (on) {
      audioContext();
      if (shown) store(HEARD_KEY, String(Math.max(shown.id, Number(stored(HEARD_KEY) || 0))));
    }
    mute.hidden = !sounding();
  });
  mute.addEventListener("click", () => {
    if (shown) store(MUTED_KEY, String(shown.id));
    mute.hidden = true;
  });
  // After a reload the sound can start only with the operator's next click or key.
  const wake = () => { if (soundOn()) audioContext(); };
  document.addEventListener("pointerdown", wake, { once: true });
  document.addEventListener("keydown", wake, { once: true });
  window.addEventListener("storage", (e) => { if (e.key === SOUND_KEY) { showToggle(); mute.hidden = !sounding(); } });

  showToggle();
  const again = evscada.throttled(refresh, 500);
  refresh();
  evscada.live(["alarm_changed"], () => again("banner"));
  setInterval(refresh, POLL_MS);
  setInterval(() => {
    if (shown) banner.querySelector(".ab-age").textContent = when(shown);
    annunciate();
  }, 1000);
})();
