/// The operator's screen: one HTML document with its style and script inline (a line may
/// have no internet), laid out for a 1366x768 panel read from two metres. It loads
/// /api/v1/operator/status, then follows /api/v1/events: a `part` or `verdict` event asks
/// for the status at once (at most five times a second), a `status` event (once a second)
/// carries it. The last part's views are drawn on canvases with stage 1's defect map shaded
/// and its strongest region boxed. Lost contact with the daemon turns the light red.
enum OperatorPage {
    static func html(title: String) -> String {
        template.replacingOccurrences(of: "{{TITLE}}", with: escape(title))
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let template = #"""
    <!DOCTYPE html>
    <html lang="en"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{TITLE}}</title>
    <style>
    * { box-sizing: border-box; margin: 0; padding: 0; }
    html, body { height: 100%; background: #111; color: #eee; font-family: "DejaVu Sans", Arial, sans-serif; overflow: hidden; }
    body { display: grid; grid-template-rows: 56px 1fr 150px; grid-template-columns: 1fr 430px; gap: 8px; padding: 8px; }
    header { grid-column: 1 / 3; display: flex; align-items: center; gap: 24px; font-size: 28px; }
    header h1 { font-size: 30px; font-weight: bold; flex: 1; }
    #light { display: flex; gap: 10px; background: #000; padding: 6px 12px; border-radius: 10px; }
    #light span { width: 36px; height: 36px; border-radius: 50%; background: #333; display: block; }
    #light.red .r { background: #f22; box-shadow: 0 0 16px #f22; }
    #light.yellow .y { background: #fc0; box-shadow: 0 0 16px #fc0; }
    #light.green .g { background: #2d2; box-shadow: 0 0 16px #2d2; }
    #views { display: grid; gap: 8px; grid-auto-flow: column; grid-auto-columns: 1fr; min-height: 0; background: #000; border-radius: 8px; padding: 6px; }
    .view { position: relative; min-height: 0; display: flex; flex-direction: column; }
    .view canvas { flex: 1; width: 100%; min-height: 0; object-fit: contain; }
    .view .cap { font-size: 20px; padding: 2px 4px; color: #ccc; }
    #side { display: flex; flex-direction: column; gap: 8px; min-height: 0; }
    #verdict { font-size: 120px; font-weight: bold; text-align: center; border-radius: 8px; padding: 8px 0; background: #333; line-height: 1.1; letter-spacing: 4px; }
    #verdict.pass { background: #0a0; color: #fff; }
    #verdict.fail { background: #d00; color: #fff; }
    #verdict.no_verdict { background: #d80; color: #000; font-size: 64px; padding: 34px 0; }
    #about { font-size: 24px; min-height: 64px; color: #ddd; overflow: hidden; }
    #counts { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; background: #1c1c1c; border-radius: 8px; padding: 10px; }
    #counts div { font-size: 22px; color: #aaa; }
    #counts b { display: block; font-size: 50px; color: #fff; font-variant-numeric: tabular-nums; }
    #rejects { display: flex; gap: 8px; overflow: hidden; background: #1c1c1c; border-radius: 8px; padding: 6px; }
    #rejects figure { flex: 0 1 170px; min-width: 0; display: flex; flex-direction: column; }
    #rejects img { width: 100%; height: 105px; object-fit: cover; border: 3px solid #d00; background: #000; }
    #rejects figcaption { font-size: 16px; color: #ddd; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    #alarms { background: #1c1c1c; border-radius: 8px; padding: 8px; font-size: 18px; overflow: hidden; }
    #alarms .alarm { color: #f66; font-weight: bold; font-size: 22px; }
    #alarms .info { color: #aaa; }
    #nothing { color: #777; font-size: 24px; margin: auto; }
    </style></head>
    <body>
    <header><h1>{{TITLE}}</h1><div id="shift"></div><div id="clock"></div><div id="light" class="green"><span class="r"></span><span class="y"></span><span class="g"></span></div></header>
    <main id="views"><div id="nothing">waiting for the first part</div></main>
    <section id="side">
      <div id="verdict">&nbsp;</div>
      <div id="about"></div>
      <div id="counts">
        <div>Total<b id="count-total">0</b></div><div>Yield<b id="yield">-</b></div>
        <div>Passed<b id="count-pass">0</b></div><div>Rejected<b id="count-fail">0</b></div>
      </div>
    </section>
    <section id="rejects"></section>
    <section id="alarms"></section>
    <script>
    "use strict";
    const $ = id => document.getElementById(id);
    const words = { pass: "PASS", fail: "FAIL", no_verdict: "NO VERDICT" };
    let lastSeen = 0, pending = false, lastFetch = 0, shown = "", shownRejects = null, events = null;

    function text(tag, cls, t) { const e = document.createElement(tag); if (cls) e.className = cls; e.textContent = t; return e; }
    function hhmm(t) { const d = new Date(t * 1000); return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); }

    function drawView(canvas, v) {
      const img = new Image();
      img.onload = () => {
        canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
        const g = canvas.getContext("2d");
        g.drawImage(img, 0, 0);
        if (!v.map) return;
        const m = v.map, r = v.roi, cw = r.width / m.width, ch = r.height / m.height;
        let top = 0;
        for (let i = 1; i < m.values.length; i++) if (m.values[i] > m.values[top]) top = i;
        for (let y = 0; y < m.height; y++) for (let x = 0; x < m.width; x++) {
          const s = m.values[y * m.width + x];
          if (s > 0.2) { g.fillStyle = "rgba(255,30,30," + (0.55 * s).toFixed(2) + ")"; g.fillRect(r.x + x * cw, r.y + y * ch, cw, ch); }
        }
        // the box: the strongest cell and the strong cells connected to it
        let box = null;
        if (m.values[top] > 0) {
          const seen = new Set([top]), todo = [top];
          box = { x0: top % m.width, y0: Math.floor(top / m.width), x1: top % m.width, y1: Math.floor(top / m.width) };
          while (todo.length) {
            const i = todo.pop(), x = i % m.width, y = Math.floor(i / m.width);
            box = { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x), y1: Math.max(box.y1, y) };
            for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
              const nx = x + dx, ny = y + dy, j = ny * m.width + nx;
              if (nx >= 0 && ny >= 0 && nx < m.width && ny < m.height && !seen.has(j) && m.values[j] >= 0.5) { seen.add(j); todo.push(j); }
            }
          }
        }
        if (box) {
          g.lineWidth = Math.max(3, canvas.width / 150); g.strokeStyle = "#ff0";
          g.strokeRect(r.x + box.x0 * cw, r.y + box.y0 * ch, (box.x1 - box.x0 + 1) * cw, (box.y1 - box.y0 + 1) * ch);
        }
      };
      img.src = "/api/v1/operator/shots/" + v.shot + ".jpg";
    }

    function render(s) {
      const light = $("light"); light.className = s.light;
      $("shift").textContent = (s.products > 1 && s.product ? "product " + s.product + "  " : "") + (s.shift && s.shift.name ? "shift " + s.shift.name : "");
      const c = s.counts;
      $("count-total").textContent = c.total; $("count-pass").textContent = c.passes; $("count-fail").textContent = c.fails;
      $("yield").textContent = c.yield === null ? "-" : (c.yield * 100).toFixed(1) + " %";
      const last = s.last || {};
      if (last.decision) {
        const v = $("verdict"); v.className = last.decision; v.textContent = words[last.decision] || last.decision;
      }
      const about = [];
      if (last.part) about.push("part " + last.part + (last.station ? " at " + last.station : ""));
      if (last.serial) about.push("serial " + last.serial);
      if (last.defects && last.defects.length) about.push(last.defects.join(", "));
      $("about").textContent = about.join("  \u00b7  ");
      const views = last.views || [], key = views.map(v => v.shot).join(",");
      if (key && key !== shown) {
        shown = key;
        const box = $("views"); box.replaceChildren();
        for (const v of views) {
          const d = document.createElement("div"); d.className = "view";
          const cv = document.createElement("canvas"); d.appendChild(cv);
          d.appendChild(text("div", "cap", v.camera + (v.defects.length ? ": " + v.defects.join(", ") : "")));
          box.appendChild(d); drawView(cv, v);
        }
      }
      const rejects = s.rejects || [], rkey = rejects.map(r => r.shot).join(",");
      if (rkey !== shownRejects) {
        shownRejects = rkey;
        const rj = $("rejects"); rj.replaceChildren();
        for (const r of rejects) {
          const f = document.createElement("figure"), i = document.createElement("img");
          i.src = "/api/v1/operator/shots/" + r.shot + ".jpg"; i.alt = "reject";
          f.appendChild(i); f.appendChild(text("figcaption", "", hhmm(r.captured_at) + " " + r.camera + (r.defects.length ? " " + r.defects.join(",") : "")));
          rj.appendChild(f);
        }
        if (!rj.children.length) rj.appendChild(text("div", "info", "no rejects this shift"));
      }
      const al = $("alarms"); al.replaceChildren();
      for (const a of s.alarms || []) al.appendChild(text("div", "alarm", a));
      for (const e of s.events || []) al.appendChild(text("div", "info", hhmm(e.time) + "  " + e.text));
      if (!al.children.length) al.appendChild(text("div", "info", "no alarms"));
      $("clock").textContent = hhmm(s.time);
      lastSeen = Date.now();
    }

    async function refresh() {
      if (pending) return;
      const wait = Math.max(0, 200 - (Date.now() - lastFetch));
      pending = true;
      setTimeout(async () => {
        lastFetch = Date.now();
        try { const r = await fetch("/api/v1/operator/status", { cache: "no-store" }); if (r.ok) render(await r.json()); } catch (e) {}
        pending = false;
      }, wait);
    }

    function lost() {
      if (Date.now() - lastSeen < 4000) return;
      $("light").className = "red";
      const al = $("alarms"); al.replaceChildren(text("div", "alarm", "no contact with the inspection daemon"));
      refresh();
    }

    // The event stream; a daemon that restarts refuses it for a moment (503), after which a
    // browser gives up on it for good: open it again.
    function follow() {
      events = new EventSource("/api/v1/events");
      events.addEventListener("status", e => render(JSON.parse(e.data)));
      events.addEventListener("part", refresh);
      events.addEventListener("verdict", refresh);
      events.onerror = () => { if (events.readyState === EventSource.CLOSED) setTimeout(follow, 2000); };
    }

    refresh();
    follow();
    setInterval(lost, 1000);
    </script>
    </body></html>
    """#
}
